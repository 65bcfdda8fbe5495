"""Built-in block families. Each subpackage is a plugin found through the
``orchestrator_blocks.plugins`` entry-point group, exactly like a third-party plugin;
families import ``orchestrator_blocks.sdk`` only, never the kernel or each other."""
