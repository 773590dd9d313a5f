"""Partition logs on local disk: segments, indexes, recovery, retention and compaction."""
