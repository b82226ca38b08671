"""agcredit: pipelines."""
