#!/usr/bin/env bash
# Install what ikm-tui needs on a fresh Debian/Ubuntu machine: system packages, then .venv.
# Idempotent: each step checks before it installs, so `make demo` and `make test` stay fast
# on a machine that already has everything.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# Which commands/files prove a package is present (package -> probe).
need=()
probe() { # $1 package, $2 test expression
    if ! eval "$2" >/dev/null 2>&1; then need+=("$1"); fi
}
probe softhsm2                "command -v softhsm2-util && ls /usr/lib/softhsm/libsofthsm2.so"
probe opensc                  "command -v pkcs11-tool"
probe gnutls-bin              "command -v p11tool"
probe libengine-pkcs11-openssl "ls /usr/lib/*/engines-3/pkcs11.so || ls /usr/lib/*/engines-1.1/pkcs11.so"
probe libnss3-tools           "command -v certutil && command -v modutil"
probe openssl                 "command -v openssl"
probe default-jre-headless    "command -v keytool"
probe make                    "command -v make"
# p11-kit's trust module (the system CAs as a token): desktops have it, and the TUI must not
# open it instead of the keystore (tests/token/test_modules.py).
probe p11-kit-modules         "ls /usr/lib/*/pkcs11/p11-kit-trust.so"
# The module conformance suite (tests/token/test_conformance.py) runs on two more real modules:
# tpm2-pkcs11 on a software TPM (swtpm behind tpm2-abrmd on a private D-Bus session bus) and
# p11-kit-client.so talking to `p11-kit server`. The fixtures start them on private ports/sockets.
probe swtpm                   "command -v swtpm"
probe swtpm-tools             "command -v swtpm_setup"
probe tpm2-abrmd              "command -v tpm2-abrmd"
# The TCTI clients use to reach tpm2-abrmd (tpm2-abrmd itself does not pull it in).
probe libtss2-tcti-tabrmd0    "ls /usr/lib/*/libtss2-tcti-tabrmd.so.0"
probe tpm2-tools              "command -v tpm2_startup"
probe libtpm2-pkcs11-1        "ls /usr/lib/*/pkcs11/libtpm2_pkcs11.so* || ls /usr/lib/*/libtpm2_pkcs11.so*"
probe libtpm2-pkcs11-tools    "command -v tpm2_ptool"
probe dbus-daemon             "command -v dbus-daemon"
probe p11-kit                 "command -v p11-kit && ls /usr/lib/*/pkcs11/p11-kit-client.so"
PY="${PYTHON:-python3}"
probe python3-venv            "$PY -c 'import venv, ensurepip'"

if [ "${#need[@]}" -gt 0 ]; then
    echo "bootstrap: installing system packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

# The virtualenv: rebuilt when pyproject.toml changes (stamp inside .venv).
if [ ! -x .venv/bin/python ]; then
    echo "bootstrap: creating .venv"
    "$PY" -m venv .venv
fi
stamp=.venv/.ikm-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ]; then
    echo "bootstrap: installing ikm-tui and its test extras into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    # constraints.txt: the exact Textual / python-pkcs11 the snapshots were made with.
    .venv/bin/python -m pip install -q -c constraints.txt -e '.[test]'
    touch "$stamp"
fi
# Bytecode, written explicitly: with PYTHONDONTWRITEBYTECODE=1 in the environment (this machine
# sets it) pip installs without .pyc files and Python never writes them, so every `ikm-tui` run
# compiled Textual, cryptography, asn1crypto and ikm_tui from source again: ~140 ms of a 1,000-
# certificate `list --json` (0.62 -> 0.48 s), more for the TUI. A normal pip install compiles too.
# compileall skips files whose .pyc is current, so this costs ~0.3 s after the first time.
.venv/bin/python -m compileall -q -j 0 .venv/lib/python3*/site-packages ikm_tui >/dev/null 2>&1 || true
