"""The PKCS#11 boundary: each module's owner thread and all that calls a module (sole importer of pkcs11/ctypes)."""

from ikm_tui.core.p11 import lazyutil

lazyutil.install()
