"""The `leaksentinel` command line."""
