"""The email family (being built)."""
