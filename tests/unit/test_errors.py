"""Error catalogue, `from_exception` and `explain`: every python-pkcs11 exception gets a cause and a next step."""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import pkcs11
import pkcs11.exceptions as p11x
import pytest

from ikm_tui.cli import explain as cli_explain
from ikm_tui.core.errors import (
    CATALOGUE,
    CKR_BY_CODE,
    CKR_BY_NAME,
    CKR_NAME_BY_EXCEPTION,
    LIBRARY_ERRORS,
    IkmError,
    from_exception,
)
from ikm_tui.core.text.explain import GSKIT, Explanation, explain, lookup

EXCEPTION_CLASSES = sorted(
    (c for _, c in inspect.getmembers(p11x, inspect.isclass)
     if issubclass(c, p11x.PKCS11Error) and c is not p11x.PKCS11Error),
    key=lambda c: c.__name__,
)
PXD = Path(pkcs11.__file__).with_name("_pkcs11.pxd")
# The OASIS-numbered header on Debian (libnss3-dev); p11-kit 0.24's header numbers some codes differently.
OASIS_HEADER = Path("/usr/include/nss/pkcs11t.h")


def _map_rv_to_error() -> str:
    if not PXD.exists():
        pytest.skip("python-pkcs11 was installed without _pkcs11.pxd")
    text = PXD.read_text()
    return text[text.index("map_rv_to_error"):]


@pytest.mark.parametrize("klass", EXCEPTION_CLASSES, ids=lambda c: c.__name__)
def test_every_python_pkcs11_exception_has_cause_and_next_step(klass: type[Exception]) -> None:
    err = from_exception(klass(), "Signing")
    assert isinstance(err, IkmError)
    assert err.cause.strip() and err.next_step.strip()
    assert err.operation == "Signing"
    if klass in LIBRARY_ERRORS:
        # python-pkcs11's own search results: no C call failed, so no CKR is claimed.
        assert err.ckr_name is None and err.ckr_code is None
    else:
        assert err.ckr_name is not None and err.ckr_name.startswith("CKR_")
        assert err.ckr_code == CKR_BY_NAME[err.ckr_name].code
    text = str(err)
    assert err.cause in text and "What to do: " + err.next_step in text
    if err.ckr_name:
        assert err.ckr_name in text


def test_only_library_side_exceptions_lack_a_ckr_name() -> None:
    without = {c for c in EXCEPTION_CLASSES if from_exception(c()).ckr_name is None}
    assert without == {p11x.NoSuchKey, p11x.MultipleObjectsReturned, p11x.MultipleTokensReturned}


def test_table_agrees_with_python_pkcs11_map_rv_to_error() -> None:
    body = _map_rv_to_error()
    pairs = re.findall(r"rv == (CKR_\w+):\s*\n\s*exc = (\w+)\(\)", body)
    assert len(pairs) > 60
    for ckr, class_name in pairs:
        assert CKR_NAME_BY_EXCEPTION[getattr(p11x, class_name)] == ckr, class_name
    # Codes python-pkcs11 raises as the base class with a fixed message still get their CKR name.
    for ckr, message in re.findall(r'rv == (CKR_\w+):\s*\n\s*exc = PKCS11Error\("([^"]+)"\)', body):
        assert from_exception(p11x.PKCS11Error(message)).ckr_name == ckr


def test_catalogue_holds_every_code_python_pkcs11_declares() -> None:
    declared = set(re.findall(r"^\s+(CKR_\w+),?\s*$", PXD.read_text() if PXD.exists() else "", re.M))
    if not declared:
        pytest.skip("no _pkcs11.pxd to compare with")
    assert declared - {"CKR_VENDOR_DEFINED"} <= set(CKR_BY_NAME)


def test_catalogue_numbers_match_the_oasis_header() -> None:
    if not OASIS_HEADER.exists():
        pytest.skip(f"{OASIS_HEADER} not installed")
    header = dict(re.findall(r"#define (CKR_\w+)\s+(0x[0-9A-Fa-f]+)UL", OASIS_HEADER.read_text()))
    numbers = {name: int(value, 16) for name, value in header.items() if name != "CKR_VENDOR_DEFINED"}
    for entry in CATALOGUE:
        assert numbers.get(entry.name) == entry.code, entry.name
    # A newer header may add PKCS#11 3.1+ codes (above 0x202); everything up to 3.0 must be catalogued.
    assert {n for n, v in numbers.items() if v <= 0x202} == set(CKR_BY_NAME)


def test_catalogue_is_consistent() -> None:
    assert len(CKR_BY_NAME) == len(CKR_BY_CODE) == len(CATALOGUE)
    for entry in CATALOGUE:
        assert entry.cause.strip() and entry.next_step.strip(), entry.name
    assert CKR_BY_NAME["CKR_PIN_INCORRECT"].code == 0xA0
    assert CKR_BY_NAME["CKR_EXCEEDED_MAX_ITERATIONS"].code == 0x1B5
    assert CKR_BY_NAME["CKR_OPERATION_CANCEL_FAILED"].code == 0x202


@pytest.mark.parametrize(("message", "name", "code"), [
    ("Unmapped error code 0x68", "CKR_KEY_FUNCTION_NOT_PERMITTED", 0x68),
    ("Unmapped error code 0x140", "CKR_CURVE_NOT_SUPPORTED", 0x140),
    ("Unmapped error code 0x1b", "CKR_ACTION_PROHIBITED", 0x1B),
    # p11-kit 0.24's numbering for CKR_PIN_TOO_WEAK; python-pkcs11 prints hex() in lower case.
    ("Unmapped error code 0x1c3", "CKR_PIN_TOO_WEAK", 0x1C3),
    ("Unmapped error code 0x80000012", "CKR_VENDOR_DEFINED+0x12", 0x80000012),
    ("Unmapped error code 0x999", "CKR_0x999", 0x999),
])
def test_unmapped_error_codes_are_looked_up(message: str, name: str, code: int) -> None:
    err = from_exception(p11x.PKCS11Error(message), "Generating a key")
    assert (err.ckr_name, err.ckr_code) == (name, code)
    assert err.cause and err.next_step
    assert "Unmapped" not in err.cause
    assert f"0x{code:08X}" in str(err) and "What to do" in str(err)


def test_other_base_errors_keep_their_message() -> None:
    err = from_exception(p11x.PKCS11Error("invalid ELF header"))
    assert "invalid ELF header" in err.cause and err.ckr_name is None


def test_ikm_error_str() -> None:
    err = from_exception(p11x.PinIncorrect(), "Login")
    text = str(err)
    assert text.startswith("Login failed: The PIN was wrong.")
    assert "[CKR_PIN_INCORRECT (0x000000A0)]" in text
    assert "\nWhat to do: Check the PIN" in text


@pytest.mark.parametrize("code", [
    "CKR_PIN_INCORRECT", "ckr_pin_incorrect", "PIN_INCORRECT", "0xA0", "0x000000a0", "160", "a0", "A0",
    "PinIncorrect", " CKR_PIN_INCORRECT\n", "Login failed: The PIN was wrong. [CKR_PIN_INCORRECT (0x000000A0)]",
])
def test_explain_ckr_forms(code: str) -> None:
    exp = lookup(code)
    assert isinstance(exp, Explanation)
    assert (exp.code, exp.number, exp.family) == ("CKR_PIN_INCORRECT", 0xA0, "PKCS#11")
    text = explain(code)
    assert text.startswith("CKR_PIN_INCORRECT (0x000000A0 = 160)")
    assert "Meaning: The PIN was wrong." in text and "What to do:" in text


def test_explain_decimal_digits_mention_the_hex_reading() -> None:
    assert lookup("10").code == "CKR_CANT_LOCK"  # type: ignore[union-attr]
    assert "0x10 would be CKR_ATTRIBUTE_READ_ONLY" in explain("10")


def test_explain_unmapped_message() -> None:
    assert lookup("Unmapped error code 0x68").code == "CKR_KEY_FUNCTION_NOT_PERMITTED"  # type: ignore[union-attr]


@pytest.mark.parametrize(("code", "expected"), [
    ("CTGSK3026W", ["pkcs11", "tokenlabel", "PIN", "ikm-tui tokens"]),
    ('CTGSK3026W The key file "pkcs11" does not exist or cannot be read.', ["ikm-tui tokens"]),
    ("ctgsk2137w", ["label", "ikm-tui list"]),
    ("CTGSK3034W", ["cannot receive", "ikm-tui cert receive FILE"]),
    ("GSK_BAD_FORMAT_OR_INVALID_PASSWORD", ["PIN", "Source: https://"]),
    ("GSK_KEY_LABEL_NOT_FOUND", ["ikm-tui list"]),
])
def test_explain_gskit(code: str, expected: list[str]) -> None:
    exp = lookup(code)
    assert exp is not None and exp.family == "GSKit"
    text = explain(code)
    assert text.startswith(exp.code)
    for fragment in expected:
        assert fragment in text


def test_every_gskit_entry_is_complete() -> None:
    assert {"CTGSK3026W", "CTGSK2137W", "CTGSK3034W"} <= set(GSKIT)
    for exp in GSKIT.values():
        assert exp.meaning and exp.action and "ikm-tui" in exp.action, exp.code


@pytest.mark.parametrize("code", ["", "   ", "hello", "CTGSK9999W", "CKR_NOT_A_CODE", "0x999", "0x80000012",
                                  "CKR_VENDOR_DEFINED+0x12", "GSK_SOMETHING_ELSE", "-5", "0x"])
def test_explain_unknown_never_raises(code: str) -> None:
    assert lookup(code) is None
    text = explain(code)
    assert text.startswith("unknown code")
    assert "CKR_" in text and "CTGSK" in text and "GSK_" in text


def test_explain_unknown_numbers_say_what_is_known() -> None:
    assert "vendor-defined" in explain("0x80000012")
    assert "not a PKCS#11 3.0 return code" in explain("0x999")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ikm-tui")
    cli_explain.register(parser.add_subparsers(dest="command"))
    return parser


@pytest.mark.parametrize(("argv", "status", "fragment"), [
    (["explain", "0xA0"], 0, "CKR_PIN_INCORRECT"),
    (["explain", "CTGSK3026W", "The", "key", "file", '"pkcs11"', "does", "not", "exist"], 0, "tokenlabel"),
    (["explain", "CTGSK3034W"], 0, "ikm-tui cert receive FILE"),
    (["explain", "nonsense"], 4, "unknown code"),
])
def test_cli_explain(argv: list[str], status: int, fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = _parser().parse_args(argv)
    assert args.func(args) == status
    assert fragment in capsys.readouterr().out


def test_cli_explain_help_has_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _parser().parse_args(["explain", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "ikm-tui explain 0xA0" in out and "CTGSK3026W" in out


def test_from_exception_keeps_the_error_class_and_its_attributes() -> None:
    """The CLI's exit status comes from the class (cli/exitcodes.py): naming the operation keeps it."""
    from ikm_tui.core.errors import NotFoundError, RefusedError, from_exception
    from ikm_tui.core.ops.plans import Ambiguous

    named = from_exception(NotFoundError(cause="gone", next_step="look"), "Extracting")
    assert type(named) is NotFoundError and named.operation == "Extracting" and named.cause == "gone"
    amb = Ambiguous("two", "pick one")
    amb.candidates = ()
    again = from_exception(amb, "Deleting")
    assert isinstance(again, RefusedError) and again.candidates == () and amb.operation is None
