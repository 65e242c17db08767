"""Interop tests: what other PKCS#11 clients (keytool, certutil, openssl, pkcs11-tool) see."""
