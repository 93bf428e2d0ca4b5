"""Repositories: every SQL statement the service needs, one module per aggregate. They flush;
the caller's unit of work commits."""
