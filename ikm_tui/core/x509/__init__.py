"""Certificates, requests, names and lint: X.509 in and out, never touching a token."""
