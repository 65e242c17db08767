"""RequestForm: the "New request" / "New self-signed certificate" dialog, gated by what the token can do.

The key types offered are exactly the supported choices of core.requests.KeyCapabilities; the
others are listed under the Select with the token's reason, so nothing disappears silently.
Every field is checked as it is typed (core.dn.parse_dn, parse_san, csr.check_extensions), so a
bad DN or EKU is refused before a key generation is spent on it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Select, Static

from ikm_tui.core.hexid import parse_hex_id
from ikm_tui.core.x509 import csr as csrlib
from ikm_tui.core.x509.dn import parse_dn, parse_san
from ikm_tui.core.x509.request_lint import request_warnings
from ikm_tui.core.ops.capabilities import KeyCapabilities, KeyChoice
from ikm_tui.ui.text import literal

# Shared with the CLI (core/x509/defaults.py): a request gets the same extensions from either.
from ikm_tui.core.x509.defaults import DEFAULT_EKU, default_key_usage


def split_items(text: str) -> tuple[str, ...]:
    """`a, b c` -> ("a", "b", "c"): commas or spaces separate SANs, key usages and EKUs."""
    return tuple(p for p in re.split(r"[,\s]+", text.strip()) if p)


def _hex_id(text: str) -> bytes | None:
    """CKA_ID from hex (`01:a2 ff` allowed); None when empty or not hex."""
    try:
        return parse_hex_id(text) or None
    except ValueError:
        return None


@dataclass(frozen=True)
class RequestFormResult:
    """What the operator asked for; the same arguments core.requests.create_request takes."""

    label: str
    key_type: str
    hash: str | None
    subject: str
    sans: tuple[str, ...]
    key_usage: tuple[str, ...]
    eku: tuple[str, ...]
    days: int | None = None  # self-signed only
    key_id: bytes | None = None  # None: SHA-1 of the public key (the NSS/OpenSC convention)


class RequestForm(ModalScreen[RequestFormResult | None]):
    DEFAULT_CSS = """
    RequestForm {
        align: center middle;
    }
    #form-dialog {
        width: 76;
        height: auto;
        max-height: 100%;
        padding: 0 1;
    }
    #form-dialog .form-row {
        height: 1;
    }
    #form-dialog .form-caption {
        width: 12;
        color: $text-muted;
    }
    #form-dialog Input, #form-dialog Select {
        width: 1fr;
    }
    #form-unsupported {
        margin-left: 12;
        height: auto;
    }
    #form-warning {
        margin-top: 1;
    }
    #form-error {
        margin-top: 1;
        height: auto;
    }
    #form-buttons {
        height: 1;
        margin-top: 1;
    }
    #form-buttons Button {
        margin-right: 2;
    }
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel", tooltip="Close without creating anything"),
        Binding("ctrl+s", "submit", "Create", id="form.submit", tooltip="Check every field and create"),
    ]

    def __init__(self, caps: KeyCapabilities, *, self_signed: bool = False, token_label: str = "",
                 taken_labels: Collection[str] = ()) -> None:
        super().__init__()
        self.caps = caps
        self.self_signed = self_signed
        self.token_label = token_label
        self.taken_labels = set(taken_labels)
        self._ku_edited = False  # once typed in, a key type change no longer resets the key usage
        self._first = next((c for c in caps.choices if c.supported), None)

    # ----- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        what = "self-signed certificate" if self.self_signed else "certificate request"
        first = self._first
        with VerticalScroll(id="form-dialog", classes="dialog"):
            yield Static(literal(f"New {what} on {self.token_label}", "bold"), classes="dialog-title")
            yield from self._row("Label", Input(id="form-label", placeholder="key and request label",
                                                compact=True))
            yield from self._row("Key type", Select(
                [(c.key_type, c.key_type) for c in self.caps.choices if c.supported],
                id="form-key-type", allow_blank=False if first else True, compact=True,
                value=first.key_type if first else Select.NULL))
            yield Static(self._unsupported_text(), id="form-unsupported")
            yield from self._row("Hash", Select([], id="form-hash", compact=True))
            yield from self._row("Subject", Input(id="form-subject", compact=True,
                                                  placeholder="CN=host,O=Org | cn=host,o=Org | /O=Org/CN=host"))
            yield from self._row("SANs", Input(id="form-sans", compact=True,
                                               placeholder="DNS:host.example, IP:10.0.0.1, email:a@b"))
            yield from self._row("Key usage", Input(id="form-ku", compact=True,
                                                    value=default_key_usage(first.key_type) if first else ""))
            yield from self._row("Ext. usage", Input(id="form-eku", compact=True, value=DEFAULT_EKU))
            yield from self._row("Key ID", Input(id="form-id", compact=True,
                                                 placeholder="hex; empty = SHA-1 of the public key"))
            if self.self_signed:
                yield from self._row("Days", Input("365", id="form-days", compact=True, type="integer"))
            yield Static(id="form-warning")
            yield Checkbox("I understand: create the Ed25519 key anyway", id="form-ed25519-ok", compact=True)
            yield Static(id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Create", id="form-ok", variant="primary", compact=True)
                yield Button("Cancel", id="form-cancel", compact=True)

    @staticmethod
    def _row(caption: str, widget: Input | Select[str]) -> ComposeResult:
        with Horizontal(classes="form-row"):
            yield Static(Content(caption), classes="form-caption")
            yield widget

    def _unsupported_text(self) -> Content:
        off = [c for c in self.caps.choices if not c.supported]
        if not self._first:
            return literal("This token cannot make any key type ikm-tui offers:\n"
                           + "\n".join(f"  {c.key_type}: {c.reason}" for c in off), "bold red", multiline=True)
        if not off:
            return Content("")
        return literal("Not offered by this token:\n" + "\n".join(f"  {c.key_type}: {c.reason}" for c in off),
                       "dim", multiline=True)

    def on_mount(self) -> None:
        self.query_one("#form-ok", Button).disabled = self._first is None
        self.query_one("#form-unsupported", Static).display = any(not c.supported for c in self.caps.choices)
        self._key_type_changed()
        self._validate()
        self.query_one("#form-label", Input).focus()

    # ----- live checks ------------------------------------------------------------------------
    def _choice(self) -> KeyChoice | None:
        value = self.query_one("#form-key-type", Select).value
        return self.caps.choice(value) if isinstance(value, str) else None

    @on(Select.Changed, "#form-key-type")
    def _key_type_changed(self) -> None:
        choice = self._choice()
        hash_select: Select[str] = self.query_one("#form-hash", Select)
        warning = self.query_one("#form-warning", Static)
        confirm = self.query_one("#form-ed25519-ok", Checkbox)
        if choice is None:
            return
        if choice.key_type == "ed25519":
            hash_select.set_options([("SHA-512 (part of Ed25519)", "")])
            hash_select.value = ""
            hash_select.disabled = True
        else:
            hash_select.disabled = False
            off = [f"{h.name} (no: {h.reason})" for h in choice.hashes if not h.supported]
            hash_select.set_options([(h, h) for h in choice.usable_hashes])
            if choice.default_hash:
                hash_select.value = choice.default_hash
            hash_select.tooltip = literal("Not possible here: " + "; ".join(off)) if off else None
        warning.update(literal(choice.warning, "bold yellow", multiline=True) if choice.warning else Content(""))
        warning.display = bool(choice.warning)
        confirm.display = bool(choice.warning)
        confirm.value = False
        if not self._ku_edited:
            ku = self.query_one("#form-ku", Input)
            ku.value = default_key_usage(choice.key_type)
            self._ku_edited = False
        self._validate()

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "form-ku" and event.input.has_focus:
            self._ku_edited = True
        self._validate()

    @on(Checkbox.Changed, "#form-ed25519-ok")
    def _confirm_changed(self) -> None:
        self._validate()

    def problems(self) -> list[str]:
        """What stops the form from being submitted, in field order ([] when it can go)."""
        out: list[str] = []
        label = self.query_one("#form-label", Input).value
        if not label.strip():
            out.append("Label: give the key a label (the certificate will carry the same one).")
        elif label in self.taken_labels:
            out.append(f"Label: {label!r} is already used by a key or pending request on this token.")
        choice = self._choice()
        if choice is None:
            out.append("Key type: this token offers none.")
            return out
        subject_text = self.query_one("#form-subject", Input).value
        subject = None
        if not subject_text.strip():
            out.append("Subject: give a DN, e.g. CN=host.example,O=Org.")
        else:
            try:
                subject = parse_dn(subject_text)
            except (ValueError, TypeError) as exc:
                out.append(f"Subject: {exc}")
        sans = split_items(self.query_one("#form-sans", Input).value)
        try:
            parse_san(list(sans))
        except (ValueError, TypeError) as exc:
            out.append(f"SANs: {exc}")
            sans = ()
        ku = split_items(self.query_one("#form-ku", Input).value)
        eku = split_items(self.query_one("#form-eku", Input).value)
        if subject is not None:
            try:
                csrlib.check_extensions(subject=subject, key_alg=choice.key_type.split(":")[0],
                                        sans=list(sans), key_usage=list(ku), eku=list(eku))
            except (ValueError, TypeError) as exc:
                out.append(f"Usage: {exc}")
        key_id = self.query_one("#form-id", Input).value.strip()
        if key_id and not _hex_id(key_id):
            out.append("Key ID: hex digits (e.g. 01a2ff), or empty for SHA-1 of the public key.")
        if self.self_signed:
            days = self.query_one("#form-days", Input).value
            if not days.isdigit() or int(days) < 1:
                out.append("Days: a whole number of at least 1.")
        if choice.warning and not self.query_one("#form-ed25519-ok", Checkbox).value:
            out.append("Ed25519: tick the box to confirm you read the warning.")
        return out

    def _validate(self) -> list[str]:
        problems = self.problems()
        err = self.query_one("#form-error", Static)
        # Only the first problem: at 80×24 the dialog has no room for a list.
        err.update(literal(problems[0], "bold red", multiline=True) if problems else
                   literal("Ready: Create (ctrl+s) generates the key on the token.", "green"))
        return problems

    def warnings(self) -> list[str]:
        """What would make the signed certificate fail TLS (core request_lint), for a complete form."""
        choice = self._choice()
        if choice is None:
            return []
        return request_warnings(choice.key_type, self.query_one("#form-subject", Input).value,
                                split_items(self.query_one("#form-sans", Input).value),
                                split_items(self.query_one("#form-ku", Input).value),
                                split_items(self.query_one("#form-eku", Input).value))

    def result(self) -> RequestFormResult:
        choice = self._choice()
        assert choice is not None
        hash_value = self.query_one("#form-hash", Select).value
        days = self.query_one("#form-days", Input).value if self.self_signed else ""
        return RequestFormResult(
            label=self.query_one("#form-label", Input).value,
            key_type=choice.key_type,
            hash=hash_value if isinstance(hash_value, str) and hash_value else None,
            subject=self.query_one("#form-subject", Input).value.strip(),
            sans=split_items(self.query_one("#form-sans", Input).value),
            key_usage=split_items(self.query_one("#form-ku", Input).value),
            eku=split_items(self.query_one("#form-eku", Input).value),
            days=int(days) if days.isdigit() else None,
            key_id=_hex_id(self.query_one("#form-id", Input).value.strip()),
        )

    # ----- buttons ----------------------------------------------------------------------------
    @on(Input.Submitted)
    def _enter(self) -> None:
        # Enter creates once the form is complete; until then it moves on to the next field.
        if self.problems():
            self.focus_next()
        else:
            self.action_submit()

    @on(Button.Pressed, "#form-ok")
    def action_submit(self) -> None:
        if self._validate():
            self.app.bell()
            return
        # Not blockers (the operator may know better), but said now, before any CA sees the request.
        for warning in self.warnings():
            self.app.notify(warning, title="The signed certificate would fail TLS", severity="warning", timeout=30)
        self.dismiss(self.result())

    @on(Button.Pressed, "#form-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
