"""agcredit: features."""
