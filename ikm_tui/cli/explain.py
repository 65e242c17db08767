"""The `ikm-tui explain CODE` subcommand: PKCS#11 return codes and GSKit messages in plain words."""

from __future__ import annotations

import argparse

from ikm_tui.core.text.explain import explain, lookup

EXIT_KNOWN = 0
# "Not found" in the exit-status table (cli/exitcodes.py): the command line was fine, the code is unknown.
EXIT_UNKNOWN = 4

_EPILOG = """\
examples:
  ikm-tui explain CKR_PIN_INCORRECT
  ikm-tui explain PIN_INCORRECT        (the CKR_ prefix is optional)
  ikm-tui explain 0xA0                 (hex: 0xA0 or a0; digits alone are decimal: 160)
  ikm-tui explain PinIncorrect         (a python-pkcs11 exception name)
  ikm-tui explain "Unmapped error code 0x68"
  ikm-tui explain CTGSK3026W           (runmqakm/gskcapicmd messages; paste the whole line if you like)
  ikm-tui explain GSK_KEY_LABEL_NOT_FOUND
  ikm-tui explain "error 24 at 1 depth lookup: invalid CA certificate"   (openssl verify/s_client)
  ikm-tui explain NET::ERR_CERT_INVALID      (Chrome; also SEC_ERROR_UNKNOWN_ISSUER, PR_END_OF_FILE_ERROR)
  ikm-tui explain "PKIX path building failed"   (Java; strmqikm's findSigner exception too)

exit status: 0 when the code is known, 4 when it is not.
"""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `explain CODE` to the main CLI's subparsers; the handler is set as `func`."""
    parser = subparsers.add_parser(
        "explain",
        help="explain a PKCS#11 return code, a GSKit (runmqakm) message or a TLS error",
        description=("Explain a PKCS#11 return code (CKR_* name or number) or a GSKit message\n"
                     "from runmqakm/gskcapicmd, or a TLS error as OpenSSL, Chrome, NSS or Java print it:\n"
                     "what it means, why it usually happens, and what to do with ikm-tui instead\n"
                     "(for TLS errors: which `ikm-tui cert lint` finding names the cause). Needs no token."),
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # nargs="+" so a pasted message works without quotes: explain CTGSK3026W The key file ...
    parser.add_argument("code", metavar="CODE", nargs="+",
                        help="a CKR name or number, a python-pkcs11 exception name, or a GSKit code or message")
    from ikm_tui.cli.jsonout import add_json

    add_json(parser, "explain", capture=False)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the explanation; 0 when the code is known, 4 when it is not."""
    code = " ".join(args.code)
    found = lookup(code)
    if getattr(args, "json", False):
        from ikm_tui.cli.jsonout import emit

        emit("explain", {
            "query": code, "known": found is not None, "text": explain(code),
            "code": found.code if found else None, "family": found.family if found else None,
            "number": found.number if found else None, "meaning": found.meaning if found else None,
            "action": found.action if found else None,
            "typical_cause": (found.typical_cause or None) if found else None,
            "exception": found.exception if found else None,
            "message": (found.message or None) if found else None,
            "reference": (found.reference or None) if found else None,
        })
    else:
        print(explain(code))
    return EXIT_KNOWN if found is not None else EXIT_UNKNOWN
