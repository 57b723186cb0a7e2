"""When the harness dies, however it dies, every process it started goes: a small reaper.

``PR_SET_PDEATHSIG`` reaches only a direct child, and a SIGKILLed harness runs no ``finally``:
a component started through a wrapper (``sh -c "python3 -m http.server …; echo"``) lost its
shell and lived on, holding its port. So the first tied process the harness starts also starts
this reaper, in a session of its own, reading a pipe whose only writer is the harness. The
harness tells it each process group it starts (``group PGID``) and each lone process
(``process PID TICKS``: listener workers; ``patient`` for multiprocessing's resource tracker,
which cleans up shared semaphores and exits by itself once the workers are gone), and what it
stopped itself (``ungroup``, ``unprocess``). The kernel closes the pipe when the harness
exits, whatever killed it: the reaper reads end-of-file, SIGKILLs every lone process at once,
sends every group still there SIGTERM (and SIGCONT, for a paused one), SIGKILLs what is left
of the groups and patient processes after ``GRACE`` seconds, and exits. Nothing polls while
the harness lives.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

GRACE = 1.0
"""Seconds a group has, after SIGTERM, before SIGKILL (the harness is gone: no long goodbyes)."""


def _ticks(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks (/proc/PID/stat field 22); None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[19])


def group_members(pgid: int) -> list[int]:
    """Pids of the live (not zombie) processes in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


@dataclass(frozen=True)
class Lone:
    """A process that is not a group of its own."""

    ticks: int | None
    patient: bool = False
    """Given ``GRACE`` seconds to exit by itself before SIGKILL."""

    def running(self, pid: int) -> bool:
        """Still the very process told of (never one that reused the pid)."""
        ticks = _ticks(pid)
        return ticks is not None and (self.ticks is None or ticks == self.ticks)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def reap(groups: set[int], lone: dict[int, Lone]) -> None:
    """End every group and lone process still there (the harness is gone)."""
    for pid, process in lone.items():
        if not process.patient and process.running(pid):
            _kill(pid)
    alive = {g for g in groups if group_members(g)}
    for pgid in alive:
        _signal_group(pgid, signal.SIGTERM)
        _signal_group(pgid, signal.SIGCONT)
    patient = {pid: p for pid, p in lone.items() if p.patient}
    deadline = time.monotonic() + GRACE
    while (alive or patient) and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = {g for g in alive if group_members(g)}
        patient = {pid: p for pid, p in patient.items() if p.running(pid)}
    for pgid in alive:
        _signal_group(pgid, signal.SIGKILL)
    for pid in patient:
        _kill(pid)


@dataclass
class Told:
    """What the harness's messages leave to reap."""

    groups: set[int] = field(default_factory=set)
    lone: dict[int, Lone] = field(default_factory=dict)
    ledgers: set[str] = field(default_factory=set)
    """Files that list these processes for `stack down --run-id` (``chaos.stack.ledger``):
    removed once they are reaped, so a killed run leaves no stale list behind."""


def serve(lines: list[str]) -> Told:
    """The reaper's bookkeeping (pure)."""
    told = Told()
    for line in lines:
        if line.startswith("ledger "):
            told.ledgers.add(line.removeprefix("ledger "))
            continue
        match line.split():
            case ["group", pgid]:
                told.groups.add(int(pgid))
            case ["ungroup", pgid]:
                told.groups.discard(int(pgid))
            case ["process", pid, ticks, *how]:
                patient = how == ["patient"]
                told.lone[int(pid)] = Lone(None if ticks == "-" else int(ticks), patient)
            case ["unprocess", pid]:
                told.lone.pop(int(pid), None)
    return told


def main() -> None:
    """The reaper: read the harness's messages until the pipe closes, then reap."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a terminal's signals are the harness's to handle
    lines = sys.stdin.read().splitlines()  # returns once the harness's end is closed
    told = serve(lines)
    reap(told.groups, told.lone)
    for ledger in told.ledgers:
        Path(ledger).unlink(missing_ok=True)


class Reaper:
    """The harness's side: starts the reaper once, then tells it what to reap."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pipe: int | None = None
        self._child: subprocess.Popen[bytes] | None = None

    def _started(self) -> int | None:
        if self._pipe is None:
            read, write = os.pipe()  # not inherited by anything else the harness starts
            try:
                child = subprocess.Popen(
                    [sys.executable, "-m", "chaos.stack.reaper"],
                    stdin=read,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # the user's Ctrl-C or kill of our group spares it
                )
            except OSError:
                os.close(write)
                return None
            finally:
                os.close(read)
            self._pipe, self._child = write, child
        return self._pipe

    @property
    def pid(self) -> int | None:
        return None if self._child is None else self._child.pid

    def _tell(self, line: str, *, start: bool = True) -> None:
        """Send one message; ``start``: start the reaper first if it is not running (a
        message that only takes something off its lists needs none)."""
        with self._lock:
            pipe = self._started() if start or self._pipe is not None else None
            if pipe is None:
                return
            # a reaper that is gone fails the write: PDEATHSIG still covers direct children
            with contextlib.suppress(OSError):
                os.write(pipe, (line + "\n").encode())

    def group(self, pgid: int) -> None:
        self._tell(f"group {pgid}")

    def ungroup(self, pgid: int) -> None:
        self._tell(f"ungroup {pgid}", start=False)

    def process(self, pid: int, ticks: int | None, *, patient: bool = False) -> None:
        how = " patient" if patient else ""
        self._tell(f"process {pid} {'-' if ticks is None else ticks}{how}")

    def ledger(self, path: Path) -> None:
        self._tell(f"ledger {path}")

    def unprocess(self, pid: int) -> None:
        self._tell(f"unprocess {pid}", start=False)


if __name__ == "__main__":
    main()
