"""Command-line commands that talk to Xero (check, retry); registered on the main group."""
