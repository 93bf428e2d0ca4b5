"""The security desk: the leak decision, leak reports and their triage, sources, exports."""
