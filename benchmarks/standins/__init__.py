"""Stand-in servers of the chat platforms on 127.0.0.1, for tests and benchmarks."""
