"""agcredit: democounty."""
