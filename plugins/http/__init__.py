"""The http family (being built)."""
