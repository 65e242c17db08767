"""`export-config`: pick a key of the open token and write what Java, NSS, OpenSSL or MQ need to use it.

`pick_key` runs on the token's owner thread (a listing); `write_bundle` runs anywhere and only
writes files, all through core/files.write_file: nothing existing is replaced without `force`,
and when one file is refused none is written.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ikm_tui.core.errors import IkmError, NotFoundError, RefusedError
from ikm_tui.core.files import check_target, write_error, write_file
from ikm_tui.core.model import ObjClass
from ikm_tui.core.ops.plans import describe
from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.sanitize import safe_text
from ikm_tui.core.seen_by import EngineView, seen_by
from ikm_tui.core.text.use_elsewhere import Bundle, KeyUse

_OP = "Exporting the configuration"


def pick_key(backend: Backend, slot_id: int, label: str | None, key_id: bytes | None) -> KeyUse:
    """The private key named by label and/or CKA_ID (the only one when neither is given), and its views."""
    listing = backend.list_objects(slot_id)
    keys = [o for o in listing.objects if o.cls is ObjClass.PRIVATE_KEY
            and (label is None or o.label == label) and (key_id is None or o.id == key_id)]
    if not keys:
        hint = "" if listing.logged_in else " (not logged in: private keys are hidden; give the PIN)"
        what = " ".join(filter(None, [f"labelled {safe_text(label)!r}" if label is not None else "",
                                      f"with CKA_ID {key_id.hex()}" if key_id is not None else ""]))
        raise NotFoundError(f"No private key {what or 'at all'} on this token{hint}.",
                            "Check with `ikm-tui list --login`.", operation=_OP)
    if len(keys) > 1:
        lines = "\n".join("  " + describe(o) for o in keys)
        raise RefusedError(f"{len(keys)} private keys match; nothing was written:\n{lines}",
                           "Say which with --key LABEL and/or --id HEX.", operation=_OP)
    key = keys[0]
    view = seen_by(listing)[key.handle]
    cert = listing.by_handle(view.tools_partner) if view.tools_partner is not None else None
    return KeyUse(module=backend.module_path, token_label=listing.token.label, token_serial=listing.token.serial,
                  slot_id=slot_id, key_label=key.label, key_id=key.id, key_type=key.key_type,
                  cert_label=cert.label if cert is not None and cert.cls is ObjClass.CERTIFICATE else None,
                  java=view.java, nss=view.nss, engine=view.openssl or _no_engine())


def _no_engine() -> EngineView:
    return EngineView(False, None, "no engine verdict for this key")


def _out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """The directory, made (0755) if missing; anything but a directory there is refused.

    A symlink to a directory is followed, as write_file follows the directories above a file: the
    O_NOFOLLOW rule is for the files themselves (a planted link there is refused).
    """
    path = Path(out_dir).expanduser()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        try:
            path.mkdir(mode=0o755, parents=True)
        except OSError as exc:
            raise IkmError(f"Cannot make the directory {safe_text(str(path))}: {exc.strerror}.",
                           "Give a directory you can write to (--out DIR).", operation=_OP) from None
        return path
    if not stat.S_ISDIR(st.st_mode):
        raise IkmError(f"{safe_text(str(path))} is not a directory; nothing was written.",
                       "Give a directory (--out DIR); it is made when missing.", operation=_OP)
    return path


def write_bundle(bundle: Bundle, out_dir: str | os.PathLike[str], *, force: bool = False) -> list[Path]:
    """Write every file of the bundle into out_dir; refuse (writing none) when one exists without force."""
    where = _out_dir(out_dir)
    targets = [(where / a.name, a) for a in bundle.files]
    taken = [p for p, _ in targets if os.path.lexists(p)]
    if taken and not force:
        raise RefusedError(f"{', '.join(safe_text(p.name) for p in taken)} already in {safe_text(str(where))}; "
                           "nothing was written.", "Give another --out DIR, or add --force to replace them.",
                           operation=_OP)
    for path, _ in targets:
        check_target(path)
    written = []
    for path, art in targets:
        try:
            written.append(write_file(path, art.text, overwrite=force, mode=art.mode))
        except OSError as exc:
            raise write_error(path, exc) from None
    return written
