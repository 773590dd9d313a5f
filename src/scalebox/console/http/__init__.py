"""The console's pages and JSON."""
