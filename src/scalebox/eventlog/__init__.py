"""The event log: a Kafka-protocol broker with durable partitioned logs and consumer groups."""
