"""speech stage (see README)."""
