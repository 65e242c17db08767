"""Shared CLI plumbing: common options, PIN sources, opening the token service, output."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from typing import TYPE_CHECKING, Any

from ikm_tui.cli.exitcodes import PinError
from ikm_tui.core.errors import IkmError, NotFoundError, RefusedError
from ikm_tui.core.pin import Pin, pin_text_problem
from ikm_tui.core.sanitize import safe_text

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeAlias

    # What each command module's register() receives: the result of add_subparsers() (argparse
    # names the type privately; Any because the top parser makes IkmArgumentParser subparsers).
    Subparsers: TypeAlias = argparse._SubParsersAction[Any]  # noqa: SLF001
    from ikm_tui.core.p11.service import TokenService


def add_common(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """--module/--token/--pin-file on the top parser and on every subcommand.

    On subcommands the defaults are SUPPRESS so `ikm-tui --token T list` is not reset by the
    subparser: both orders mean the same.
    """
    d = None if top else argparse.SUPPRESS
    g = parser.add_argument_group("token selection")
    g.add_argument("--module", metavar="PATH", default=d,
                   help="PKCS#11 module (.so). Default: $IKM_MODULE, then p11-kit registered modules, "
                        "then well-known paths (SoftHSM, OpenSC, ykcs11)")
    g.add_argument("--remote", metavar="CMD", action="append", default=d,
                   help="also use the token(s) behind CMD, a command speaking p11-kit's RPC on stdin/stdout, "
                        "e.g. 'ssh -o BatchMode=yes user@host p11-kit remote /usr/lib/softhsm/libsofthsm2.so' "
                        "(repeatable; each is a module of its own). Named remotes: "
                        "~/.config/ikm-tui/remotes.toml (`ikm-tui help remote`)")
    g.add_argument("--token", metavar="LABEL|URI", default=d,
                   help='token label (e.g. "UserPIN (SmartCard-HSM)") or pkcs11: URI; default: first token')
    g.add_argument("--pin-file", metavar="FILE", default=d,
                   help="read the user PIN from FILE (must be mode 0600). Or set IKM_PIN (visible to "
                        "other processes of the same user via /proc; prefer the prompt or a file). "
                        "There is deliberately no --pin VALUE: argv is world-readable")
    g.add_argument("--login", action="store_true", default=False if top else argparse.SUPPRESS,
                   help="log in with the user PIN (prompted on a terminal) to see private objects")
    g.add_argument("--trace", metavar="FILE", default=d,
                   help="write every PKCS#11 call (PIN shown as ***) to FILE, created 0600")
    g.add_argument("--show-command", action="store_true", default=False if top else argparse.SUPPRESS,
                   help="also print the equivalent pkcs11-tool / openssl / p11tool / runmqakm command lines "
                        "(to stderr, PIN as a placeholder)")
    g.add_argument("--confirm-final-try", action="store_true",
                   default=False if top else argparse.SUPPRESS,
                   help="log in even though the token reports FINAL TRY (one more wrong PIN locks it)")


# Never echo what follows: it would be the PIN itself.
PIN_ARG_REFUSAL = (
    "there is no {opt} option: a PIN on the command line is visible to every user of this machine "
    "(ps, /proc/PID/cmdline, shell history). Use the prompt (--login), --pin-file FILE (mode 0600) "
    "or the IKM_PIN environment variable."
)
_PIN_ARGS = ("--pin", "--so-pin", "--user-pin")


def refuse_pin_argv(argv: list[str]) -> str | None:
    """The refusal message when argv carries a PIN option (`--pin X`, `--pin=X`), else None."""
    for arg in argv:
        if arg == "--":
            break
        opt = arg.split("=", 1)[0]
        if opt in _PIN_ARGS:
            return PIN_ARG_REFUSAL.format(opt=opt)
        # RFC 7512 lets a URI carry the PIN (`pkcs11:token=X?pin-value=1234`): in argv it is as
        # visible as --pin. Also matched when percent-encoded.
        low = arg.lower().replace("%2d", "-")
        if "pkcs11:" in low and "pin-value" in low:
            return PIN_ARG_REFUSAL.format(opt="pin-value in a pkcs11: URI")
    return None


def undecodable_arg(argv: list[str]) -> int | None:
    """The 1-based position of the first argument that was not valid UTF-8, else None.

    Python keeps such bytes as lone surrogates; they would fail later, mid-operation, when
    encoded for the token or a file name."""
    for i, arg in enumerate(argv, 1):
        if any("\udc80" <= c <= "\udcff" for c in arg):
            return i
    return None


def read_pin_file(path: str) -> Pin:
    """The PIN in FILE: a regular file of mode 0600, one line of UTF-8 (a final newline is fine)."""
    from ikm_tui.core.files import read_input

    try:
        raw = read_input(path, what="PIN file", limit=4096, private=True)
    except IkmError as exc:  # missing, not a regular file, too open: no PIN to be had (exit 5)
        raise PinError(exc.cause, exc.next_step, exc.ckr_name, exc.ckr_code, exc.operation) from None
    try:
        value = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PinError(f"The PIN file {safe_text(path)} is not valid UTF-8.",
                       "Write the PIN as UTF-8 text on one line.") from None
    finally:
        raw = b""
    return checked_pin(value.removesuffix("\n").removesuffix("\r"), f"the PIN file {safe_text(path)}")


def checked_pin(value: str, source: str) -> Pin:
    """A Pin, unless `value` can never be a PIN (empty, two lines, NUL...): then an error before
    the token sees it, so it costs no try."""
    problem = pin_text_problem(value)
    if problem is not None:
        raise PinError(f"{problem.rstrip('.')} (from {source}); nothing was sent to the token.",
                       "Give the PIN alone, on one line.")
    return Pin(value)


def get_pin(args: argparse.Namespace, prompt: str = "User PIN: ", *, required: bool = False) -> Pin | None:
    """PIN from --pin-file, IKM_PIN, or a prompt on a TTY (only with --login or when required)."""
    if getattr(args, "pin_file", None):
        return read_pin_file(args.pin_file)
    env = os.environ.get("IKM_PIN")
    if env is not None:
        return checked_pin(env, "IKM_PIN")
    if getattr(args, "login", False) or required:
        if not sys.stdin.isatty():
            raise PinError("A PIN is needed but there is no terminal to ask on.",
                           "Use --pin-file FILE (mode 0600) or set IKM_PIN.")
        return checked_pin(getpass.getpass(prompt), "the prompt")
    return None


def resolve_module(args: argparse.Namespace) -> str:
    """--module, else $IKM_MODULE, else the first discovered module that has a token."""
    from ikm_tui.core.p11.modules import discover, is_trust_module
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.p11.service import get_service

    explicit = getattr(args, "module", None)
    cands = discover(explicit)
    if not cands:
        raise NotFoundError("No PKCS#11 module found.",
                       "Install one (softhsm2, opensc, ykcs11) or give --module PATH.")
    if explicit or os.environ.get("IKM_MODULE"):
        return cands[0].path
    token = getattr(args, "token", None)
    for cand in cands:
        # The p11-kit trust module holds the system CA list, never a keystore.
        if is_trust_module(cand.path):
            continue
        svc = get_service(cand.path)
        try:
            svc.wait_ready()
            if any(s.token is not None and s.token.initialized for s in svc.run(Backend.slots)):
                if token is not None:
                    svc.run(Backend.find_slot, token)  # --token: the first module that has it
                return cand.path
        except IkmError:
            continue
    return cands[0].path


def open_token(args: argparse.Namespace, *, login: bool | None = None,
               meanwhile: Callable[[], object] | None = None) -> tuple[TokenService, int]:
    """(service, slot_id) for the selected module and token; logs in when a PIN is available."""
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.p11.service import get_service

    from ikm_tui.core.p11.trace import trace_warnings

    module = resolve_module(args)
    svc = get_service(module)
    # The owner thread now loads the module: C_Initialize runs without the GIL (SoftHSM reads
    # every object file of its tokens then), so meanwhile load the certificates this user listed
    # before (parsing the others imports cryptography: core/x509/certcache.py) and whatever the
    # command needs next (`meanwhile`), instead of doing it later on the critical path.
    from ikm_tui.core.x509 import certcache

    certcache.preload()
    if meanwhile is not None:
        meanwhile()
    certcache.prepare(stop=svc.loaded)
    svc.wait_ready()
    if getattr(args, "trace", None):
        from ikm_tui.core.p11.trace import file_tracer

        svc.tracers.append(file_tracer(args.trace))
    slot = svc.run(Backend.find_slot, getattr(args, "token", None))
    pin = get_pin(args, required=bool(login))
    if pin is not None:
        for warning in trace_warnings(module):
            print(safe_text(f"ikm-tui: WARNING: {warning}"), file=sys.stderr)
        try:
            result = svc.run(Backend.login, slot, pin,
                             allow_final_try=bool(getattr(args, "confirm_final_try", False)))
        finally:
            pin.wipe()  # our copy; see Pin for the ones Python keeps
        del pin
        if result.warning is not None:
            print(safe_text(f"ikm-tui: warning: {result.warning}", multiline=True), file=sys.stderr)
    # From here a writing command changes the token: one writer per token, and signals wait
    # for the write to finish.
    from ikm_tui.cli.hold import HOLD

    if HOLD.installed:
        _lock_token(svc, slot)
    elif not getattr(args, "journal_command", None):  # `journal show` says it itself
        _report_unfinished(svc, slot)
    HOLD.arm()
    return svc, slot


def _report_unfinished(svc: TokenService, slot: int) -> None:
    """A reading command also says when a killed run left this token half-written."""
    from ikm_tui.core import journal
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.tokenlock import token_key

    info = svc.run(Backend.token_info, slot)
    left = journal.unfinished(journal.journal_path(token_key(svc.module_path, info.serial, info.label),
                                                   create=False))
    if left is not None:
        print(safe_text(f"ikm-tui: WARNING: {journal.advice(left)}"), file=sys.stderr)


def _lock_token(svc: TokenService, slot: int) -> None:
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.tokenlock import HELD, TokenLock, lock_path

    from ikm_tui.cli.hold import HOLD
    from ikm_tui.core import journal

    info = svc.run(Backend.token_info, slot)
    lock = TokenLock(lock_path(svc.module_path, info.serial, info.label))
    lock.acquire(waiting=lambda: print("ikm-tui: another ikm-tui is writing to this token; waiting...",
                                       file=sys.stderr, flush=True))
    HELD.append(lock)
    # Under the lock: a note found now is from a run that was killed mid-write.
    note = journal.journal_path(lock.path.stem)
    left = journal.unfinished(note)
    if HOLD.argv[:1] == ["journal"]:
        return  # `journal finish|undo` works on that note; it writes no note of its own
    report_only = HOLD.argv[:2] == ["cert", "doctor"] and "--fix" not in HOLD.argv
    if left is not None and journal.has_steps(left) and not report_only:
        # Writing over a half-done operation would lose the only record of what it was doing.
        raise RefusedError(f"An earlier `ikm-tui {safe_text(journal.command_of(left))}` was stopped half-way "
                           "on this token; nothing was changed.",
                           "See how far it got with `ikm-tui journal show`, then `ikm-tui journal finish` "
                           "(complete it) or `ikm-tui journal undo` (put the token back), and run this again.",
                           operation="Checking the token's journal")
    if left is not None:
        print(safe_text(f"ikm-tui: WARNING: {journal.advice(left)}"), file=sys.stderr)
    if HOLD.argv[:2] == ["cert", "doctor"] and (left is None or not journal.has_steps(left)):
        journal.end(note)  # the doctor finishes/cleans what an argv-only note left: it has been read
    if not report_only:
        journal.begin(note, HOLD.argv, info.label)
        HOLD.journal = note
        journal.activate(note)


def print_json(data: Any) -> None:
    # ensure_ascii: control and bidi characters come out as \u escapes, never raw.
    # Written in pieces, not built whole: the text of a 5,000-certificate listing (9 MB) and
    # the ~400k strings it is joined from were a third of that listing's peak memory.
    write = sys.stdout.write
    _encode_indented(data, write)
    write("\n")


_encode_str = json.encoder.encode_basestring_ascii  # the C function, when _json is built
_float_repr = float.__repr__
_int_repr = int.__repr__


def _json_float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return _float_repr(value)


def _json_key(key: Any) -> str:
    if isinstance(key, str):
        return _encode_str(key)
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return '"' + _int_repr(key) + '"'
    if isinstance(key, float):
        return '"' + _json_float(key) + '"'
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def dumps_indented(data: Any) -> str:
    """Exactly `json.dumps(data, indent=2, ensure_ascii=True, default=str)`, about 3x faster.

    With `indent`, the standard library falls back to its pure-Python encoder, which was a
    tenth of `list --json` on a 1,000-object token; this builds the same text with the C string
    escaper. tests/token/test_listing.py compares the two on real listings.
    """
    parts: list[str] = []
    _encode_indented(data, parts.append)
    return "".join(parts)


_CHUNK = 4096  # pieces handed to `write` at once: big enough that a write is rare


def _encode_indented(data: Any, write: Callable[[str], object]) -> None:
    """dumps_indented's text, handed to `write` in chunks (after each element of an array)."""
    out: list[str] = []
    append = out.append
    encode_str = _encode_str
    # Leaves by exact type (no subclasses: an IntEnum or str subclass takes the general path).
    plain = {str: encode_str, bool: lambda b: "true" if b else "false", int: _int_repr,
             type(None): lambda _: "null"}
    # ',\n<indent>"key": ' by indent, then key: a listing repeats the same ~30 keys per object.
    heads: dict[str, dict[str, str]] = {}

    def enc(o: Any, pad: str) -> None:
        if isinstance(o, str):
            append(encode_str(o))
        elif o is None:
            append("null")
        elif o is True:
            append("true")
        elif o is False:
            append("false")
        elif isinstance(o, int):
            append(_int_repr(o))
        elif isinstance(o, float):
            append(_json_float(o))
        elif isinstance(o, dict):
            if not o:
                append("{}")
                return
            inner = pad + "  "
            known = heads.get(inner)
            if known is None:
                known = heads[inner] = {}
            first = True
            for key, value in o.items():
                if type(key) is str:
                    head = known.get(key)
                    if head is None:
                        head = known[key] = ",\n" + inner + encode_str(key) + ": "
                else:
                    head = ",\n" + inner + _json_key(key) + ": "
                if first:
                    head = "{" + head[1:]
                    first = False
                leaf = plain.get(type(value))
                if leaf is not None:
                    append(head + leaf(value))
                else:
                    append(head)
                    enc(value, inner)
            append("\n" + pad + "}")
        elif isinstance(o, (list, tuple)):
            if not o:
                append("[]")
                return
            inner = pad + "  "
            sep = "[\n" + inner
            for value in o:
                leaf = plain.get(type(value))
                if leaf is not None:
                    append(sep + leaf(value))
                else:
                    append(sep)
                    enc(value, inner)
                sep = ",\n" + inner
                if len(out) > _CHUNK:
                    write("".join(out))
                    out.clear()
            append("\n" + pad + "]")
        else:
            enc(str(o), pad)

    enc(data, "")
    write("".join(out))


def show_commands(args: argparse.Namespace, action: str, **ctx: Any) -> None:
    """With --show-command, print the other tools' equivalents of `action` to stderr.

    stderr, so `--json` output on stdout stays parseable. Unknown keys (a `pin` above all) are
    dropped by CommandContext.from_values: no PIN can reach the printed commands.
    """
    if not getattr(args, "show_command", False):
        return
    from ikm_tui.core.text.equivalents import CommandContext, equivalent_commands

    for eq in equivalent_commands(action, CommandContext.from_values(**ctx)):
        if eq.available:
            print(f"# equivalent: {eq.render()}", file=sys.stderr)
            if eq.note:
                print(f"#   {safe_text(eq.note)}", file=sys.stderr)
        else:
            print(f"# equivalent: {eq.tool}: {safe_text(eq.note)}", file=sys.stderr)


def out(text: str) -> None:
    print(safe_text(text))
