"""The URL shortener (port 8002): Shlink-compatible REST API, redirects off a hot path, visit analytics."""
