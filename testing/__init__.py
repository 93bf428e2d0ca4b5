"""Helpers the test suite and the benchmarks share: the real server in a child process, and
the pictures they make to work on."""
