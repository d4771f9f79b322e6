#!/usr/bin/env python3
"""The host's end of the stock-guest TCP tests (tests/integration/tcp_guest.sh).

  tcp_peer.py recv PORT BYTES SECONDS   accept one connection on PORT, read
                                        BYTES (or until EOF), report them
  tcp_peer.py send ADDR PORT BYTES SECONDS
                                        connect (retrying until SECONDS run
                                        out), send BYTES of random data, close
                                        the write side, wait for the peer's EOF

Each prints one line, e.g.
  recv 4194304 bytes sha256 HASH in 1.234 s (27.2 Mbit/s)
and exits 0, or prints why not and exits 1. Only ever talks to the address it
is given or accepts on, which the tests keep inside their own namespace.
"""
import hashlib
import os
import socket
import sys
import time

CHUNK = 65536


def report(verb, n, digest, secs):
    mbit = n * 8 / secs / 1e6 if secs > 0 else 0.0
    print(f"{verb} {n} bytes sha256 {digest} in {secs:.3f} s ({mbit:.1f} Mbit/s)", flush=True)


def recv(port, nbytes, limit):
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(1)
    srv.settimeout(limit)
    try:
        conn, _ = srv.accept()
    except socket.timeout:
        print(f"recv: no connection on port {port} within {limit} s", flush=True)
        return 1
    deadline = time.monotonic() + limit
    h = hashlib.sha256()
    got = 0
    start = time.monotonic()
    with conn:
        while got < nbytes:
            left = deadline - time.monotonic()
            if left <= 0:
                print(f"recv: only {got} of {nbytes} bytes within {limit} s", flush=True)
                return 1
            conn.settimeout(left)
            try:
                data = conn.recv(min(CHUNK, nbytes - got))
            except socket.timeout:
                continue
            if not data:
                break
            h.update(data)
            got += len(data)
        secs = time.monotonic() - start
    report("recv", got, h.hexdigest(), secs)
    return 0


def send(addr, port, nbytes, limit):
    deadline = time.monotonic() + limit
    while True:
        try:
            s = socket.create_connection((addr, port), timeout=5)
            break
        except OSError as e:
            if time.monotonic() > deadline:
                print(f"send: cannot connect to {addr}:{port}: {e}", flush=True)
                return 1
            time.sleep(0.5)
    data = os.urandom(nbytes)
    start = time.monotonic()
    with s:
        s.settimeout(max(1.0, deadline - time.monotonic()))
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            # The guest's nc exits, closing its end, once it has read all.
            while s.recv(CHUNK):
                pass
        except OSError as e:
            print(f"send: {e} after {time.monotonic() - start:.1f} s", flush=True)
            return 1
        secs = time.monotonic() - start
    report("sent", nbytes, hashlib.sha256(data).hexdigest(), secs)
    return 0


def main(argv):
    try:
        if len(argv) == 5 and argv[1] == "recv":
            return recv(int(argv[2]), int(argv[3]), float(argv[4]))
        if len(argv) == 6 and argv[1] == "send":
            return send(argv[2], int(argv[3]), int(argv[4]), float(argv[5]))
    except ValueError:
        pass
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
