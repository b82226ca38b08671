"""agcredit: underwriting."""
