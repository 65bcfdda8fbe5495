"""``python -m orchestrator_blocks`` is the ``orchestrator-blocks`` command."""

from orchestrator_blocks.kernel.cli import main

main()
