"""Textual tests: Pilot flows and snapshots."""
