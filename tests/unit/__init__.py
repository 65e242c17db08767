"""Tests without a token: parsing, text, lint, layout."""
