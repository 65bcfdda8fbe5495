"""The template family (being built)."""
