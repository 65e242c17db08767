"""Real PKCS#11 modules beyond SoftHSM for the conformance suite: tpm2-pkcs11 on swtpm, p11-kit-client.

Everything runs on private ports, sockets and directories under one run directory, so parallel
runs and the operator's own TPM/p11-kit setup are never touched:

- swtpm in socket mode on two random free TCP ports (data + control);
- a private `dbus-daemon --session` (tpm2-abrmd only talks D-Bus) and `tpm2-abrmd --session` on it,
  under a bus name of its own; without a resource manager tpm2-pkcs11 runs out of object contexts;
- a tpm2-pkcs11 store (`tpm2_ptool init` + `addtoken`);
- `p11-kit server -f -n SOCK --provider libsofthsm2.so "pkcs11:token=L"`, optionally behind a
  relay that counts the RPC messages (one per PKCS#11 call).

The environment variables the modules read at C_Initialize are set in os.environ before the
module is first loaded (python-pkcs11 loads each module path once per process).
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

TPM2_MODULE_CANDIDATES = [
    "/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11/libtpm2_pkcs11.so",
    "/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1",
    "/usr/lib/aarch64-linux-gnu/libtpm2_pkcs11.so.1",
]
P11KIT_CLIENT_CANDIDATES = [
    "/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so",
    "/usr/lib/aarch64-linux-gnu/pkcs11/p11-kit-client.so",
]


def first_existing(paths: list[str]) -> str | None:
    for p in paths:
        if os.path.exists(p):
            return os.path.realpath(p)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_port_pair() -> int:
    """A free port P whose P + 1 is free too."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no two consecutive free TCP ports on 127.0.0.1")


def _wait(check, what: str, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process exited with {proc.returncode}: {_tail(proc)}")
        time.sleep(0.05)
    raise RuntimeError(f"{what}: not ready after {timeout} s")


def _tail(proc: subprocess.Popen) -> str:
    log = getattr(proc, "ikm_log", None)
    if log and os.path.exists(log):
        return Path(log).read_text(errors="replace")[-2000:]
    return ""


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclass
class Processes:
    """Processes started by the fixtures; stop() ends each by its own pid, newest first."""

    procs: list[subprocess.Popen] = field(default_factory=list)

    def start(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
        fh = open(log, "ab")  # closed with the process
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, start_new_session=True)
        fh.close()
        proc.ikm_log = str(log)  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        self.procs.clear()


@dataclass
class Tpm2Setup:
    """swtpm + private D-Bus + tpm2-abrmd + a tpm2-pkcs11 store; env() is what the module needs."""

    root: Path
    module: str
    procs: Processes
    bus_address: str = ""
    bus_name: str = ""
    port: int = 0

    @property
    def store(self) -> Path:
        return self.root / "store"

    @property
    def tcti(self) -> str:
        return f"tabrmd:bus_type=session,bus_name={self.bus_name}"

    def env(self) -> dict[str, str]:
        return {
            "DBUS_SESSION_BUS_ADDRESS": self.bus_address,
            "TPM2_PKCS11_TCTI": self.tcti,
            "TPM2TOOLS_TCTI": self.tcti,
            "TPM2_PKCS11_STORE": str(self.store),
            # tpm2-pkcs11 logs at "error" by default to stderr; keep warnings out of test output.
            "TPM2_PKCS11_LOG_LEVEL": "0",
        }

    def ptool(self, *args: str) -> str:
        env = dict(os.environ)
        env.update(self.env())
        # The PINs here are throw-away test PINs (tpm2_ptool only takes them as arguments).
        done = subprocess.run(["tpm2_ptool", *args, f"--path={self.store}"], env=env,
                              capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"tpm2_ptool {args[0]} failed: {done.stderr.strip()[-800:]}")
        return done.stdout

    def add_token(self, label: str, pin: str, so_pin: str) -> None:
        self.ptool("addtoken", "--pid=1", f"--label={label}", f"--userpin={pin}", f"--sopin={so_pin}")


def start_tpm2(root: Path, procs: Processes) -> Tpm2Setup:
    module = first_existing(TPM2_MODULE_CANDIDATES)
    if module is None or not shutil.which("swtpm") or not shutil.which("tpm2-abrmd"):
        raise RuntimeError("tpm2-pkcs11/swtpm/tpm2-abrmd missing: run `make test` (scripts/bootstrap.sh)")
    root.mkdir(parents=True, exist_ok=True)
    setup = Tpm2Setup(root, module, procs)
    state = root / "tpmstate"
    state.mkdir(exist_ok=True)
    port = free_port_pair()
    ctrl = port + 1  # the swtpm TCTI always uses the data port + 1 as the control port
    swtpm = procs.start(["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}",
                         "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                         "--ctrl", f"type=tcp,port={ctrl},bindaddr=127.0.0.1",
                         "--flags", "not-need-init,startup-clear"], root / "swtpm.log")
    _wait(lambda: _port_open(port), "swtpm", proc=swtpm)
    setup.port = port
    bus_sock = root / "bus"
    setup.bus_address = f"unix:path={bus_sock}"
    dbus = procs.start(["dbus-daemon", "--session", "--nofork", "--nopidfile",
                        f"--address={setup.bus_address}"], root / "dbus.log")
    _wait(bus_sock.exists, "dbus-daemon", proc=dbus)
    setup.bus_name = f"com.intel.tss2.Tabrmd.ikm{os.getpid()}"
    env = dict(os.environ, DBUS_SESSION_BUS_ADDRESS=setup.bus_address)
    # --max-connections: every module load/re-initialise (ours, pkcs11-tool's, each CLI run) is a
    # client connection; the default of 27 runs out during the suite (100 is its maximum).
    abrmd = procs.start(["tpm2-abrmd", "--session", "--allow-root", "--flush-all", "--max-connections=100",
                         f"--dbus-name={setup.bus_name}",
                         f"--tcti=swtpm:host=127.0.0.1,port={port}"], root / "abrmd.log", env)
    _wait(lambda: _bus_has_name(setup.bus_address, setup.bus_name), "tpm2-abrmd", proc=abrmd)
    setup.store.mkdir(exist_ok=True)
    setup.ptool("init")
    return setup


def _bus_has_name(address: str, name: str) -> bool:
    done = subprocess.run(["dbus-send", f"--bus={address}", "--print-reply", "--dest=org.freedesktop.DBus",
                           "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}"],
                          capture_output=True, text=True, timeout=5)
    return "boolean true" in done.stdout


class CountingRelay:
    """A unix-socket proxy between p11-kit-client and `p11-kit server` counting RPC requests.

    p11-kit's RPC transport (p11-kit/rpc-transport.c): after a one-byte version handshake each
    message is a 12-byte header (call id, options length, body length, big-endian uint32) and
    then the options and body. Every PKCS#11 call the client forwards is one request message
    and one reply: a round trip.
    """

    def __init__(self, listen: Path, target: Path) -> None:
        self.listen = listen
        self.target = target
        self.requests = 0
        self._lock = threading.Lock()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(listen))
        self._server.listen(8)
        self._closed = False
        self._conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True, name="p11-relay").start()

    def reset(self) -> None:
        with self._lock:
            self.requests = 0

    def count(self) -> int:
        with self._lock:
            return self.requests

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            upstream.connect(str(self.target))
            self._conns += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, requests: bool) -> None:
        pending = b""
        handshake = True
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return
            try:
                dst.sendall(data)
            except OSError:
                return
            if not requests:
                continue
            pending += data
            if handshake:
                pending = pending[1:]
                handshake = False
            while len(pending) >= 12:
                _, olen, blen = struct.unpack(">III", pending[:12])
                if len(pending) < 12 + olen + blen:
                    break
                pending = pending[12 + olen + blen:]
                with self._lock:
                    self.requests += 1

    def close(self) -> None:
        self._closed = True
        for s in [self._server, *self._conns]:
            try:
                s.close()
            except OSError:
                pass
        self.listen.unlink(missing_ok=True)


@dataclass
class P11KitSetup:
    """`p11-kit server` exporting one SoftHSM token, reached through a counting relay."""

    module: str  # p11-kit-client.so
    socket: Path  # the server's own socket
    relay: CountingRelay

    def env(self) -> dict[str, str]:
        return {"P11_KIT_SERVER_ADDRESS": f"unix:path={self.relay.listen}"}


def start_p11kit(root: Path, procs: Processes, provider: str, uri: str,
                 env: dict[str, str]) -> P11KitSetup:
    """`p11-kit server` for the tokens of `provider` matching `uri` (e.g. pkcs11:token=L)."""
    module = first_existing(P11KIT_CLIENT_CANDIDATES)
    if module is None or not shutil.which("p11-kit"):
        raise RuntimeError("p11-kit-client.so missing: run `make test` (scripts/bootstrap.sh)")
    root.mkdir(parents=True, exist_ok=True)
    sock = root / "server.sock"
    server = procs.start(["p11-kit", "server", "-f", "-n", str(sock), "--provider", provider,
                          uri], root / "p11-kit-server.log", env)
    _wait(sock.exists, "p11-kit server", proc=server)
    # p11-kit-client.so reads P11_KIT_SERVER_ADDRESS once per loaded library, and python-pkcs11
    # loads a path once per process: every set-up of this process (one per test file using the
    # `modules` fixture) listens at the same address, so a client an earlier file loaded reaches
    # this file's server instead of a socket that is gone ("No initialised token is visible").
    listen = Path(tempfile.gettempdir()) / f"ikm-p11kit-relay-{os.getpid()}.sock"
    listen.unlink(missing_ok=True)
    relay = CountingRelay(listen, sock)
    return P11KitSetup(module, sock, relay)
