"""Issue #19 item 3: concurrent writers to one token are serialised by a per-token lock file, and the
label checks run under it: two `certreq create --label X` at once give one key pair and one request."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ikm_tui.core.p11.backend import Backend
from ikm_tui.core.tokenlock import TokenLock, lock_path


def _create(tok: Any, label: str, out: Path, state: Path) -> subprocess.Popen[str]:
    env = tok.env()
    env.update(IKM_PIN=tok.pin, XDG_STATE_HOME=str(state))
    return subprocess.Popen([sys.executable, "-m", "ikm_tui", "--module", tok.module, "--token", tok.label,
                             "certreq", "create", "--label", label, "--key-type", "rsa:2048",
                             "--subject", f"CN={label}", "--out", str(out)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_two_concurrent_creates_with_one_label_make_one_pair(token: Any, tmp_path: Path) -> None:
    procs = [_create(token, "X", tmp_path / f"x{i}.csr", tmp_path / "state") for i in range(2)]
    results = [(p.wait(120), *p.communicate()) for p in procs]
    codes = sorted(rc for rc, _, _ in results)
    assert codes == [0, 3], results  # 3: refused, the label is taken (cli/exitcodes.py)
    loser = next(err for rc, _, err in results if rc == 3)
    assert "already exists" in loser and "Traceback" not in loser
    token.login()
    objs = [o for o in token.service.run(Backend.list_objects, token.slot_id).objects if o.label == "X"]
    assert sorted(o.cls.value for o in objs) == ["data", "private_key", "public_key"], objs


def test_lock_file_is_private_and_waits_for_the_holder(token: Any, tmp_path: Path,
                                                       monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    path = lock_path(token.module, "serial", "label")
    holder = TokenLock(path)
    holder.acquire()
    assert (path.stat().st_mode & 0o777) == 0o600 and (path.parent.stat().st_mode & 0o777) == 0o700
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            raise AssertionError("the lock was not held")
        except BlockingIOError:
            pass
        told: list[bool] = []
        other = TokenLock(path)
        try:
            other.acquire(timeout=0.3, waiting=lambda: told.append(True))
            raise AssertionError("acquired a held lock")
        except Exception as exc:  # noqa: BLE001 - IkmError naming the wait
            assert "Another ikm-tui" in str(exc) and told == [True]
        holder.release()
        other.acquire(timeout=5)
        other.release()
    finally:
        os.close(fd)


def test_rename_and_receive_replace_at_once_leave_one_consistent_pair(token: Any, tmp_path: Path) -> None:
    """Item 3, second half: `cert rename` interleaved with `cert receive --replace` used to report
    success both and swap labels between the old and the new certificate. Serialised, the key
    ends with one certificate, and key, public key and certificate carry one label."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from tests.support.helpers import SoftCA

    env = token.env()
    env.update(IKM_PIN=token.pin, XDG_STATE_HOME=str(tmp_path / "state"))

    def cli(*words: str) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "ikm_tui", "--module", token.module, "--token", token.label,
                                 *words], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    csr_path = tmp_path / "web.csr"
    made = cli("certreq", "create", "--label", "web", "--key-type", "ec:p256", "--subject", "CN=web.example.com",
               "--out", str(csr_path))
    assert made.wait(120) == 0, made.communicate()
    public = x509.load_pem_x509_csr(csr_path.read_bytes()).public_key()
    ca, pem = SoftCA(), serialization.Encoding.PEM
    for serial in (100, 101, 102):
        (tmp_path / f"{serial}.pem").write_bytes(ca.issue(public, "web.example.com", serial=serial).public_bytes(pem)
                                                 + ca.cert.public_bytes(pem))
    first = cli("cert", "receive", str(tmp_path / "100.pem"))
    assert first.wait(120) == 0, first.communicate()
    token.login()
    for n, serial in enumerate((101, 102)):
        labels = {o.label for o in token.service.run(Backend.list_objects, token.slot_id).objects
                  if o.cls.value in ("certificate", "private_key", "public_key") and o.label}
        (old,) = labels
        procs = [cli("cert", "rename", old, f"renamed{n}"),
                 cli("cert", "receive", str(tmp_path / f"{serial}.pem"), "--replace")]
        results = [(p.wait(120), *p.communicate()) for p in procs]
        assert all("Traceback" not in err for _, _, err in results), results
        # The rename runs first or second; the receive takes the key's label either way.
        assert results[1][0] == 0, results
        objs = [o for o in token.service.run(Backend.list_objects, token.slot_id).objects
                if o.cls.value in ("certificate", "private_key", "public_key")]
        certs = [o for o in objs if o.cls.value == "certificate"]
        assert len(certs) == 1 and certs[0].cert is not None and int(certs[0].cert.serial, 16) == serial, objs
        assert len({o.label for o in objs}) == 1, [(o.cls.value, o.label) for o in objs]
        assert len({o.id for o in objs}) == 1
