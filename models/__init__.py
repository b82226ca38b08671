"""agcredit: models."""
