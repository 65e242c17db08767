"""Plans shared by delete, rename and the pairing doctor: the exact objects an action will touch.

A plan is a frozen dataclass naming the objects (handle, class, label, CKA_ID) it will touch, so
the CLI can print it and a UI can ask for confirmation. `apply_*` re-lists the token and refuses
(`recheck`) when an object of the plan changed or vanished: never "the first match by label".
"""

from __future__ import annotations

from dataclasses import dataclass

from ikm_tui.core.errors import IkmError, NotFoundError, RefusedError
from ikm_tui.core.model import Listing, ObjClass, ObjectInfo
from ikm_tui.core.ops.common import describe_key
from ikm_tui.core.sanitize import safe_text

KINDS = {ObjClass.CERTIFICATE: "certificate", ObjClass.PRIVATE_KEY: "private key",
          ObjClass.PUBLIC_KEY: "public key", ObjClass.SECRET_KEY: "secret key", ObjClass.DATA: "data object"}


def describe(o: ObjectInfo) -> str:
    """One line an operator can check before confirming: class, label, id, and what it is."""
    kind = KINDS.get(o.cls, o.cls.value)
    if o.cls is ObjClass.CERTIFICATE and o.cert is not None:
        c = o.cert
        extra = f" subject={c.subject} serial={c.serial} sha256={c.sha256[:16]}"
    elif o.cls in (ObjClass.PRIVATE_KEY, ObjClass.PUBLIC_KEY, ObjClass.SECRET_KEY):
        extra = " " + describe_key(o).split(" ", 2)[-1]
    elif o.cls is ObjClass.DATA:
        extra = f" application={o.application!r}"
    else:
        extra = ""
    return safe_text(f"{kind} {o.label!r} id={o.id.hex() or '-'}{extra}")


@dataclass(frozen=True)
class Plan:
    """Objects an action will change; `warnings` must be shown before confirming."""

    action: str  # "delete" | "rename"
    objects: tuple[ObjectInfo, ...]
    new_label: str | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadBack:
    """An attribute as a fresh session reads it after a write."""

    obj: ObjectInfo
    wanted: str
    actual: str | None  # None: the object was not found any more

    @property
    def ok(self) -> bool:
        return self.actual == self.wanted


class Ambiguous(RefusedError):
    """Several objects match; `candidates` lets a UI offer them instead of guessing."""

    candidates: tuple[ObjectInfo, ...] = ()


def ambiguous(what: str, label: str, found: list[ObjectInfo], hint: str) -> Ambiguous:
    lines = "\n".join("  " + describe(o) for o in found)
    err = Ambiguous(f"{len(found)} {what}s are labelled {safe_text(label)!r}; nothing was done:\n{lines}",
                    hint)
    err.candidates = tuple(found)
    return err


def select(listing: Listing, label: str, classes: tuple[ObjClass, ...], key_id: bytes | None,
            sha256: str | None = None) -> list[ObjectInfo]:
    out = [o for o in listing.objects if o.cls in classes and o.label == label]
    if key_id is not None:
        out = [o for o in out if o.id == key_id]
    if sha256:
        out = [o for o in out if o.cert is not None and o.cert.sha256.startswith(sha256.lower())]
    return out


def labels_of(listing: Listing, classes: tuple[ObjClass, ...]) -> str:
    labels = sorted({repr(o.label) for o in listing.objects if o.cls in classes})
    return ", ".join(labels) if labels else "none"


def recheck(listing: Listing, planned: tuple[ObjectInfo, ...]) -> list[ObjectInfo]:
    """The planned objects in a new listing; refuses if any vanished or changed."""
    out = []
    for p in planned:
        cur = listing.by_handle(p.handle)
        if cur is None or cur.cls is not p.cls or cur.id != p.id or cur.label != p.label or cur.value != p.value:
            raise IkmError(f"The token changed since the plan was made ({describe(p)} is gone or different); "
                           "nothing was changed.", "Run the command again and check what it prints.")
        out.append(cur)
    return out


def one_certificate(listing: Listing, label: str, key_id: bytes | None, sha256: str | None,
                    operation: str) -> ObjectInfo:
    """The one certificate with this label (narrowed by CKA_ID / SHA-256 prefix), else the
    not-found or ambiguous error naming `operation` (delete and extract ask the same question)."""
    found = select(listing, label, (ObjClass.CERTIFICATE,), key_id, sha256)
    if not found:
        raise NotFoundError(f"No certificate labelled {safe_text(label)!r}"
                            + (f" with id {key_id.hex()}" if key_id is not None else "") + " on this token. "
                            f"Certificates present: {safe_text(labels_of(listing, (ObjClass.CERTIFICATE,)))}.",
                            "Check the label with `ikm-tui list`.", operation=operation)
    if len(found) > 1:
        same_id = len({o.id for o in found}) == 1
        hint = ("They share one CKA_ID: pick one with --sha256 PREFIX (its fingerprint)." if same_id
                else "Pick one with --id HEX (or --sha256 PREFIX).")
        err = ambiguous("certificate", label, found, hint)
        err.operation = operation
        raise err
    return found[0]
