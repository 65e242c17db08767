"""`ikm-tui help [TOPIC | COMMAND...]`: the topics a man page would hold, and any command's --help."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ikm_tui.cli.common import Subparsers

EPILOG = """\
examples:
  ikm-tui help                  the topics
  ikm-tui help exit-codes       what each exit status means
  ikm-tui help json             the --json schemas and where their files are
  ikm-tui help cert receive     the same as `ikm-tui cert receive --help`
"""

PIN = """\
The PIN is never a command-line value (argv is readable by every user: ps, /proc/PID/cmdline,
shell history); `--pin`, `--so-pin` and `--user-pin` are refused with exit status 2. ikm-tui takes
the user PIN from, in order:
  --pin-file FILE   the first line of FILE, which must be mode 0600 (else exit status 5)
  IKM_PIN           the environment (visible to your other processes via /proc)
  a prompt          on a terminal, with --login or when the command needs a login
Without a terminal and without the two above, a command that needs the PIN stops (exit status 5).
A wrong PIN is never retried. FINAL TRY on the token: logging in needs --confirm-final-try.
"""

COMPLETION = """\
Completion scripts are generated from ikm-tui's own parser:
  bash:  ikm-tui completion bash > ~/.local/share/bash-completion/completions/ikm-tui
  zsh:   ikm-tui completion zsh > ~/.zfunc/ikm-tui.zsh   and in ~/.zshrc: source ~/.zfunc/ikm-tui.zsh
  fish:  ikm-tui completion fish > ~/.config/fish/completions/ikm-tui.fish
"""


def _exit_codes() -> str:
    from ikm_tui.cli.exitcodes import EPILOG as TABLE

    return TABLE


def _json() -> str:
    from ikm_tui.cli import schemadefs
    from ikm_tui.cli.jsonout import SCHEMA_DIR, SCHEMA_VERSION, schema_id

    lines = [
        "Every command that reports something takes --json. Each document starts with a \"schema\" key,",
        f"\"ikm-tui/<name>/v{SCHEMA_VERSION}\", naming its JSON Schema (draft 2020-12) file in",
        f"  {SCHEMA_DIR}",
        "Keys that do not apply are present as null (or []), never left out. The version changes when a key",
        "is renamed, removed or changes type; keys may be added within a version.",
        "Action commands (create, receive, extract, delete, ...) print {results..., \"messages\": [the text",
        "lines], \"error\": null | {message, next_step, ckr, exit_status}}, also when they fail. Reports",
        "(list, tokens, certreq list, ...) print nothing on stdout when they fail: the error is on stderr.",
        "",
        "schemas:",
    ]
    lines += [f"  {schema_id(n):<34} {n}.v{SCHEMA_VERSION}.json" for n in schemadefs.names()]
    return "\n".join(lines) + "\n"


REMOTE = """\
Remote tokens go through p11-kit's own RPC (no protocol of ikm-tui's): any command that speaks it
on stdin/stdout, usually `p11-kit remote MODULE` on the other host over ssh:
  ikm-tui --remote 'ssh -o BatchMode=yes mq@dr-host p11-kit remote /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so' tokens
Each --remote (repeatable) is a module of its own in `tokens`, `list`, `expiry` and the TUI tree.
Named remotes live in $XDG_CONFIG_HOME/ikm-tui/remotes.toml (default ~/.config/ikm-tui/remotes.toml):
  [remote.dr-host]
  command = "ssh -o BatchMode=yes mq@dr-host p11-kit remote /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
They are always listed; `--module dr-host` selects one (`--token` picks the first module that has it).
The remote host needs p11-kit (package p11-kit) and the module; no agent forwarding, no open port.
The PIN goes from your prompt through the ssh channel to C_Login on the remote module; it is never
stored on either host. Use key-based ssh (BatchMode): a password prompt would fight the TUI.
Every PKCS#11 call is one round trip: listings cost one attribute read per object.
"""

FILES = """\
What ikm-tui keeps off the token (XDG base directories, default in brackets):
  $XDG_CACHE_HOME/ikm-tui/certs-*.marshal  [~/.cache] what each certificate listed says, by its SHA-256:
        public contents only (0600), so a listing parses only new certificates; safe to delete
  $XDG_CACHE_HOME/ikm-tui/remote/          a copy of p11-kit-client.so per --remote command (0700)
  $XDG_CONFIG_HOME/ikm-tui/remotes.toml    [~/.config] named remotes (`ikm-tui help remote`)
  $XDG_STATE_HOME/ikm-tui/journal/         [~/.local/state] the intent of a token write in progress
        (0600, never a PIN); one is left only by a killed run: `ikm-tui journal show|finish|undo`
  $XDG_STATE_HOME/ikm-tui/locks/           a lock file per token: one writer at a time
  $XDG_DATA_HOME/ikm-tui/requests/         [~/.local/share] requests of tokens that refuse to hold them
  $XDG_DATA_HOME/ikm-tui/ca/               what a token CA issued (append-only, 0600)
  $XDG_DATA_HOME/ikm-tui/demo/             the demo SoftHSM token (`ikm-tui demo`)
ikm-tui writes no PIN anywhere (the TUI keeps one in the OS keyring only when asked to).
Environment: IKM_PIN (`ikm-tui help pin`), IKM_MODULE (the default --module), IKM_CERT_CACHE=off
(no certificate cache), IKM_ASCII=1|0 (force or forbid plain-ASCII drawing), IKM_DEBUG=1 (the
traceback of an internal error), SOFTHSM2_CONF (SoftHSM's own).
"""

TOPICS = {"exit-codes": _exit_codes, "json": _json, "pin": lambda: PIN, "completion": lambda: COMPLETION,
          "remote": lambda: REMOTE, "files": lambda: FILES}


def register(subparsers: Subparsers) -> None:
    p = subparsers.add_parser("help", help="help topics (exit-codes, json, pin, completion, remote, files) "
                                           "or a command's help",
                              description="Show a help topic, or the --help of a command.",
                              epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("topic", nargs="*", metavar="TOPIC|COMMAND", help=", ".join(TOPICS) + ", or a command")
    p.set_defaults(func=run, needs_parser=True)


def run(args: argparse.Namespace) -> int:
    from ikm_tui.cli.exitcodes import NOT_FOUND

    if not args.topic:
        print("topics: " + ", ".join(TOPICS) + "\ncommands: `ikm-tui help COMMAND` (e.g. `ikm-tui help cert receive`)")
        return 0
    if len(args.topic) == 1 and args.topic[0] in TOPICS:
        print(TOPICS[args.topic[0]](), end="")
        return 0
    parser: argparse.ArgumentParser = args.root_parser
    for word in args.topic:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]  # noqa: SLF001
        if not subs or word not in subs[0].choices:
            import sys

            print(f"ikm-tui help: no topic or command {' '.join(args.topic)!r}; topics: {', '.join(TOPICS)}",
                  file=sys.stderr)
            return NOT_FOUND
        parser = subs[0].choices[word]
    parser.print_help()
    return 0
