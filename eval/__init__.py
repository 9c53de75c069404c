"""eval stage (see README)."""
