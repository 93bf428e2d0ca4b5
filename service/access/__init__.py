"""Who may do what: API keys and actors, dashboard sessions, rate limits, the audit trail."""
