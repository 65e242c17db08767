"""`cert doctor`, second half: CKA_ID repairs for pairs other tools made (core/ops/repair_ids.py)."""

from __future__ import annotations

from typing import Any

from ikm_tui.core.errors import RefusedError
from ikm_tui.core.sanitize import safe_text


def _say(text: str) -> None:
    print(safe_text(text))


def report(svc: Any, slot: int, with_public_keys: bool) -> Any:
    """Print findings and the plan; returns the IdReport."""
    from ikm_tui.core.ops.repair_ids import diagnose_ids

    rep, missing_public = svc.run(diagnose_ids, slot, with_public_keys=with_public_keys)
    for cert, _key in rep.challenge_passed:
        _say(f"paired by CKA_ID {cert.id.hex()}: certificate {cert.label!r} and its key (no public key on the "
             "token to compare; a sign-and-verify challenge proved the pair)")
    for cert, key in rep.challenge_failed:
        _say(f"WRONG PAIR: certificate {cert.label!r} and private key {key.label!r} share CKA_ID {cert.id.hex()}, "
             "but the key does not sign for the certificate's public key; Java and NSS will use them together")
    for group in rep.shared_ids:
        _say(f"CKA_ID {group[0].id.hex()} is shared by {len(group)} private keys of different public keys: "
             + "; ".join(repr(k.label) for k in group))
    for r in rep.id_repairs:
        _say(f"problem: {r.problem}")
        _say(f"repair: {r.describe()}")
    for r in rep.public_keys:
        _say(f"repair: {r.describe()}")
    if missing_public and not with_public_keys:
        _say(f"note: {missing_public} key(s) have no public-key object (NSS shows their certificates as user "
             "certificates only after login); add --public-keys to recreate them from the certificates")
    return rep


def todo(rep: Any) -> int:
    return len([r for r in rep.id_repairs if r.blocked is None]) + len(rep.public_keys)


def apply(svc: Any, slot: int, rep: Any) -> int:
    """Apply the unblocked repairs one group at a time; returns how many did not read back."""
    from ikm_tui.core.ops.repair_ids import apply_id_repair, apply_public_key

    bad = 0
    for r in rep.id_repairs:
        if r.blocked is not None:
            continue
        back = svc.run(apply_id_repair, slot, r)
        for o in r.objects:
            got = back.get(o.handle)
            ok = got == r.new_id
            bad += not ok
            state = "ok" if ok else f"READ BACK {got.hex() if got is not None else 'NOT FOUND'}"
            _say(f"set CKA_ID {r.new_id.hex()} on {o.cls.value.replace('_', ' ')} {o.label!r}: {state}")
    for r in rep.public_keys:
        svc.run(apply_public_key, slot, r)
        _say(f"created public key {r.cert.label!r} id={r.key.id.hex()} from the certificate")
    return bad


def require_yes(n: int) -> None:
    raise RefusedError(f"{n} repair(s) planned; nothing changed.", "Add --yes to apply them.")
