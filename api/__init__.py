"""LeakSentinel's HTTP surface: routes, schemas, auth dependencies and error mapping."""
