"""Test support: fault wrapper around the real backend, helpers and fixtures."""

from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"
