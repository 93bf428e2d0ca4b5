"""The dashboard under /ui: server-rendered pages for the security team and marketing."""
