"""finetune stage (see README)."""
