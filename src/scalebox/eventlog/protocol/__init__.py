"""Sans-IO Kafka wire code: framing, request/response codec, record batches, error codes."""
