"""The file family (being built)."""
