"""Example workflows, shipped with the package so ``orchestrator-blocks demo`` can run them."""
