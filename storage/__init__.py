"""LeakSentinel's persistence: tables, engine and sessions, repositories, blobs, migrations."""
