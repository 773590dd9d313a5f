"""Use cases of the broker: topics, produce and fetch, consumer groups, producer ids, SASL users."""
