"""Small helpers every use case shares: the one login guard, a key's one-line description, PEM text."""

from __future__ import annotations


from ikm_tui.core.errors import IkmError
from ikm_tui.core.model import ObjectInfo
from ikm_tui.core.p11.backend import Backend


def require_login(backend: Backend, slot_id: int, what: str) -> None:
    """IkmError (CKR_USER_NOT_LOGGED_IN) unless the token is logged in: private keys are only
    visible, and usable, after a login. `what` names the operation ("Receiving a certificate")."""
    if not backend.is_logged_in(slot_id):
        raise IkmError(f"{what} needs a login with the user PIN.",
                       "Log in (TUI key `l`; CLI: --login, --pin-file FILE or IKM_PIN) and retry.",
                       "CKR_USER_NOT_LOGGED_IN", 0x101)


def describe_key(o: ObjectInfo) -> str:
    kind = o.key_type or "?"
    if o.curve and o.key_type == "ec":
        kind += f":{o.curve}"
    elif o.bits:
        kind += f":{o.bits}"
    return f"{o.label!r} id={o.id.hex() or '-'} {kind}"
