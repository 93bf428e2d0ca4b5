"""Alerts: webhook endpoints, the outbox and its delivery worker, sealed signing secrets."""
