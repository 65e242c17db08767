"""The PKCS#11 boundary: the owner thread per module and everything that calls a module (the only importer of pkcs11 and ctypes)."""
