"""The event log's web console (port 8009)."""
