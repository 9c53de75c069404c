"""ui stage (see README)."""
