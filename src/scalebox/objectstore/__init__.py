"""The object store: an S3-compatible API (port 9000) over erasure-coded drives, and its console (9001)."""
