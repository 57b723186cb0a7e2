"""Run a command while N CPU-bound processes of our own keep the machine busy (`make test-loaded`).

    python tests/busy.py N -- COMMAND [ARG...]

Each busy process spins in pure Python at normal priority, as a neighbour's build would on a
shared CI machine. They are stopped when the command ends, however it ends (its exit status is
ours; an interrupted run is 130), and they die with this process if it is killed (Linux's
parent-death signal), so nothing outlives the run.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import subprocess
import sys
import time

_SPIN = "while True: pass"
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _usage(message: str) -> int:
    print(f"busy.py: {message}\nusage: python tests/busy.py N -- COMMAND [ARG...]", file=sys.stderr)
    return 2


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        return _usage("give a number of busy processes, then --, then the command")
    try:
        count = int(argv[0])
    except ValueError:
        return _usage(f"N must be a whole number, not {argv[0]!r}")
    if not 0 <= count <= 64:
        return _usage(f"N must be between 0 and 64, not {count}")
    busy = [
        subprocess.Popen([sys.executable, "-c", _SPIN], preexec_fn=_die_with_parent)
        for _ in range(count)
    ]
    print(f"busy.py: {count} CPU-bound processes running: {[p.pid for p in busy]}", flush=True)
    began = time.monotonic()
    command = subprocess.Popen(argv[2:])
    try:
        code = command.wait()
    except KeyboardInterrupt:
        command.send_signal(signal.SIGINT)
        command.wait()
        code = 130
    finally:
        for proc in busy:
            proc.kill()
        for proc in busy:
            proc.wait()
    print(
        f"busy.py: stopped the {count} busy processes after {time.monotonic() - began:.0f} s; "
        f"the command exited {code}",
        flush=True,
    )
    return 130 if code < 0 and -code == signal.SIGINT else (code if code >= 0 else 128 - code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
