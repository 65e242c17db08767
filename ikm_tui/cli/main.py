"""Command line: `ikm-tui [--module M] [--token T] [COMMAND]`; no command opens the TUI.

Textual is imported only when the TUI opens, so scripted commands start fast.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ikm_tui import __version__
from ikm_tui.cli import exitcodes
from ikm_tui.cli.argv import command_word, command_words
from ikm_tui.cli.common import add_common, open_token, refuse_pin_argv, show_commands, undecodable_arg
from ikm_tui.cli.jsonout import add_json, emit, result
from ikm_tui.cli.exitcodes import EPILOG as EXIT_EPILOG
from ikm_tui.core.errors import IkmError
from ikm_tui.core.sanitize import safe_text

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers

EPILOG = """\
examples:
  ikm-tui                                   open the TUI on the first token found
  ikm-tui demo                              seed a SoftHSM demo token and open the TUI on it
  ikm-tui tokens                            list modules, slots and tokens with their PIN state
  ikm-tui --token "UserPIN (mytoken)" list  list public objects of one token
  ikm-tui list --login --json               log in (PIN prompt) and list everything as JSON
  ikm-tui --module /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so --token "UserPIN (SmartCard-HSM)"
  ikm-tui expiry --within 30                every certificate on every token, soonest first
  ikm-tui --remote 'ssh mq@dr p11-kit remote /usr/lib/softhsm/libsofthsm2.so' tokens   (a remote host's tokens)

the runmqakm -certreq / -cert -receive flow, on the token:
  ikm-tui certreq create --label web01 --key-type ec:p256 --subject "CN=web01.example.com,O=Example" \\
          --san DNS:web01.example.com --out web01.csr      (send web01.csr to your CA)
  ikm-tui cert receive web01.pem --with-chain               (stored next to its key, same CKA_ID+label)
  ikm-tui cert lint web01                                   (what Chrome / openssl -x509_strict will say)
  ikm-tui explain CTGSK3026W                                (what a GSKit or CKR code means)

The PIN is never a command-line value: it is prompted for on a terminal, read from
--pin-file FILE (mode 0600) or taken from $IKM_PIN.

more: `ikm-tui help TOPIC` (exit-codes, json, pin, completion, remote, files), `ikm-tui completion bash|zsh|fish`.

""" + EXIT_EPILOG


class IkmArgumentParser(argparse.ArgumentParser):
    """No abbreviated options: `--pin 1234` must never be taken as `--pin-file 1234` (and then
    echoed in "cannot read the PIN file 1234"). Subparsers inherit the class."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


# The commands defined in this file. For these (and for the TUI, which takes no command) the
# parser needs nothing from command_table(): importing those modules and building their
# subparsers was ~20 ms of every `ikm-tui list`.
CORE_COMMANDS = ("tokens", "list", "demo")


def command_table() -> dict[str, Callable[[Subparsers], object]]:
    """Every other top-level command, in `--help` order, and the function that adds its parser.

    The imports are here, not at the top, so the commands above start without them; a module
    that fails to import fails the command line loudly instead of hiding its commands.
    """
    from ikm_tui.cli import (ca, cert, certreq, completion, expiry, explain, export_config, helptopics, howto,
                            journal, keys, lint, pin)

    return {
        "explain": explain.register,
        "howto": howto.register,
        "certreq": certreq.register,
        "cert": cert.register,  # with `cert create` and `cert lint`
        "key": keys.register,
        "ca": ca.register,  # a CA whose key stays on the token
        "export-config": export_config.register,  # use a token key from Java, NSS, OpenSSL, MQ
        "pin": pin.register,
        "expiry": expiry.register,  # every certificate on every token (and remote), soonest first
        "journal": journal.register,  # finish or undo a write that was killed half-way
        "lint": lint.register,  # the top-level alias of `cert lint`
        "completion": completion.register,
        "help": helptopics.register,
    }


def build_parser(*, command_modules: bool = True) -> argparse.ArgumentParser:
    """The CLI parser; without `command_modules`, only the commands this file defines."""
    parser = IkmArgumentParser(
        prog="ikm-tui",
        description="Keystore manager for PKCS#11 tokens (SoftHSM2, SmartCard-HSM/Nitrokey via OpenSC, "
                    "YubiKey via ykcs11): keys, certificates and requests on the token.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-V", "--version", action="version", version=f"ikm-tui {__version__}")
    add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=IkmArgumentParser)

    p = sub.add_parser("tokens", help="list modules, slots and tokens (with PIN flags)",
                       description="List every slot and token of the module, with PIN state flags.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui tokens\n  ikm-tui tokens --json\n"
                              "  ikm-tui --module /usr/lib/softhsm/libsofthsm2.so tokens\n")
    add_common(p, top=False)
    add_json(p, "tokens", capture=False)
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("list", help="list keys, certificates and data objects of a token",
                       description="List the objects on a token. Without a PIN only public objects are "
                                   "shown; add --login (or --pin-file / IKM_PIN) for private keys.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui list\n  ikm-tui list --login --json\n"
                              "  ikm-tui --token \"UserPIN (mytoken)\" list --pin-file ~/.pin\n")
    add_common(p, top=False)
    add_json(p, "list", capture=False)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("demo", help="create (once) a SoftHSM demo token and open the TUI on it",
                       description="Creates a SoftHSM2 token 'UserPIN (mytoken)' in your data dir "
                                   "(~/.local/share/ikm-tui/demo, own softhsm2.conf) seeded with example "
                                   "keys and certificates, then opens the TUI. Demo PIN: 123456. Needs SoftHSM2 "
                                   "(Debian/Ubuntu: apt install softhsm2).",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n  ikm-tui demo\n"
                              "  ikm-tui demo --no-tui      # create it, print how to use it\n")
    p.add_argument("--no-tui", action="store_true", help="only create the token, print how to use it")
    add_json(p, "demo")
    p.set_defaults(func=cmd_demo)

    for register in command_table().values() if command_modules else ():
        register(sub)
    return parser


def token_json(slot: Any) -> dict[str, Any]:
    t = slot.token
    data: dict[str, Any] = {"slot_id": slot.slot_id, "slot_description": slot.description,
                            "slot_manufacturer": slot.manufacturer, "token": None}
    if t is not None:
        from ikm_tui.core.uri import token_uri

        data["token"] = {
            "label": t.label, "manufacturer": t.manufacturer, "model": t.model, "serial": t.serial,
            "flags": list(t.flags), "pin_state": list(t.pin.badges()),
            "min_pin_len": t.min_pin_len, "max_pin_len": t.max_pin_len,
            "free_public_memory": t.free_public_memory, "free_private_memory": t.free_private_memory,
            "uri": token_uri(t.label, t.manufacturer, t.model, t.serial),
        }
    return data


def cmd_tokens(args: argparse.Namespace) -> int:
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.p11.modules import discover, display_name
    from ikm_tui.core.p11.service import get_service

    # With no --module, every discovered module is shown: operators often do not know which
    # .so their token answers on.
    explicit = getattr(args, "module", None)
    cands = discover(explicit)
    if explicit:
        cands = cands[:1]
    modules_json: list[dict[str, Any]] = []
    for cand in cands:
        svc = get_service(cand.path)
        try:
            svc.wait_ready()
            info = svc.run(Backend.module_info)
            slots = svc.run(Backend.slots)
        except IkmError as err:
            if explicit:
                raise
            modules_json.append({"path": cand.path, "name": display_name(cand), "source": cand.source,
                                 "description": None,
                                 "manufacturer": None, "version": None, "error": str(err), "slots": []})
            if not args.json:
                print(safe_text(f"module {display_name(cand)} ({cand.source}): {err}", multiline=True))
            continue
        show_commands(args, "tokens", module=info.path)
        modules_json.append({"path": info.path, "name": display_name(cand), "source": cand.source,
                             "description": info.description,
                             "manufacturer": info.manufacturer, "version": info.library_version,
                             "error": None, "slots": [token_json(s) for s in slots]})
        if not args.json:
            _print_module(info, cand.source if display_name(cand) == cand.path else
                          f"{cand.source} {display_name(cand)}", slots)
    if args.json:
        emit("tokens", {"modules": modules_json})
    elif not cands:
        print("no PKCS#11 module found: install softhsm2, opensc or ykcs11, or give --module PATH")
    return 0


def _print_module(info: Any, source: str, slots: Any) -> None:
    print(safe_text(f"module {info.path} ({source}): {info.description} {info.library_version} "
                    f"({info.manufacturer})"))
    if not slots:
        print("  no slots: is the reader connected (and pcscd running for smart cards)?")
    for s in slots:
        print(safe_text(f"  slot {s.slot_id}: {s.description}"))
        if s.token is None:
            print("    (no token)")
            continue
        t = s.token
        badges = " ".join(f"[{b}]" for b in t.pin.badges())
        state = "initialised" if t.initialized else "NOT initialised"
        print(safe_text(f"    token {t.label!r} {t.manufacturer} {t.model} serial {t.serial} {state} {badges}"))


def object_json(o: Any, listing: Any, views: dict[int, Any] | None = None) -> dict[str, Any]:
    # Every key is present for every object (null when it does not apply): the --json contract.
    is_cert = o.cls.value == "certificate" and o.cert is not None
    d: dict[str, Any] = {"class": o.cls.value, "label": o.label, "id": o.id.hex(), "uri": o.uri,
                         "private": o.private, "key_type": o.key_type or None, "bits": o.bits or None,
                         "curve": o.curve or None, "flags": list(o.flags or ())}
    c = o.cert if is_cert else None
    key = listing.pairing.cert_to_key.get(o.handle) if is_cert else None
    key_obj = listing.by_handle(key) if key is not None else None
    d.update({
        "subject": c.subject if c else None, "issuer": c.issuer if c else None,
        "serial": c.serial if c else None,
        "not_before": c.not_before.isoformat() if c and c.not_before else None,
        "not_after": c.not_after.isoformat() if c and c.not_after else None,
        "sans": list(c.sans) if c else None, "key_usage": list(c.key_usage) if c else None,
        "eku": list(c.eku) if c else None, "is_ca": c.is_ca if c else None,
        "sha256": c.sha256 if c else None,
        "has_private_key": (key is not None) if c else None,
        "paired_key_id": key_obj.id.hex() if key_obj is not None else None,
        "id_mismatch": (o.handle in listing.pairing.id_mismatch) if c else None,
        "parse_error": (c.error or None) if c else None,
        "application": o.application if o.cls.value == "data" else None,
        "marker": listing.pairing.markers.get(o.handle, ""),
        # What Java, NSS and the OpenSSL engine will see (core/seen_by.py).
        "seen_by": views[o.handle].as_json() if views is not None and o.handle in views else None,
    })
    return d


def cmd_list(args: argparse.Namespace) -> int:
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.uri import token_uri

    # seen_by is imported while the module loads (see open_token).
    svc, slot = open_token(args, meanwhile=(lambda: __import__("ikm_tui.core.seen_by")) if args.json else None)
    listing = svc.run(Backend.list_objects, slot)
    t = listing.token
    show_commands(args, "list", module=svc.module_path, token_label=t.label, token_serial=t.serial,
                  login=listing.logged_in)
    if args.json:
        from ikm_tui.core.seen_by import seen_by

        views = seen_by(listing)
        emit("list", {
            "token": {"label": t.label, "serial": t.serial, "manufacturer": t.manufacturer, "model": t.model,
                      "uri": token_uri(t.label, t.manufacturer, t.model, t.serial),
                      "logged_in": listing.logged_in},
            # Part of the --json contract: always true, because a listing cut short (token
            # removed, session lost) is an error with its own exit code, never partial output.
            "complete": True,
            "objects": [object_json(o, listing, views) for o in listing.objects],
        })
        return 0
    print(safe_text(f"token {t.label!r} serial {t.serial}" + ("" if listing.logged_in else
                                                             "  (not logged in: public objects only)")))
    for o in listing.objects:
        marker = listing.pairing.markers.get(o.handle, "") or " "
        kind = o.cls.value
        extra = ""
        if o.key_type:
            extra = f" {o.key_type}" + (f":{o.curve}" if o.curve and o.key_type == "ec" else
                                        f":{o.bits}" if o.bits else "")
        if o.cert is not None:
            extra += f" subject={o.cert.subject}" if not o.cert.error else f" {o.cert.error}"
        if "unreadable" in o.flags:  # core/p11/unreadable.py: one bad object, the rest listed
            extra += f" UNREADABLE ({' '.join(o.flags[1:])}): the module would not give its attributes"
        print(safe_text(f"{marker} {kind:<12} {o.label!r:<28} id={o.id.hex() or '-'}{extra}"))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from ikm_tui.cli.tui import run_tui
    from ikm_tui.core.ops.demo import DEMO_LABEL, DEMO_PIN, ensure_demo_token
    from ikm_tui.core.p11.service import get_service

    module, label = ensure_demo_token(get_service)
    if args.no_tui or getattr(args, "json", False):
        import os

        conf = os.environ.get("SOFTHSM2_CONF", "")
        result(args, token=label, module=module, pin=DEMO_PIN, softhsm2_conf=conf)
        print(f"demo token {DEMO_LABEL!r} ready (PIN {DEMO_PIN}); SOFTHSM2_CONF={conf}")
        print(f"use it: SOFTHSM2_CONF={conf} ikm-tui --module {module} --token {label!r}")
        return 0
    from ikm_tui.cli.common import get_pin

    return run_tui(module, label, demo_pin=DEMO_PIN, login_pin=get_pin(args))


def _plain_output() -> None:
    """On a C/POSIX locale stdout is ASCII: a token's non-ASCII label must come out as an
    escape (caf\\xe9), never as a UnicodeEncodeError halfway through a listing."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    from ikm_tui.core.p11 import hangup

    process = argv is None  # the command line itself, not a caller (tests) inside its own process
    argv = list(sys.argv[1:] if argv is None else argv)
    _plain_output()
    refusal = refuse_pin_argv(argv)
    if refusal:
        print(f"ikm-tui: error: {refusal}", file=sys.stderr)
        return exitcodes.USAGE
    bad = undecodable_arg(argv)
    if bad is not None:
        print(f"ikm-tui: error: argument {bad} is not valid UTF-8; labels, subjects and file names "
              "must be UTF-8 text", file=sys.stderr)
        return exitcodes.USAGE
    try:
        try:
            status = _run(argv, process=process)
        except SystemExit:  # argparse's --help, --version and usage errors: flushed here too
            sys.stdout.flush()
            raise
        # Flushed inside the handlers: a closed pipe then raises BrokenPipeError below.
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away (`ikm-tui list | head -1`): say nothing, as cat and ls do, and
        # point stdout at /dev/null so the interpreter's final flush cannot complain either.
        import os

        hangup.close_sessions()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exitcodes.BROKEN_PIPE
    except Exception as exc:  # noqa: BLE001 - the last guard: no traceback ever reaches the user
        return _internal_error(exc)


def _internal_error(exc: BaseException) -> int:
    """A bug, said in one line; the traceback only with IKM_DEBUG=1 (it never holds a PIN:
    Pin's repr is masked, and tracebacks show no local values)."""
    import os

    if os.environ.get("IKM_DEBUG"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    print(safe_text(f"ikm-tui: internal error: {type(exc).__name__}: {exc}", multiline=True), file=sys.stderr)
    print("What to do: report this as a bug in ikm-tui (run with IKM_DEBUG=1 for the traceback).",
          file=sys.stderr)
    return exitcodes.FAILED


def _run(argv: list[str], process: bool = False) -> int:
    from ikm_tui.core.p11 import hangup

    word = command_word(argv)
    parser = build_parser(command_modules=word is None or word not in ("", *CORE_COMMANDS))
    args = parser.parse_args(argv)
    if getattr(args, "remote", None):
        from ikm_tui.core.p11.remote import request

        request(args.remote)  # discover() lists them after the local modules
    if getattr(args, "needs_parser", False):
        # `completion` and `help` read the whole tree (importing this module would be a cycle).
        args.root_parser = parser
    try:
        if getattr(args, "command", None) is None:
            from ikm_tui.cli.common import get_pin
            from ikm_tui.cli.tui import run_tui

            # As the CLI commands do: --pin-file or IKM_PIN (never a prompt here); one login.
            return run_tui(args.module, args.token, login_pin=get_pin(args))
        # A command is one short process whose objects live until it ends, and it makes next to
        # no reference cycles: the cyclic GC finds nothing to free (peak RSS of a first listing of
        # 5,000 certificates 111 MiB with it and without) and its passes over the listing cost
        # ~100 ms there (issue 16). Reference counting still frees everything else.
        gc.freeze()
        gc.disable()
        # The TUI handles SIGHUP on its event loop (hangup.install_loop_handler).
        hangup.install_cli_handler()
        from ikm_tui.cli.hold import HOLD, writes_token  # here: `list` imports no command module

        if writes_token(args):
            HOLD.exit_late = process
            HOLD.install()  # armed by open_token once the session is open (cli/hold.py)
            HOLD.argv = command_words(argv)
        try:
            if getattr(args, "json", False) and getattr(args, "json_capture", False):
                from ikm_tui.cli.jsonout import run_captured

                rc = int(run_captured(args, args.func) or 0)
            else:
                rc = int(args.func(args) or 0)
        finally:
            try:
                held = HOLD.release()
            finally:
                if HOLD.journal is not None:  # ended normally or with an error: nothing half-done
                    from ikm_tui.core import journal

                    journal.end(HOLD.journal)
                    journal.activate(None)
                    HOLD.journal = None
                HOLD.uninstall()
                from ikm_tui.core.tokenlock import release_all

                release_all()
        return rc if held is None else held
    except hangup.Hangup:
        # The terminal is gone: close (log out) every session, then leave without a traceback.
        hangup.close_sessions()
        try:
            print("ikm-tui: hangup: sessions closed", file=sys.stderr)
        except OSError:
            pass
        return hangup.HANGUP_EXIT
    except IkmError as err:
        sys.stdout.flush()  # what the command printed before the error comes first
        print(safe_text(f"ikm-tui: {err}", multiline=True), file=sys.stderr)
        return exitcodes.exit_status(err)
    except KeyboardInterrupt:
        print("ikm-tui: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        raise  # main() ends quietly, as cat and ls do
    except OSError as exc:
        # A file or terminal failure no command turned into an IkmError: one line, no traceback.
        from ikm_tui.core.files import write_error

        where = exc.filename if exc.filename is not None else "<output>"
        print(safe_text(f"ikm-tui: {write_error(where, exc)}", multiline=True), file=sys.stderr)
        return exitcodes.FAILED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
