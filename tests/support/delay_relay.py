"""`python -m tests.support.delay_relay [--count FILE] MS CMD...`: run CMD (speaking p11-kit's RPC on
stdin/stdout) and hold every request message MS milliseconds before passing it on: a link with that
round-trip time. With --count, each request's RPC call id is appended to FILE, one line each: the
round trips a test can count (p11-kit/rpc-message.h numbers the calls).

p11-kit's RPC (p11-kit/rpc-transport.c): one version byte, then messages of a 12-byte header (call
id, options length, body length: big-endian uint32) and the options and body. Each PKCS#11 call is
one request and one reply, so delaying each request by the RTT makes every call cost one RTT, as
ssh to a host that far away would. The replies pass at once.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import threading
import time


def _requests(src: int, dst: int, delay: float, count: int | None = None) -> None:
    pending = b""
    handshake = True
    while True:
        data = os.read(src, 65536)
        if not data:
            os.close(dst)
            return
        pending += data
        while True:
            if handshake:
                if not pending:
                    break
                size = 1
            elif len(pending) >= 12:
                _, olen, blen = struct.unpack(">III", pending[:12])
                size = 12 + olen + blen
                if len(pending) < size:
                    break
            else:
                break
            message, pending = pending[:size], pending[size:]
            if count is not None and not handshake:
                _, olen, _ = struct.unpack(">III", message[:12])  # the body starts with the call id
                os.write(count, b"%d\n" % struct.unpack(">I", message[12 + olen:16 + olen])[0])
            time.sleep(delay)
            os.write(dst, message)
            handshake = False


def _replies(src: int, dst: int) -> None:
    while True:
        data = os.read(src, 65536)
        if not data:
            return
        os.write(dst, data)


def main(argv: list[str]) -> int:
    count: int | None = None
    if argv[0] == "--count":
        count = os.open(argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        argv = argv[2:]
    delay = float(argv[0]) / 1000.0
    child = subprocess.Popen(argv[1:], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    t = threading.Thread(target=_replies, args=(child.stdout.fileno(), 1), daemon=True)
    t.start()
    try:
        _requests(0, child.stdin.fileno(), delay, count)
    except OSError:
        pass
    child.wait()
    t.join(1)
    return child.returncode or 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
