"""What each PKCS#11 module does differently, in one table, and the few questions the code asks of it.

Every line was seen on a real run (tests/token/test_conformance.py runs the same operations on
SoftHSM2, tpm2-pkcs11 1.9 on swtpm, and p11-kit-client.so in front of `p11-kit server`). The code
handles each quirk generically where it can (bulk reads trust nothing, key generation adapts);
this table says why, and answers the questions that depend on the module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class ModuleQuirks:
    """Known behaviour of one module. `match`: substrings of the module's file name."""

    name: str
    match: tuple[str, ...]
    # Every token reports the same serial (tpm2-pkcs11: 0000000000000000): not a token identity.
    shared_serial: bool = False
    # C_GenerateKeyPair refuses usage booleans the device would set otherwise (CKR_GENERAL_ERROR).
    rejects_usage_template: bool = False
    # C_GetAttributeValue writes NULL into pValue for attributes the object lacks.
    nulls_pvalue: bool = False
    # No CKF_USER_PIN_COUNT_LOW / FINAL_TRY / LOCKED flags, though the device can lock.
    no_pin_counters: bool = False
    # How a device that locked the PIN after wrong tries recovers (shown with PIN prompts).
    lockout_recovery: str = ""
    # Refuses CKO_DATA objects: pending requests are kept in files.
    no_data_objects: bool = False
    # Objects other processes create appear only after C_Finalize + C_Initialize (ctrl+r).
    foreign_objects_need_reinit: bool = False
    # Each C_GetFunctionList caller gets a new, uninitialised instance: call through python-pkcs11's.
    function_list_per_caller: bool = False
    # Every PKCS#11 call is one network/socket round trip.
    remote: bool = False
    # Cannot log in from inside OpenSSL with libp11's pkcs11 engine loaded (why, and what to use instead).
    engine_login_fails: str = ""
    # What to do when the module fails to load (its C_Initialize failed).
    load_hint: str = ""
    notes: str = ""


QUIRKS: tuple[ModuleQuirks, ...] = (
    ModuleQuirks(
        "SoftHSM2", ("softhsm",),
        notes="Never locks a PIN (only COUNT_LOW); no CKM_ECDSA_SHA*; EC private keys have no "
              "CKA_EC_POINT; an unknown curve is CKR_GENERAL_ERROR.",
    ),
    ModuleQuirks(
        "tpm2-pkcs11", ("tpm2_pkcs11", "tpm2-pkcs11"),
        shared_serial=True, rejects_usage_template=True, nulls_pvalue=True, no_pin_counters=True,
        lockout_recovery=(
            "The TPM's dictionary-attack protection locks out after a few wrong PINs (the module "
            "reports no counter). It recovers by itself after the TPM's lockout interval, or at "
            "once with the lockout authorisation: `tpm2_dictionarylockout --clear-lockout` "
            "(tpm2-tools)."),
        no_data_objects=True, foreign_objects_need_reinit=True,
        engine_login_fails=(
            "tpm2-pkcs11 cannot log in inside `openssl -engine pkcs11` (libp11): its TPM session salt "
            "is encrypted with OpenSSL's RSA, which fails while that engine is loaded (\"Could not create "
            "rsa key\", then \"Login failed\"; tpm2-software/tpm2-tss issue 3151). Use the provider "
            "config (pkcs11-provider) or the tpm2-openssl provider for this key."),
        load_hint=("tpm2-pkcs11 needs a TPM it can reach and a store: start tpm2-abrmd (or check "
                   "/dev/tpmrm0), set TPM2_PKCS11_TCTI (e.g. tabrmd:bus_type=system) and "
                   "TPM2_PKCS11_STORE, and create the store with `tpm2_ptool init`. If you do not "
                   "use a TPM, remove the libtpm2-pkcs11-1 package (it registers with p11-kit)."),
        notes="Needs a resource manager (tpm2-abrmd); RSA 1024-3072 only; no Ed25519. Stderr "
              "gets `ERROR:tcti:` lines when no TPM is reachable.",
    ),
    ModuleQuirks(
        "p11-kit client", ("p11-kit-client",),
        function_list_per_caller=True, remote=True,
        load_hint=("p11-kit-client.so reaches `p11-kit server` at P11_KIT_SERVER_ADDRESS "
                   "(unix:path=SOCKET): start the server (or the ssh forward) and set that variable."),
        notes="Forwards every call over a unix socket (or ssh) to `p11-kit server`; the "
              "module behind it decides everything else.",
    ),
    ModuleQuirks(
        "OpenSC", ("opensc-pkcs11",), lockout_recovery="Unblock the PIN with the SO PIN / PUK.",
        notes="Debug level 3+ logs PINs; cards report retry counters through the PIN flags.",
    ),
    ModuleQuirks("ykcs11", ("ykcs11",),
                 lockout_recovery="Unblock the PIN with the PUK (`ykman piv access unblock-pin`)."),
)

_NONE = ModuleQuirks("unknown module", ())


def quirks_for(module_path: str) -> ModuleQuirks:
    """The quirks of the module at this path (by file name; symlinks resolved)."""
    names = {os.path.basename(module_path).lower()}
    try:
        names.add(os.path.basename(os.path.realpath(module_path)).lower())
    except OSError:
        pass
    for q in QUIRKS:
        if any(m in n for m in q.match for n in names):
            return q
    return _NONE


def serial_identifies_token(serial: str) -> bool:
    """A serial that can tell tokens apart: not blank, not all zeros (tpm2-pkcs11 gives every
    token 0000000000000000; other modules leave it blank)."""
    s = serial.strip()
    return bool(s) and set(s) != {"0"}
