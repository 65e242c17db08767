"""Issue #19 must-show 1: SIGINT, SIGTERM and SIGKILL at several points of every multi-object write
(cert create, ca create and certreq recreate included).

Each operation runs as `python -m ikm_tui` on its own SoftHSM home (the token directory is copied
back between trials, so every trial starts from the same "before"). The signal goes out once the
journal has recorded the intent (the instant before the first write), then after a spread of
delays. Afterwards the token, dumped by a fresh python-pkcs11 process, must be exactly the state
before or after the operation — or the journal must name the state, and `ikm-tui journal finish`
or `undo` must reach one of them. No trial may die of a signal other than the SIGKILL we sent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ikm_tui.core.p11 import softhsm
from tests.support.helpers import SoftCA

PIN, NEW_PIN, SO_PIN = "1234", "98765432", "13572468"
# After the journal holds the intent (the instant before the first write): the writes of one
# operation take ~1-30 ms, so the points are spread over the first few milliseconds.
DELAYS = (0.0, 0.0003, 0.001, 0.003)
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)

_DUMP = r"""
import hashlib, json, sys
import pkcs11
from pkcs11 import Attribute
lib = pkcs11.lib(sys.argv[1])
tok = lib.get_token(token_label=sys.argv[2])
out = []
from pkcs11._pkcs11 import SearchIter
with tok.open(user_pin=sys.argv[3]) as s, SearchIter(s, {}, 1) as search:
    # One handle per batch: an object a killed C_CreateObject left half-written (its class
    # unreadable: CKR_ATTRIBUTE_VALUE_INVALID) is one "unreadable" row, the rest still dump.
    for batch in search:
        try:
            o = next(iter(batch))
        except pkcs11.exceptions.PKCS11Error as exc:
            out.append([-1, "unreadable: " + type(exc).__name__, None, None, None, None, None])
            continue
        row = []
        for a in (Attribute.CLASS, Attribute.LABEL, Attribute.ID, Attribute.VALUE, Attribute.APPLICATION,
                  Attribute.MODULUS, Attribute.EC_POINT):
            try:
                v = o[a]
            except Exception:
                v = None
            if isinstance(v, (bytes, bytearray)):
                v = hashlib.sha256(bytes(v)).hexdigest()[:16] if a not in (Attribute.ID,) else bytes(v).hex()
            row.append(v if v is None or isinstance(v, (str, int)) else str(v))
        out.append(row)
print(json.dumps(sorted(out, key=json.dumps)))
"""


@dataclass
class Rig:
    """One SoftHSM home, one token, the CLI run against it as a separate process."""

    root: Path
    home: softhsm.SoftHsmHome
    module: str
    label: str = "crash"
    pin: str = PIN
    snapshot: Path | None = None
    trial: int = field(default=0)
    last_error: list[str] = field(default_factory=list)

    def env(self, state: Path | None = None) -> dict[str, str]:
        env = self.home.env()
        env["IKM_PIN"] = self.pin
        env["XDG_STATE_HOME"] = str(state or self.root / "state")
        env["XDG_DATA_HOME"] = str(self.root / "data")
        return env

    def argv(self, *words: str) -> list[str]:
        return [sys.executable, "-m", "ikm_tui", "--module", self.module, "--token", self.label, *words]

    def cli(self, *words: str, state: Path | None = None, pin: str | None = None) -> subprocess.CompletedProcess[str]:
        env = self.env(state)
        if pin is not None:
            env["IKM_PIN"] = pin
        return subprocess.run(self.argv(*words), env=env, capture_output=True, text=True, timeout=120)

    def dump(self, pin: str | None = None) -> list[Any] | None:
        res = subprocess.run([sys.executable, "-c", _DUMP, self.module, self.label, pin or self.pin],
                             env=self.home.env(), capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            self.last_error = res.stderr.strip().splitlines()[-1:] if res.stderr else []
            return None  # a wrong PIN (after a PIN change)
        return list(json.loads(res.stdout))

    def save(self) -> None:
        self.snapshot = self.root / "snapshot"
        shutil.rmtree(self.snapshot, ignore_errors=True)
        shutil.copytree(self.home.tokendir, self.snapshot)

    def restore(self) -> None:
        assert self.snapshot is not None
        shutil.rmtree(self.home.tokendir)
        shutil.copytree(self.snapshot, self.home.tokendir)


@pytest.fixture
def rig(module_path: str, tmp_path: Path) -> Iterator[Rig]:
    home = softhsm.make_home(tmp_path / "hsm")
    r = Rig(tmp_path, home, module_path)
    softhsm.init_token(home, r.label, PIN, SO_PIN)
    yield r


def _intent_written(state: Path) -> bool:
    d = state / "ikm-tui" / "journal"
    try:
        for f in d.glob("*.json"):
            if '"steps": [{' in f.read_text():
                return True
    except OSError:
        return False
    return False


def _interrupt(rig: Rig, words: tuple[str, ...], signum: int, delay: float, state: Path) -> int:
    proc = subprocess.Popen(rig.argv(*words), env=rig.env(state), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    end = time.monotonic() + 60
    while not _intent_written(state) and proc.poll() is None:  # busy: the writes take milliseconds
        assert time.monotonic() < end
    if delay:
        time.sleep(delay)
    if proc.poll() is None:
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err.decode(errors="replace")
    # A signal other than our SIGKILL ending the process is a crash (the old SIGSEGV).
    assert proc.returncode >= 0 or proc.returncode == -signal.SIGKILL, (signum, delay, proc.returncode, err)
    return proc.returncode


def _check_trials(rig: Rig, words: tuple[str, ...], before: Any, after: Any,
                  shape: Any = lambda d: d, prepare: Any = None) -> dict[str, int]:
    """Every signal at every delay; returns how the trials ended (for the assertion message)."""
    tally: dict[str, int] = {}
    for signum in SIGNALS:
        for delay in DELAYS:
            rig.restore()
            rig.trial += 1
            state = rig.root / f"state{rig.trial}"
            if prepare:
                prepare()
            rc = _interrupt(rig, words, signum, delay, state)
            if signum != signal.SIGKILL:
                assert rc in (0, 128 + signum), (signum, delay, rc)
            dumped = rig.dump()
            assert dumped is not None, (signum, delay, rig.last_error)  # the token must still open
            now = shape(dumped)
            if now in (before, after):
                outcome = "before" if now == before else "after"
            else:
                shown = rig.cli("journal", "show", "--json", state=state)
                assert shown.returncode == 0, shown.stderr
                doc = json.loads(shown.stdout)
                assert doc["state"] == "partial" and doc["steps"], (now, rig.last_error, doc)
                way = "finish" if rig.trial % 2 else "undo"
                fixed = rig.cli("journal", way, state=state)
                if fixed.returncode == 3:  # that way cannot be reached (a deleted key): the other can
                    way = "undo" if way == "finish" else "finish"
                    fixed = rig.cli("journal", way, state=state)
                assert fixed.returncode == 0, (way, now, fixed.stdout, fixed.stderr)
                assert shape(rig.dump()) == (after if way == "finish" else before), fixed.stdout
                outcome = f"partial->{way}"
            if outcome in ("before", "after") and _intent_written(state):
                # A journal left by a run killed before its first write (or after its last) still
                # takes the token to a whole state: finish completes it, or undo when it cannot.
                left = rig.cli("journal", "finish", state=state)
                if left.returncode == 3:
                    left = rig.cli("journal", "undo", state=state)
                assert left.returncode in (0, 4), left.stderr
                assert shape(rig.dump()) in (before, after)
                assert rig.cli("journal", "finish", state=state).returncode == 4  # and it is gone
            tally[outcome] = tally.get(outcome, 0) + 1
    print(f"{' '.join(words[:2])}: {tally}")  # how the trials ended (pytest -s shows it)
    return tally


def _before_after(rig: Rig, words: tuple[str, ...], shape: Any = lambda d: d,
                  prepare: Any = None) -> tuple[Any, Any]:
    rig.save()
    before = shape(rig.dump())
    if prepare:
        prepare()
    res = rig.cli(*words, state=rig.root / "state0")
    assert res.returncode == 0, res.stderr
    after = shape(rig.dump())
    assert after != before
    return before, after


def test_rename(rig: Rig) -> None:
    assert rig.cli("cert", "create", "--label", "web", "--key-type", "ec:p256", "--subject", "CN=web").returncode == 0
    words = ("cert", "rename", "web", "site")
    before, after = _before_after(rig, words)
    tally = _check_trials(rig, words, before, after)
    assert sum(tally.values()) == len(SIGNALS) * len(DELAYS), tally


def test_certreq_delete_with_key(rig: Rig) -> None:
    out = rig.root / "gone.csr"
    assert rig.cli("certreq", "create", "--label", "gone", "--key-type", "ec:p256", "--subject", "CN=gone",
                   "--out", str(out)).returncode == 0
    words = ("certreq", "delete", "gone", "--with-key", "--yes")
    before, after = _before_after(rig, words)
    _check_trials(rig, words, before, after)


def _create_shape(dump: Any) -> Any:
    """Keys made in each run differ: compare class, label and whether the CKA_ID is the final one."""
    rows = []
    for cls, label, key_id, *_ in dump:
        temp = bytes.fromhex(key_id or "").startswith(b"ikm-tui-pending-")
        rows.append((cls, label, "temporary" if temp else ("id" if key_id else "")))
    return sorted(rows, key=json.dumps)  # a half-written object has None where others have text


def test_certreq_create(rig: Rig) -> None:
    out = rig.root / "new.csr"
    words = ("certreq", "create", "--label", "new", "--key-type", "rsa:2048", "--subject", "CN=new",
             "--out", str(out))
    before, after = _before_after(rig, words, _create_shape, prepare=lambda: out.unlink(missing_ok=True))
    _check_trials(rig, words, before, after, _create_shape, prepare=lambda: out.unlink(missing_ok=True))


def test_cert_create(rig: Rig) -> None:
    words = ("cert", "create", "--label", "self", "--key-type", "ec:p256", "--subject", "CN=self")
    before, after = _before_after(rig, words, _create_shape)
    _check_trials(rig, words, before, after, _create_shape)


def test_ca_create(rig: Rig) -> None:
    words = ("ca", "create", "--label", "lab-ca", "--key-type", "ec:p256", "--subject", "CN=Crash CA,O=ikm")
    before, after = _before_after(rig, words, _create_shape)
    _check_trials(rig, words, before, after, _create_shape)


def test_certreq_recreate(rig: Rig) -> None:
    # RSA PKCS#1 v1.5 signs deterministically: every trial's new request has the same bytes, so
    # the token after it is one state (an ECDSA request would differ run to run).
    out = rig.root / "re.csr"
    assert rig.cli("certreq", "create", "--label", "re", "--key-type", "rsa:2048", "--subject", "CN=re",
                   "--out", str(out)).returncode == 0
    words = ("certreq", "recreate", "re", "--subject", "CN=re,O=Second", "--out", str(out), "--force")
    before, after = _before_after(rig, words)
    _check_trials(rig, words, before, after)


def test_receive_replace(rig: Rig) -> None:
    csr_path = rig.root / "rcv.csr"
    assert rig.cli("certreq", "create", "--label", "rcv", "--key-type", "ec:p256", "--subject",
                   "CN=rcv.example.com", "--out", str(csr_path)).returncode == 0
    csr = x509.load_pem_x509_csr(csr_path.read_bytes())
    ca = SoftCA()
    pem = serialization.Encoding.PEM
    first, second = rig.root / "1.pem", rig.root / "2.pem"
    first.write_bytes(ca.issue(csr.public_key(), "rcv.example.com", serial=100).public_bytes(pem)
                      + ca.cert.public_bytes(pem))
    second.write_bytes(ca.issue(csr.public_key(), "rcv.example.com", serial=101).public_bytes(pem)
                       + ca.cert.public_bytes(pem))
    res = rig.cli("cert", "receive", str(first))
    assert res.returncode == 0, res.stderr
    words = ("cert", "receive", str(second), "--replace")
    before, after = _before_after(rig, words)
    _check_trials(rig, words, before, after)


def test_doctor_fix(rig: Rig) -> None:
    # What a killed create used to leave: a key pair under a temporary CKA_ID.
    temp_id = (b"ikm-tui-pending-" + hashlib.sha256(b"crash").digest()[:8]).hex()
    res = subprocess.run(["pkcs11-tool", "--module", rig.module, "--token-label", rig.label, "--login",
                          "--pin", PIN, "--keypairgen", "--key-type", "EC:prime256v1", "--id", temp_id,
                          "--label", "left"], env=rig.home.env(), capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    words = ("cert", "doctor", "--fix", "--yes")
    before, after = _before_after(rig, words)
    _check_trials(rig, words, before, after)


def test_pin_change(rig: Rig) -> None:
    new_file = rig.root / "new.pin"
    new_file.write_text(NEW_PIN)
    os.chmod(new_file, 0o600)
    words = ("pin", "change", "--new-pin-file", str(new_file))
    rig.save()
    objects = rig.dump()
    tally: dict[str, int] = {}
    for signum in SIGNALS:
        for delay in DELAYS:
            rig.restore()
            rig.trial += 1
            state = rig.root / f"state{rig.trial}"
            _interrupt(rig, words, signum, delay, state)
            old, new = rig.dump(PIN), rig.dump(NEW_PIN)
            if old is None and new is None:
                # SoftHSM rewrites token.object in place inside C_SetPIN: SIGKILL there leaves it
                # empty and the token gone. The journal kept a copy: finish puts it back.
                assert signum == signal.SIGKILL, (signum, delay)
                fixed = rig.cli("journal", "finish", state=state)
                assert fixed.returncode == 0 and "BEFORE" in fixed.stdout, (fixed.stdout, fixed.stderr)
                old = rig.dump(PIN)
                assert old is not None, "the copy did not bring the token back"
                tally["restored->before"] = tally.get("restored->before", 0) + 1
                continue
            # C_SetPIN is one call: exactly one of the two PINs opens the token, objects untouched.
            assert (old is None) != (new is None), (signum, delay)
            assert (old if old is not None else new) == objects
            shown = rig.cli("journal", "show", "--json", state=state, pin=PIN if old is not None else NEW_PIN)
            assert shown.returncode == 0, shown.stderr
            if json.loads(shown.stdout)["state"] is not None:
                fin = rig.cli("journal", "finish", state=state, pin=PIN if old is not None else NEW_PIN)
                assert fin.returncode == 0 and "old PIN or the new one" in fin.stdout, fin.stderr
            outcome = "before" if old is not None else "after"
            tally[outcome] = tally.get(outcome, 0) + 1
    print(f"pin change: {tally}")
