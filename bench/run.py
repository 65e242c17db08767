"""Benchmark ikm-tui on big SoftHSM tokens against pkcs11-tool and p11tool (issue 7).

    .venv/bin/python bench/run.py [--profiles mixed,certs] [--sizes 100,1000,5000]
        [--cert-sizes 1000,5000] [--runs 5] [--quick] [--no-tui] [--no-stall] [--save-json DIR]
    make bench BENCH_ARGS="--profiles certs --no-tui --no-stall"     (a short run)

Builds (once) and caches SoftHSM tokens under bench/.cache/, two profiles:
  - mixed (--sizes): per three objects one key pair (RSA-2048 every third pair, EC P-256
    otherwise, generated in software with `cryptography` and imported sensitive/non-extractable)
    plus its certificate from a software CA, the CA certificate, and standalone signer
    certificates to round N;
  - certs (--cert-sizes, issue 16): N EC P-256 leaf certificates with a SAN and no keys, as an
    operator's keystore of partner certificates looks.
Each token has its own SOFTHSM2_CONF.

Then measures, all in this run, each command as a cold process (median of --runs):
  - `ikm-tui list --json` logged in (IKM_PIN) vs `pkcs11-tool -O --login` and, up to 1,000 objects,
    `p11tool --list-all-certs`; peak RSS of each (GNU time); ikm-tui twice: with its certificate
    cache holding the token's certificates (every run but the first) and with an empty one (the
    first run; the two listings must be the same bytes, else a note says so); on the certs
    profile also bench/floor.py, the least any Python listing through python-pkcs11 costs;
  - the TUI from process start to a populated object table (headless, App.run_test), when the TUI
    exists (ikm_tui.ui.app.make_app); otherwise a printed note;
  - the longest event-loop stall while TokenService.arun generates an RSA-4096 key pair;
  - cold `ikm-tui --help`.
Ratios against the anchor tools are the result; absolute times only give context.

The same file is the child process for the build and stall probes (`--probe build|stall`); the TUI
probe is bench/tui_probe.py, which imports only what `ikm-tui` imports (this file's own imports,
~45 ms of statistics, multiprocessing, subprocess..., would count against the TUI).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from ikm_tui.core.p11 import softhsm  # noqa: E402

# Throw-away PINs of throw-away bench tokens: they go through argv to softhsm2-util and pkcs11-tool.
PIN = "11223344"
SO_PIN = "55667788"
# Bump when the token layout changes: cached tokens of another layout are rebuilt.
LAYOUT = "v1"
P11TOOL_MAX_OBJECTS = 1000  # p11tool lists certs in O(n^2): minutes at 5,000


# ----------------------------------------------------------------------------------------------
# Token building (runs in a child process: SoftHSM reads SOFTHSM2_CONF once, at C_Initialize)
# ----------------------------------------------------------------------------------------------
def _keypair(kind: str) -> bytes:
    """A software key pair as PKCS#8 DER (picklable, for the process pool)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key: Any = rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _layout(size: int) -> tuple[int, int]:
    """(key pairs, standalone certs) so that 3*pairs + 1 CA cert + standalone == size."""
    pairs = max(0, (size - 1) // 3)
    return pairs, size - 1 - 3 * pairs


def build_token(size: int, root: Path, label: str) -> None:
    import pkcs11
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    from pkcs11 import Attribute, KeyType, ObjectClass
    from pkcs11.util.ec import encode_named_curve_parameters

    from ikm_tui.core.p11.attributes import make_mapper
    from ikm_tui.core.p11.objects import CATEGORY_AUTHORITY, CATEGORY_TOKEN_USER, certificate_template

    home = softhsm.make_home(root)
    softhsm.init_token(home, label, PIN, SO_PIN)
    os.environ["SOFTHSM2_CONF"] = str(home.conf)
    module = softhsm.softhsm_module()
    assert module
    lib = pkcs11.lib(module)
    token = lib.get_token(token_label=label)

    pairs, standalone = _layout(size)
    kinds = ["rsa" if i % 3 == 0 else "ec" for i in range(pairs)]
    t0 = time.monotonic()
    with ProcessPoolExecutor(max(1, os.cpu_count() or 1)) as pool:
        ders = list(pool.map(_keypair, kinds, chunksize=16))
    print(f"  {pairs} key pairs generated in software in {time.monotonic() - t0:.1f} s", flush=True)

    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikm-tui bench"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "Bench Issuing CA")])

    def cert_for(pub: Any, cn: str, serial: int, ca: bool = False) -> bytes:
        b = (x509.CertificateBuilder()
             .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikm-tui bench"),
                                      x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
             .issuer_name(ca_name).public_key(pub).serial_number(serial)
             .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=365))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = (b.add_extension(x509.SubjectAlternativeName([x509.DNSName(cn), x509.DNSName("www." + cn)]),
                                 critical=False)
                 .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                                critical=True)
                 .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                       ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    p256 = encode_named_curve_parameters("1.2.840.10045.3.1.7")
    t0 = time.monotonic()
    with token.open(rw=True, user_pin=PIN, attribute_mapper=make_mapper()) as sess:
        ca_der = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
                  .public_key(ca_key.public_key()).serial_number(1)
                  .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=3650))
                  .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                  .sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
        sess.create_object(certificate_template(ca_der, "Bench Issuing CA", b"\xca", CATEGORY_AUTHORITY))
        for i, der in enumerate(ders):
            key = serialization.load_der_private_key(der, None)
            label_i = f"bench-{i:05d}"
            common = {Attribute.TOKEN: True, Attribute.LABEL: label_i}
            priv_t: dict[Any, Any] = {**common, Attribute.CLASS: ObjectClass.PRIVATE_KEY,
                                      Attribute.PRIVATE: True, Attribute.SENSITIVE: True,
                                      Attribute.EXTRACTABLE: False, Attribute.SIGN: True}
            pub_t: dict[Any, Any] = {**common, Attribute.CLASS: ObjectClass.PUBLIC_KEY,
                                     Attribute.PRIVATE: False, Attribute.VERIFY: True}
            if isinstance(key, rsa.RSAPrivateKey):
                n = key.private_numbers()
                pn = n.public_numbers

                def big(v: int) -> bytes:
                    return v.to_bytes((v.bit_length() + 7) // 8, "big")

                public_value = big(pn.n)
                priv_t.update({Attribute.KEY_TYPE: KeyType.RSA, Attribute.MODULUS: big(pn.n),
                               Attribute.PUBLIC_EXPONENT: big(pn.e), Attribute.PRIVATE_EXPONENT: big(n.d),
                               Attribute.PRIME_1: big(n.p), Attribute.PRIME_2: big(n.q),
                               Attribute.EXPONENT_1: big(n.dmp1), Attribute.EXPONENT_2: big(n.dmq1),
                               Attribute.COEFFICIENT: big(n.iqmp), Attribute.DECRYPT: True})
                pub_t.update({Attribute.KEY_TYPE: KeyType.RSA, Attribute.MODULUS: big(pn.n),
                              Attribute.PUBLIC_EXPONENT: big(pn.e), Attribute.ENCRYPT: True})
            else:
                assert isinstance(key, ec.EllipticCurvePrivateKey)
                point = key.public_key().public_bytes(serialization.Encoding.X962,
                                                      serialization.PublicFormat.UncompressedPoint)
                public_value = point
                priv_t.update({Attribute.KEY_TYPE: KeyType.EC, Attribute.EC_PARAMS: p256,
                               Attribute.VALUE: key.private_numbers().private_value.to_bytes(32, "big")})
                # CKA_EC_POINT: a DER OCTET STRING around the point, as SoftHSM itself stores it.
                pub_t.update({Attribute.KEY_TYPE: KeyType.EC, Attribute.EC_PARAMS: p256,
                              Attribute.EC_POINT: b"\x04" + bytes([len(point)]) + point})
            # CKA_ID = SHA-1 of the modulus / point, the NSS and OpenSC convention.
            key_id = hashlib.sha1(public_value).digest()  # noqa: S324 - an identifier
            priv_t[Attribute.ID] = key_id
            pub_t[Attribute.ID] = key_id
            sess.create_object(priv_t)
            sess.create_object(pub_t)
            cert = cert_for(key.public_key(), f"host{i:05d}.bench.example", 1000 + i)
            sess.create_object(certificate_template(cert, label_i, key_id, CATEGORY_TOKEN_USER))
            if (i + 1) % 200 == 0:
                print(f"  {3 * (i + 1)} objects written", flush=True)
        for j in range(standalone):
            other = ec.generate_private_key(ec.SECP256R1()).public_key()
            der = cert_for(other, f"Bench Partner CA {j}", 900000 + j, ca=True)
            sess.create_object(certificate_template(der, f"partner-ca-{j}", bytes([0xcb, j % 256]),
                                                    CATEGORY_AUTHORITY))
    print(f"  {size} objects written to the token in {time.monotonic() - t0:.1f} s", flush=True)


def build_cert_token(size: int, root: Path, label: str) -> None:
    """The certificate-heavy profile (issue 16): `size` EC P-256 leaf certificates with a SAN,
    no keys, as an operator's keystore of partner certificates and chains looks.

    Generated in-process (one software CA, one fresh P-256 key per leaf): ~0.2 ms a certificate,
    so 5,000 take about a second, and the token write is the rest.
    """
    import pkcs11
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    from ikm_tui.core.p11.attributes import make_mapper
    from ikm_tui.core.p11.objects import CATEGORY_OTHER_ENTITY, certificate_template

    home = softhsm.make_home(root)
    softhsm.init_token(home, label, PIN, SO_PIN)
    os.environ["SOFTHSM2_CONF"] = str(home.conf)
    module = softhsm.softhsm_module()
    assert module
    token = pkcs11.lib(module).get_token(token_label=label)
    now = datetime.now(timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikm-tui bench partners"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "Bench Partner Issuing CA")])
    eku = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH])
    t0 = time.monotonic()
    ders: list[tuple[bytes, bytes]] = []
    for i in range(size):
        pub = ec.generate_private_key(ec.SECP256R1()).public_key()
        cn = f"partner{i:05d}.bench.example"
        der = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ikm-tui bench partners"),
                                        x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .issuer_name(ca_name).public_key(pub).serial_number(0x1000 + i)
               .not_valid_before(now - timedelta(days=30)).not_valid_after(now + timedelta(days=397))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.SubjectAlternativeName([x509.DNSName(cn), x509.DNSName("www." + cn)]),
                              critical=False)
               .add_extension(x509.KeyUsage(True, False, False, False, False, True, False, False, False),
                              critical=True)
               .add_extension(eku, critical=False)
               .sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER))
        point = pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        ders.append((der, hashlib.sha1(point).digest()))  # noqa: S324 - an identifier
    print(f"  {size} certificates generated in {time.monotonic() - t0:.1f} s", flush=True)
    t0 = time.monotonic()
    with token.open(rw=True, user_pin=PIN, attribute_mapper=make_mapper()) as sess:
        for i, (der, key_id) in enumerate(ders):
            sess.create_object(certificate_template(der, f"partner-{i:05d}", key_id, CATEGORY_OTHER_ENTITY))
    print(f"  {size} certificates written to the token in {time.monotonic() - t0:.1f} s", flush=True)


@dataclass
class BenchToken:
    size: int
    root: Path
    label: str
    profile: str = "mixed"

    @property
    def home(self) -> softhsm.SoftHsmHome:
        return softhsm.SoftHsmHome(self.root)

    def env(self, pin: bool = False) -> dict[str, str]:
        env = self.home.env()
        env.pop("IKM_PIN", None)
        env.pop("IKM_MODULE", None)
        if pin:
            env["IKM_PIN"] = PIN
        return env


def ensure_token(size: int, cache: Path, profile: str = "mixed") -> BenchToken:
    """The cached token of `size` objects, built on first use (atomically: build, then rename)."""
    # The mixed profile keeps its old names, so caches built before profiles existed still serve.
    tag = "" if profile == "mixed" else f"{profile}-"
    label = f"bench-{tag}{size}"
    root = cache / f"token-{tag}{size}-{LAYOUT}"
    if not (root / "READY").exists():
        print(f"building the {size}-object {profile} token under {root} (cached for later runs)...", flush=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".build-{tag}{size}-", dir=cache))
        try:
            subprocess.run([sys.executable, __file__, "--probe", "build", "--size", str(size),
                            "--profile", profile, "--root", str(tmp), "--label", label], check=True)
            (tmp / "READY").write_text(f"{size} objects, {profile} profile, layout {LAYOUT}\n")
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    # The config holds an absolute tokendir: rewrite it so a moved cache still works.
    softhsm.make_home(root)
    return BenchToken(size, root, label, profile)


# ----------------------------------------------------------------------------------------------
# Measuring cold processes
# ----------------------------------------------------------------------------------------------
@dataclass
class Sample:
    seconds: float
    max_rss_kib: int
    cpu: float = 0.0  # user + system seconds of the process (robust on a busy machine)
    stdout: bytes = b""


@dataclass
class Series:
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def cpu(self) -> float:
        return statistics.median(s.cpu for s in self.samples)

    @property
    def rss_mib(self) -> float:
        return max(s.max_rss_kib for s in self.samples) / 1024.0


# Why GNU time for the peak RSS: Linux carries a process's RSS high-water mark across exec, so a
# child forked from this (by then 100+ MiB) bench process reports *our* peak as its own through
# wait4 (pkcs11-tool "used" 137 MiB, `--help` 160 MiB). A child forked from the small `time`
# process reports its own.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_once(cmd: Sequence[str], env: dict[str, str], timeout: float = 600.0) -> Sample:
    """Wall time of a cold process and its own peak RSS (through GNU time when installed)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(prefix="ikm-bench-rss-") as rss:
        argv = [GNU_TIME, "-q", "-f", "%M", "-o", rss.name, *cmd] if GNU_TIME else list(cmd)
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        deadline = t0 + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.001)
        elapsed = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read()
        if proc.returncode != 0:
            tail = err.read().decode(errors='replace')[-2000:]
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {tail}")
        max_rss = int(usage.ru_maxrss)
        if GNU_TIME:
            max_rss = int(Path(rss.name).read_text().split()[-1])
        return Sample(elapsed, max_rss, usage.ru_utime + usage.ru_stime, stdout)


def series(cmd: Sequence[str], env: dict[str, str], runs: int) -> Series:
    s = Series()
    for _ in range(runs):
        s.samples.append(run_once(cmd, env))
    return s


Command = tuple[Sequence[str], dict[str, str]] | tuple[Sequence[str], dict[str, str], Callable[[], object]]


def interleaved(cmds: dict[str, Command], runs: int) -> dict[str, Series]:
    """Run the commands in turn, `runs` rounds: load from elsewhere hits them all alike.
    A command's optional third item runs (untimed) before each of its runs."""
    out = {name: Series() for name in cmds}
    for _ in range(runs):
        for name, (cmd, env, *before) in cmds.items():
            for step in before:
                step()
            out[name].samples.append(run_once(cmd, env))
    return out


def ikm_cmd() -> list[str]:
    script = Path(sys.executable).parent / "ikm-tui"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ikm_tui"]


def fmt_s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def fmt_ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a is not None and b else "-"


# ----------------------------------------------------------------------------------------------
# Probes (child processes)
# ----------------------------------------------------------------------------------------------
def probe_stall(module: str, root: Path, bits: int) -> None:
    """Generate an RSA key pair through TokenService.arun; report the longest event-loop gap."""
    import asyncio

    home = softhsm.make_home(root)
    softhsm.init_token(home, "bench-keygen", PIN, SO_PIN)
    os.environ["SOFTHSM2_CONF"] = str(home.conf)
    from ikm_tui.core.p11.backend import Backend
    from ikm_tui.core.p11.keys import KeySpec, generate_keypair
    from ikm_tui.core.pin import Pin
    from ikm_tui.core.p11.service import TokenService

    svc = TokenService(module)
    svc.wait_ready()
    slot = svc.run(Backend.find_slot, "bench-keygen")
    svc.run(Backend.login, slot, Pin(PIN))

    async def main() -> dict[str, float]:
        stop = asyncio.Event()
        worst = 0.0

        async def ticker() -> None:
            nonlocal worst
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                worst = max(worst, now - last)
                last = now

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        await svc.arun(generate_keypair, slot, KeySpec("rsa", bits), "bench-stall")
        keygen = time.perf_counter() - t0
        stop.set()
        await tick
        return {"stall": worst, "keygen": keygen}

    print(json.dumps(asyncio.run(main())), flush=True)
    svc.close()


def child_json(cmd: Sequence[str], env: dict[str, str]) -> tuple[dict[str, Any], Sample]:
    sample = run_once(cmd, env)
    lines = [ln for ln in sample.stdout.decode().splitlines() if ln.startswith("{")]
    return json.loads(lines[-1]), sample


# ----------------------------------------------------------------------------------------------
# The bench
# ----------------------------------------------------------------------------------------------
def _sizes(text: str) -> list[int]:
    return [int(s.replace("_", "")) for s in text.split(",") if s.strip()]


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(profile, size) of every token to measure, in --profiles order."""
    out: list[tuple[str, int]] = []
    for profile in (p.strip() for p in args.profiles.split(",") if p.strip()):
        if profile == "mixed":
            out += [("mixed", n) for n in _sizes(args.sizes)]
        elif profile == "certs":
            out += [("certs", n) for n in _sizes(args.cert_sizes)]
        else:
            raise SystemExit(f"unknown profile {profile!r}: mixed or certs")
    return out


def bench(args: argparse.Namespace) -> int:
    module = softhsm.softhsm_module()
    if module is None:
        print("SoftHSM2 is not installed (make setup installs it)", file=sys.stderr)
        return 2
    pkcs11_tool = shutil.which("pkcs11-tool")
    p11tool = shutil.which("p11tool")
    cache = Path(args.cache).resolve()
    cache.mkdir(parents=True, exist_ok=True)
    tokens = plan(args)
    runs = args.runs
    ikm = ikm_cmd()
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    # An installed ikm-tui has its bytecode compiled by pip; an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 (CI, containers) would compile every module from source in every
    # cold run (~50 ms). Compile once, as an install does, so the bench measures ikm-tui.
    import compileall

    compileall.compile_dir(str(REPO / "ikm_tui"), quiet=1)

    xdg_warm = Path(tempfile.mkdtemp(prefix="ikm-bench-xdg-warm-"))
    xdg_cold = Path(tempfile.mkdtemp(prefix="ikm-bench-xdg-cold-"))
    for profile, size in tokens:
        tok = ensure_token(size, cache, profile)
        print(f"measuring {size} objects, {profile} profile ({runs} runs each)...", flush=True)
        row: dict[str, Any] = {"size": size, "profile": profile, "tui": None, "tui_rss": None}
        # The certificate cache (core/x509/certcache.py): "ikm" is every later run (the cache
        # holds this token's certificates: one untimed run fills it), "ikm_cold" the first run
        # after an install or on new certificates (an empty cache before each run).
        listing = [*ikm, "--module", module, "--token", tok.label, "list", "--json"]
        warm_env = {**tok.env(pin=True), "XDG_CACHE_HOME": str(xdg_warm)}
        cold_env = {**tok.env(pin=True), "XDG_CACHE_HOME": str(xdg_cold)}
        run_once(listing, warm_env)
        cmds: dict[str, Command] = {
            "ikm": (listing, warm_env),
            "ikm_cold": (listing, cold_env, lambda: shutil.rmtree(xdg_cold, ignore_errors=True)),
        }
        if profile == "certs":  # bench/floor.py reads certificates only
            cmds["floor"] = ([sys.executable, str(HERE / "floor.py"), module, tok.label], tok.env(pin=True))
        if pkcs11_tool:
            cmds["p11t"] = ([pkcs11_tool, "--module", module, "--token-label", tok.label,
                             "--login", "--pin", PIN, "-O"], tok.env())
        if p11tool and size <= P11TOOL_MAX_OBJECTS and not args.no_p11tool:
            cmds["gnutls"] = ([p11tool, "--provider", module, "--list-all-certs",
                               f"pkcs11:token={tok.label}"], tok.env())
        row.update(interleaved(cmds, runs))
        listed = len(json.loads(row["ikm"].samples[0].stdout)["objects"])
        if listed != size:
            notes.append(f"{profile} {size}: ikm-tui listed {listed} objects, expected {size}")
        if row["ikm"].samples[0].stdout != row["ikm_cold"].samples[0].stdout:
            notes.append(f"{profile} {size}: the listing from the certificate cache DIFFERS from the parsed one")
        if args.save_json:
            # Issue 16: the listing's bytes, to diff before and after a change (`cmp` the files).
            out_dir = Path(args.save_json)
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / f"{tok.label}.json").write_bytes(row["ikm"].samples[0].stdout)
        tui_times: list[float] = []
        tui_rss = 0
        for _ in range(0 if args.no_tui else runs):
            res, sample = child_json([sys.executable, str(HERE / "tui_probe.py"), module, tok.label,
                                      str(listed), repr(time.time())], warm_env)
            if "skipped" in res:
                note = f"TUI not measured: {res['skipped']}"
                if note not in notes:
                    notes.append(note)
                break
            tui_times.append(float(res["populated"]))
            tui_rss = max(tui_rss, sample.max_rss_kib)
        row["tui"] = statistics.median(tui_times) if tui_times else None
        row["tui_rss"] = tui_rss / 1024.0 if tui_times else None
        rows.append(row)

    shutil.rmtree(xdg_warm, ignore_errors=True)
    shutil.rmtree(xdg_cold, ignore_errors=True)
    help_s = series([*ikm, "--help"], dict(os.environ), max(runs, 5))
    stall_bits = 2048 if args.quick else 4096
    stall: dict[str, float] | None = None
    if not args.no_stall:
        with tempfile.TemporaryDirectory(prefix="ikm-bench-keygen-") as tmp:
            stall, _ = child_json([sys.executable, __file__, "--probe", "stall", "--module", module,
                                   "--root", tmp, "--bits", str(stall_bits)], dict(os.environ))

    print()
    print(render(rows, help_s, stall, stall_bits, runs, notes))
    return 0


def render(rows: list[dict[str, Any]], help_s: Series, stall: dict[str, float] | None, stall_bits: int,
           runs: int, notes: list[str]) -> str:
    out: list[str] = []
    out.append(f"`ikm-tui list --json` (logged in) vs anchor tools, cold processes, median of {runs} "
               "interleaved runs (wall time; the CPU-time ratio is user+system time, for busy machines). "
               "ikm-tui's certificate cache holds the token's certificates (every run after the first); "
               "the first run after an install or on new certificates parses them all:")
    out.append("")
    out.append("| profile | objects | ikm-tui list --json | pkcs11-tool -O | ratio (target mixed ≤1.0× @1k, "
               "≤1.2× @5k; certs ≤0.8×) | CPU-time ratio | first run (empty certificate cache) | its ratio | "
               "Python floor (bench/floor.py) | its ratio | p11tool --list-all-certs | p11tool / ikm-tui "
               "(target ≥50×) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ikm = r["ikm"].median
        cold = r["ikm_cold"].median
        p11t = r["p11t"].median if "p11t" in r else None
        gnu = r["gnutls"].median if "gnutls" in r else None
        cpu = fmt_ratio(r["ikm"].cpu, r["p11t"].cpu) if "p11t" in r else "-"
        floor = r["floor"].median if "floor" in r else None
        out.append(f"| {r['profile']} | {r['size']:,} | {fmt_s(ikm)} | {fmt_s(p11t)} | "
                   f"{fmt_ratio(ikm, p11t)} | {cpu} | {fmt_s(cold)} | {fmt_ratio(cold, p11t)} | "
                   f"{fmt_s(floor)} | {fmt_ratio(floor, p11t)} | {fmt_s(gnu)} | {fmt_ratio(gnu, ikm)} |")
    out.append("")
    out.append("| profile | objects | TUI populated | CLI list --json | TUI / CLI (target mixed ≤2.0× @1k; "
               "certs ≤1.3×) | peak RSS ikm-tui list (target ≤150 MiB @5k) | peak RSS TUI | peak RSS pkcs11-tool |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ikm = r["ikm"].median
        tui_rss = "-" if r["tui_rss"] is None else f"{r['tui_rss']:.0f} MiB"
        p11t_rss = f"{r['p11t'].rss_mib:.0f} MiB" if "p11t" in r else "-"
        out.append(f"| {r['profile']} | {r['size']:,} | {fmt_s(r['tui'])} | {fmt_s(ikm)} | "
                   f"{fmt_ratio(r['tui'], ikm)} | {r['ikm'].rss_mib:.0f} MiB | {tui_rss} | {p11t_rss} |")
    out.append("")
    if stall is not None:
        out.append(f"- longest event-loop stall during RSA-{stall_bits} key generation through "
                   f"TokenService.arun: {stall['stall'] * 1000:.1f} ms (target ≤50 ms; keygen took "
                   f"{fmt_s(stall['keygen'])})")
    out.append(f"- cold `ikm-tui --help`: {fmt_s(help_s.median)} (target ≤0.3 s), peak RSS "
               f"{help_s.rss_mib:.0f} MiB")
    for n in notes:
        out.append(f"- note: {n}")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--profiles", default="mixed,certs",
                   help="token profiles, comma-separated: mixed (key pairs + certificates), certs "
                        "(EC P-256 leaf certificates only)")
    p.add_argument("--sizes", default="100,1000,5000", help="mixed-profile sizes in objects, comma-separated")
    p.add_argument("--cert-sizes", default="1000,5000", help="certs-profile sizes, comma-separated")
    p.add_argument("--no-tui", action="store_true", help="skip the TUI time-to-table probe")
    p.add_argument("--no-stall", action="store_true", help="skip the keygen event-loop stall probe")
    p.add_argument("--save-json", metavar="DIR",
                   help="write each token's `list --json` output to DIR/LABEL.json (to diff runs)")
    p.add_argument("--runs", type=int, default=5, help="cold runs per command (median is reported)")
    p.add_argument("--quick", action="store_true",
                   help="smoke mode: RSA-2048 instead of RSA-4096 for the stall probe")
    p.add_argument("--no-p11tool", action="store_true", help="skip p11tool (slow: O(n^2) in certs)")
    p.add_argument("--cache", default=str(HERE / ".cache"), help="where built tokens are kept")
    # Child-process probes.
    p.add_argument("--probe", choices=["build", "stall"], help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    p.add_argument("--profile", default="mixed", help=argparse.SUPPRESS)
    p.add_argument("--root", help=argparse.SUPPRESS)
    p.add_argument("--label", help=argparse.SUPPRESS)
    p.add_argument("--module", help=argparse.SUPPRESS)
    p.add_argument("--bits", type=int, default=4096, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.probe == "build":
        (build_cert_token if args.profile == "certs" else build_token)(args.size, Path(args.root), args.label)
        return 0
    if args.probe == "stall":
        probe_stall(args.module, Path(args.root), args.bits)
        return 0
    if args.runs < 1:
        p.error("--runs must be at least 1")
    return bench(args)


if __name__ == "__main__":
    raise SystemExit(main())
