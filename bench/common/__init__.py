"""What the benchmark harnesses in bench/ share: server processes, wrk, the common options, the
report's machine and versions, and py-spy profiling. Each harness keeps its own servers, cases and
tables in its folder."""
