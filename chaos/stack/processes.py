"""Local processes of a stack: start one with its log captured, and stop whole process groups.

Every replica runs in its own session (so its own process group): a stop signals the group,
which reaches anything the component forked, and the harness's own terminal signals do not
leak into the stack. A process is identified by pid *and* start time, so `gameday stack down`
from a later shell never signals an unrelated process that reused a pid.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import InfrastructureError


@dataclass(frozen=True)
class ProcessRef:
    """A started process as it is remembered in a state file."""

    name: str
    pid: int
    start_ticks: int | None
    """Start time in clock ticks since boot (/proc/PID/stat field 22); None if unknown."""


def start_ticks(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; fields follow the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[0]


def alive(ref: ProcessRef) -> bool:
    """True while the very process ``ref`` names runs (not a zombie, not a reused pid)."""
    try:
        finished, _ = os.waitpid(ref.pid, os.WNOHANG)
        if finished == ref.pid:
            return False
    except ChildProcessError:
        pass  # not our child (a `stack down` from another shell): look at /proc instead
    state = _state(ref.pid)
    if state is None or state in ("Z", "X"):
        return False
    return ref.start_ticks is None or start_ticks(ref.pid) == ref.start_ticks


_PR_SET_PDEATHSIG = 1
# Resolved before any fork: a child between fork and exec must not load libraries.
_prctl = getattr(ctypes.CDLL(None), "prctl", None) if sys.platform.startswith("linux") else None


def die_with_parent(sig: signal.Signals = signal.SIGTERM, parent: int | None = None) -> None:
    """Ask Linux to send ``sig`` to this process when the thread that started it dies.

    This is what stops a stack (or a swarm worker) from outliving a harness killed with
    SIGKILL, when no ``finally`` runs. Call it in the child, with the ``parent`` pid read
    before the fork if known; a no-op where prctl is missing.
    """
    if _prctl is None:
        return
    expected = os.getppid() if parent is None else parent
    _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    if os.getppid() != expected:  # the parent died before prctl took effect
        os.kill(os.getpid(), sig)


def spawn(
    name: str,
    command: list[str],
    log_path: Path,
    env: dict[str, str] | None = None,
    *,
    tied: bool = False,
) -> ProcessRef:
    """Start ``command`` in a new session, stdout and stderr appended to ``log_path``.

    ``tied``: the process gets SIGTERM when the calling thread dies (``die_with_parent``), for
    a run's stack; `gameday stack up` leaves it untied so the stack outlives the command.
    """
    preexec: Callable[[], None] | None = (
        functools.partial(die_with_parent, signal.SIGTERM, os.getpid()) if tied else None
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,
                env={**os.environ, **(env or {})},
            )
        except OSError as exc:
            raise InfrastructureError(
                f"cannot start {name}: {exc.strerror or exc}",
                where=" ".join(command),
                fix="check the component's command in the stack spec",
            ) from None
    return ProcessRef(name, process.pid, start_ticks(process.pid))


def signal_group(ref: ProcessRef, sig: signal.Signals) -> None:
    if not alive(ref):
        return
    try:
        os.killpg(ref.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(ref.pid, sig)


async def stop_all(refs: list[ProcessRef], grace: float) -> list[str]:
    """SIGTERM every group, wait up to ``grace`` s, then SIGKILL; names of those killed."""
    for ref in refs:
        signal_group(ref, signal.SIGTERM)
        signal_group(ref, signal.SIGCONT)  # a paused (SIGSTOP) component must wake to exit
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(alive(r) for r in refs):
        await asyncio.sleep(0.02)
    killed = [r.name for r in refs if alive(r)]
    for ref in refs:
        if ref.name in killed:
            signal_group(ref, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(alive(r) for r in refs):
        await asyncio.sleep(0.02)
    return killed


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
