"""python-pkcs11's exception classes read as PKCS#11 return codes: the only module that knows them.

`core.errors.from_exception` imports this lazily, and only once python-pkcs11 is loaded: importing
pkcs11 pulls in asn1crypto (~25 ms), which `--help`, `explain` and the other commands that never
load a module should not pay. This module imports nothing of ikm-tui, so that lazy import is not
an import cycle.
"""

from __future__ import annotations

from typing import NamedTuple

import pkcs11.exceptions as p11x

# The return code behind each python-pkcs11 exception class, as `map_rv_to_error` in its
# `_pkcs11.pxd` maps them (its exceptions carry neither name nor number).
CKR_NAME_BY_EXCEPTION: dict[type[p11x.PKCS11Error], str] = {
    p11x.AnotherUserAlreadyLoggedIn: "CKR_USER_ANOTHER_ALREADY_LOGGED_IN",
    p11x.ArgumentsBad: "CKR_ARGUMENTS_BAD",
    p11x.AttributeReadOnly: "CKR_ATTRIBUTE_READ_ONLY",
    p11x.AttributeSensitive: "CKR_ATTRIBUTE_SENSITIVE",
    p11x.AttributeTypeInvalid: "CKR_ATTRIBUTE_TYPE_INVALID",
    p11x.AttributeValueInvalid: "CKR_ATTRIBUTE_VALUE_INVALID",
    p11x.DataInvalid: "CKR_DATA_INVALID",
    p11x.DataLenRange: "CKR_DATA_LEN_RANGE",
    p11x.DeviceError: "CKR_DEVICE_ERROR",
    p11x.DeviceMemory: "CKR_DEVICE_MEMORY",
    p11x.DeviceRemoved: "CKR_DEVICE_REMOVED",
    p11x.DomainParamsInvalid: "CKR_DOMAIN_PARAMS_INVALID",
    p11x.EncryptedDataInvalid: "CKR_ENCRYPTED_DATA_INVALID",
    p11x.EncryptedDataLenRange: "CKR_ENCRYPTED_DATA_LEN_RANGE",
    p11x.ExceededMaxIterations: "CKR_EXCEEDED_MAX_ITERATIONS",
    p11x.FunctionCancelled: "CKR_FUNCTION_CANCELED",
    p11x.FunctionFailed: "CKR_FUNCTION_FAILED",
    p11x.FunctionNotSupported: "CKR_FUNCTION_NOT_SUPPORTED",
    p11x.FunctionRejected: "CKR_FUNCTION_REJECTED",
    p11x.GeneralError: "CKR_GENERAL_ERROR",
    p11x.HostMemory: "CKR_HOST_MEMORY",
    p11x.KeyHandleInvalid: "CKR_KEY_HANDLE_INVALID",
    p11x.KeyIndigestible: "CKR_KEY_INDIGESTIBLE",
    p11x.KeyNeeded: "CKR_KEY_NEEDED",
    p11x.KeyNotNeeded: "CKR_KEY_NOT_NEEDED",
    p11x.KeyNotWrappable: "CKR_KEY_NOT_WRAPPABLE",
    p11x.KeySizeRange: "CKR_KEY_SIZE_RANGE",
    p11x.KeyTypeInconsistent: "CKR_KEY_TYPE_INCONSISTENT",
    p11x.KeyUnextractable: "CKR_KEY_UNEXTRACTABLE",
    p11x.MechanismInvalid: "CKR_MECHANISM_INVALID",
    p11x.MechanismParamInvalid: "CKR_MECHANISM_PARAM_INVALID",
    p11x.NoEvent: "CKR_NO_EVENT",
    p11x.ObjectHandleInvalid: "CKR_OBJECT_HANDLE_INVALID",
    p11x.OperationActive: "CKR_OPERATION_ACTIVE",
    p11x.OperationNotInitialized: "CKR_OPERATION_NOT_INITIALIZED",
    p11x.PinExpired: "CKR_PIN_EXPIRED",
    p11x.PinIncorrect: "CKR_PIN_INCORRECT",
    p11x.PinInvalid: "CKR_PIN_INVALID",
    p11x.PinLenRange: "CKR_PIN_LEN_RANGE",
    p11x.PinLocked: "CKR_PIN_LOCKED",
    p11x.PinTooWeak: "CKR_PIN_TOO_WEAK",
    p11x.PublicKeyInvalid: "CKR_PUBLIC_KEY_INVALID",
    p11x.RandomNoRNG: "CKR_RANDOM_NO_RNG",
    p11x.RandomSeedNotSupported: "CKR_RANDOM_SEED_NOT_SUPPORTED",
    p11x.SessionClosed: "CKR_SESSION_CLOSED",
    p11x.SessionCount: "CKR_SESSION_COUNT",
    p11x.SessionExists: "CKR_SESSION_EXISTS",
    p11x.SessionHandleInvalid: "CKR_SESSION_HANDLE_INVALID",
    p11x.SessionReadOnly: "CKR_SESSION_READ_ONLY",
    p11x.SessionReadOnlyExists: "CKR_SESSION_READ_ONLY_EXISTS",
    p11x.SessionReadWriteSOExists: "CKR_SESSION_READ_WRITE_SO_EXISTS",
    p11x.SignatureInvalid: "CKR_SIGNATURE_INVALID",
    p11x.SignatureLenRange: "CKR_SIGNATURE_LEN_RANGE",
    p11x.SlotIDInvalid: "CKR_SLOT_ID_INVALID",
    p11x.TemplateIncomplete: "CKR_TEMPLATE_INCOMPLETE",
    p11x.TemplateInconsistent: "CKR_TEMPLATE_INCONSISTENT",
    p11x.TokenNotPresent: "CKR_TOKEN_NOT_PRESENT",
    p11x.TokenNotRecognised: "CKR_TOKEN_NOT_RECOGNIZED",
    p11x.TokenWriteProtected: "CKR_TOKEN_WRITE_PROTECTED",
    p11x.UnwrappingKeyHandleInvalid: "CKR_UNWRAPPING_KEY_HANDLE_INVALID",
    p11x.UnwrappingKeySizeRange: "CKR_UNWRAPPING_KEY_SIZE_RANGE",
    p11x.UnwrappingKeyTypeInconsistent: "CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT",
    p11x.UserAlreadyLoggedIn: "CKR_USER_ALREADY_LOGGED_IN",
    p11x.UserNotLoggedIn: "CKR_USER_NOT_LOGGED_IN",
    p11x.UserPinNotInitialized: "CKR_USER_PIN_NOT_INITIALIZED",
    p11x.UserTooManyTypes: "CKR_USER_TOO_MANY_TYPES",
    p11x.WrappedKeyInvalid: "CKR_WRAPPED_KEY_INVALID",
    p11x.WrappedKeyLenRange: "CKR_WRAPPED_KEY_LEN_RANGE",
    p11x.WrappingKeyHandleInvalid: "CKR_WRAPPING_KEY_HANDLE_INVALID",
    p11x.WrappingKeySizeRange: "CKR_WRAPPING_KEY_SIZE_RANGE",
    p11x.WrappingKeyTypeInconsistent: "CKR_WRAPPING_KEY_TYPE_INCONSISTENT",
}

# python-pkcs11 raises NoSuchToken itself (no C call failed); the backend reports an unknown token
# label the same way, so both read alike: (CKR name, cause, next step).
OWN_TEXT_BY_EXCEPTION: dict[type[p11x.PKCS11Error], tuple[str, str, str]] = {
    p11x.NoSuchToken: ("CKR_TOKEN_NOT_PRESENT", "No token with that label or serial.",
                       "Run `ikm-tui tokens` to see the tokens present."),
}

# Raised by python-pkcs11's own searches, not by the module: there is no CKR code to show, and
# inventing one would send the operator looking for a token fault that never happened.
LIBRARY_ERRORS: dict[type[BaseException], tuple[str, str]] = {
    p11x.NoSuchKey: ("No key on the token matches that label or ID.",
                     "Run `ikm-tui list` to see the keys and their labels and IDs."),
    p11x.MultipleObjectsReturned: ("More than one object matches that label or ID.",
                                   "Select the object by its pkcs11: URI or its ID (`ikm-tui list` shows both)."),
    p11x.MultipleTokensReturned: ("More than one token matches that label.",
                                  "Select the token by serial with a pkcs11: URI (`ikm-tui tokens` shows them)."),
}


class Translation(NamedTuple):
    """What a python-pkcs11 exception says. `cause`/`next_step` None: the catalogue's for the
    code. `message` is set instead for the base PKCS11Error, whose only information is its text."""

    ckr_name: str | None = None
    cause: str | None = None
    next_step: str | None = None
    message: str | None = None


def translate(exc: BaseException) -> Translation | None:
    """The CKR code (or library error) behind `exc`; None when it is not python-pkcs11's."""
    for klass in type(exc).__mro__:
        if klass in OWN_TEXT_BY_EXCEPTION:
            name, cause, step = OWN_TEXT_BY_EXCEPTION[klass]
            return Translation(name, cause, step)
        if klass in CKR_NAME_BY_EXCEPTION:
            return Translation(CKR_NAME_BY_EXCEPTION[klass])
        if klass in LIBRARY_ERRORS:
            cause, step = LIBRARY_ERRORS[klass]
            return Translation(None, cause, step)
    if isinstance(exc, p11x.PKCS11Error):
        return Translation(message=" ".join(str(a) for a in exc.args) or type(exc).__name__)
    return None
