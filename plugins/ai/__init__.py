"""The ai family (being built)."""
