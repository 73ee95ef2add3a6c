"""Implementation modules."""
