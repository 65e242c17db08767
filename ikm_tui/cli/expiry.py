"""`ikm-tui expiry [--within DAYS] [--json]`: every certificate on every token of every module, soonest first."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ikm_tui.cli import exitcodes
from ikm_tui.cli.common import add_common
from ikm_tui.cli.jsonout import add_json, emit
from ikm_tui.core.ops.expiry import DEFAULT_WITHIN, ExpiryReport, ExpiryRow
from ikm_tui.core.sanitize import safe_text

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers

EPILOG = f"""\
Reads public objects only: no PIN, no login. Whether a certificate's key is on the token is told
by its public-key object before login (`key` = public), by the private key when the token shows it
(`key` = private). The p11-kit trust module (the system CA list) is left out.

examples:
  ikm-tui expiry                            every token of every module, soonest first
  ikm-tui expiry --within 14 --json         for monitoring: exit status {exitcodes.EXPIRING} when something is due
  ikm-tui --module /usr/lib/softhsm/libsofthsm2.so expiry          one module
  ikm-tui --remote 'ssh mq@dr-host p11-kit remote /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so' expiry
  in cron:  ikm-tui expiry --within 30 >/dev/null || mail -s "certificates due" ops@example.com

exit status:
  0  nothing has expired or expires within DAYS (every token was read)
  1  nothing is due, but a token, a remote or a module given with --module could not be read
     (modules merely found on this host that fail to load are reported, not counted)
  {exitcodes.EXPIRING}  a certificate has expired or expires within DAYS (whatever else failed)
  2  usage error
"""


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser(
        "expiry", help="every certificate on every token (and remote), soonest first; exit 6 when one is due",
        description="List every certificate on every token of every module (and every --remote), soonest "
                    "first, with days left, module, token, label, subject and whether its key is on the token.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common(p, top=False)
    p.add_argument("--within", metavar="DAYS", type=_days, default=DEFAULT_WITHIN,
                   help=f"the window: certificates expiring in fewer than DAYS days (or expired) are due "
                        f"(default {DEFAULT_WITHIN})")
    add_json(p, "expiry", capture=False)
    p.set_defaults(func=cmd_expiry)


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("DAYS cannot be negative")
    return value


def cmd_expiry(args: argparse.Namespace) -> int:
    from ikm_tui.core.ops.expiry import collect
    from ikm_tui.core.p11.modules import discover, is_trust_module, remote_candidates
    from ikm_tui.core.p11.service import get_service

    explicit = getattr(args, "module", None)
    cands = discover(explicit)
    if explicit:  # that module, and the remotes (unless it is one of them)
        cands = cands[:1] + [c for c in remote_candidates() if c.path != cands[0].path]
    else:
        cands = [c for c in cands if not is_trust_module(c.path)]
    report = collect(cands, get_service, token=getattr(args, "token", None),
                     counts=lambda c: c.source in ("--module", "--remote", "remotes.toml", "IKM_MODULE"))
    due = [r for r in report.rows if r.within(args.within)]
    if args.json:
        emit("expiry", _document(report, args.within, len(due)))
    else:
        _print(report, args.within)
    if due:
        return exitcodes.EXPIRING
    return exitcodes.FAILED if any(p.counts for p in report.problems) else exitcodes.OK


def row_json(r: ExpiryRow, within: int) -> dict[str, Any]:
    return {"days_left": r.days_left, "expired": r.expired, "due": r.within(within),
            "not_after": r.not_after.isoformat() if r.not_after else None,
            "module": r.module, "module_path": r.module_path, "token": r.token, "token_serial": r.token_serial,
            "label": r.label, "id": r.id.hex(), "subject": r.subject, "issuer": r.issuer,
            "key_on_token": r.key is not None, "key": r.key}


def _document(report: ExpiryReport, within: int, due: int) -> dict[str, Any]:
    return {"within_days": within, "due": due, "tokens_read": report.tokens,
            "certificates": [row_json(r, within) for r in report.rows],
            "problems": [{"module": p.module, "module_path": p.module_path, "token": p.token, "error": p.error,
                          "counts": p.counts} for p in report.problems]}


def _print(report: ExpiryReport, within: int) -> None:
    for p in report.problems:
        where = p.module + (f" token {p.token!r}" if p.token is not None else "")
        if p.counts:
            print(safe_text(f"ikm-tui: {where}: {p.error}", multiline=True), file=sys.stderr)
        else:  # found on this host, not asked for: one line (`ikm-tui tokens` says why)
            print(safe_text(f"ikm-tui: note: module {where} did not load (see `ikm-tui tokens`)"), file=sys.stderr)
    if not report.rows:
        print(f"no certificates on {report.tokens} token(s)")
        return
    print(f"{'LEFT':>8}  {'NOT AFTER':<10}  KEY  {'MODULE':<24}  {'TOKEN':<20}  {'LABEL':<20}  SUBJECT")
    for r in report.rows:
        left = "-" if r.days_left is None else "EXPIRED" if r.expired else f"{r.days_left}d"
        mark = "!" if r.within(within) else " "
        when = r.not_after.date().isoformat() if r.not_after else "-"
        key = {"private": "yes", "public": "yes", None: "no"}[r.key]
        print(safe_text(f"{mark}{left:>7}  {when:<10}  {key:<3}  {_short(r.module, 24):<24}  "
                        f"{_short(r.token, 20):<20}  {_short(r.label, 20):<20}  {r.subject}"))


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1):]
