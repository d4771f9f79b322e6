#!/usr/bin/env python3
"""minivmm on a real terminal (a pty): input reaches the guest, Ctrl-A x quits
with status 0, and the terminal settings are exactly restored afterwards.

    console_test.py MINIVMM ECHO_PAYLOAD SPIN_PAYLOAD
"""
import os
import pty
import select
import sys
import termios
import time

minivmm, echo_payload, spin_payload = sys.argv[1:4]


def spawn(kernel):
    pid, master = pty.fork()
    if pid == 0:
        os.execv(minivmm, [minivmm, "--kernel", kernel])
    return pid, master


def read_until(master, pattern, timeout=120.0):
    out = b""
    deadline = time.time() + timeout
    while pattern not in out:
        left = deadline - time.time()
        if left <= 0:
            raise AssertionError(f"no {pattern!r} within {timeout}s; got {out!r}")
        r, _, _ = select.select([master], [], [], left)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the child closed the pty
                break
            if not chunk:
                break
            out += chunk
    if pattern not in out:
        raise AssertionError(f"no {pattern!r}; got {out!r}")
    return out


def drain_and_wait(pid, master, timeout=60.0):
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([master], [], [], 0.2)
        if r:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                chunk = b""
            out += chunk
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), out
    os.kill(pid, 9)
    raise AssertionError(f"minivmm did not exit; output {out!r}")


failures = 0
passes = 0


def check(name, cond, detail=""):
    global failures, passes
    if cond:
        passes += 1
        print(f"ok   {name}")
    else:
        failures += 1
        print(f"FAIL {name} {detail}")


# 1. A line typed on the terminal reaches the guest through COM1.
pid, master = spawn(echo_payload)
read_until(master, b"ready")
os.write(master, b"hello guest\r")  # the pty's ICRNL is off in raw mode: send \n too
os.write(master, b"\n")
status, out = drain_and_wait(pid, master)
check("input reaches the guest", b"got: hello guest" in out, repr(out))
check("guest reset exits 0", status == 0, f"status {status}")

# 2. Ctrl-A x quits, and the terminal comes back as it was.
pid, master = spawn(spin_payload)
before = termios.tcgetattr(master)
read_until(master, b"spinning")
during = termios.tcgetattr(master)
check("raw mode while running", not (during[3] & termios.ICANON) and not (during[3] & termios.ECHO))
os.write(master, b"\x01x")
status, out = drain_and_wait(pid, master)
after = termios.tcgetattr(master)
check("Ctrl-A x exits 0", status == 0, f"status {status}, output {out!r}")
check("says why it stopped", b"quit by the user (Ctrl-A x)" in out, repr(out))
check("terminal restored", before == after, f"{before} != {after}")

print(f"console: {passes} passed, {failures} failed")
sys.exit(1 if failures else 0)
