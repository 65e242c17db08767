"""ikm-tui: a terminal keystore manager for PKCS#11 tokens."""

__version__ = "0.1.0"
