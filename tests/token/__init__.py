"""Tests against real PKCS#11 tokens (SoftHSM2 per test)."""
