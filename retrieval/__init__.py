"""retrieval stage (see README)."""
