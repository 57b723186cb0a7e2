"""Local processes of a stack: start one with its log captured, and stop whole process groups.

Every replica runs in its own session (so its own process group): a stop signals the group,
which reaches anything the component forked (a wrapper's children too, after the wrapper
itself is gone), and the harness's own terminal signals do not leak into the stack. A process
is identified by pid *and* start time, so `gameday stack down` from a later shell never
signals an unrelated process that reused a pid. A tied process's group is also told to the
harness's reaper (``chaos.stack.reaper``), which ends it when the harness dies, however.
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
from chaos.stack.reaper import Reaper, group_members


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


_children: dict[int, subprocess.Popen[bytes]] = {}
"""Processes this harness started, by pid: their exit status is read from here (a bare
``waitpid`` elsewhere would take it, and a component's exit must say its code or signal)."""


def alive(ref: ProcessRef) -> bool:
    """True while the very process ``ref`` names runs: our own child until it is reaped, any
    other process until it is a zombie or its pid is reused."""
    child = _children.get(ref.pid)
    if child is not None:
        # Our own child is alive until it is reaped: a multithreaded leader shows as a zombie
        # while its other threads still exit, and then waitpid cannot give its status yet (an
        # exit told then would say "exited" instead of "killed by SIGKILL"). Its pid cannot be
        # reused before we reap it.
        return child.poll() is None
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


def group_running(ref: ProcessRef) -> bool:
    """True while any process of ``ref``'s group runs: the leader, or what it left behind (a
    wrapper shell's child outlives the shell). A pid reused by another process means the old
    group is empty (Linux gives out no pid that is still some group's id)."""
    if alive(ref):
        return True
    ticks = start_ticks(ref.pid)
    if ref.start_ticks is not None and ticks is not None and ticks != ref.start_ticks:
        return False
    return bool(group_members(ref.pid))


def exit_of(ref: ProcessRef) -> str | None:
    """How a process this harness started ended (``exited with code 1``, ``killed by
    SIGKILL``); None while it runs, or when it is not ours to know."""
    status = returncode_of(ref)
    return None if status is None else describe_status(status)


def returncode_of(ref: ProcessRef) -> int | None:
    """A Popen return code (negative: the signal) of a process this harness started that has
    ended; None while it runs, or when it is not ours to know."""
    child = _children.get(ref.pid)
    if child is None:
        return None
    return child.poll()


ENDING_SIGNALS = frozenset({signal.SIGTERM, signal.SIGKILL, signal.SIGINT, signal.SIGQUIT})
_ended_by_us: set[ProcessRef] = set()
"""Processes this harness itself sent a signal that ends a process (a kill fault, a restart,
a stop): their exit is the harness's doing, any other exit the component's own."""


def ending(ref: ProcessRef) -> None:
    """The harness itself ends ``ref`` (a kill fault, a restart, a stop; a backend that
    signals in its own way, such as Docker's, says so here): its exit is not the component's."""
    _ended_by_us.add(ref)


def ended_by_harness(ref: ProcessRef) -> bool:
    """True once this harness signalled ``ref`` to end (see ``signal_group``)."""
    return ref in _ended_by_us


def describe_status(returncode: int) -> str:
    """A Popen return code as people say it."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with code {returncode}"


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
    _children[process.pid] = process
    if tied:
        REAPER.group(process.pid)
    return ProcessRef(name, process.pid, start_ticks(process.pid))


REAPER = Reaper()
"""This harness's reaper, started with the first process that must die with the harness."""


def reap_with_harness(pid: int, *, patient: bool = False) -> None:
    """A lone process (not a group of its own: a listener worker) that must not outlive the
    harness, whatever kills it; ``patient``: one that exits by itself once the others are gone
    and has a moment to (see ``chaos.stack.reaper``)."""
    REAPER.process(pid, start_ticks(pid), patient=patient)


def done_with(pid: int) -> None:
    """A lone process ``reap_with_harness`` was told of has ended."""
    REAPER.unprocess(pid)


def signal_group(ref: ProcessRef, sig: signal.Signals) -> None:
    if sig in ENDING_SIGNALS:
        ending(ref)
    if not group_running(ref):
        return
    try:
        os.killpg(ref.pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(ref.pid, sig)


async def stop_all(refs: list[ProcessRef], grace: float) -> list[str]:
    """SIGTERM every group, wait up to ``grace`` s, then SIGKILL; names of those killed. A
    group is gone once every process in it is (its leader's children too)."""
    for ref in refs:
        signal_group(ref, signal.SIGTERM)
        signal_group(ref, signal.SIGCONT)  # a paused (SIGSTOP) component must wake to exit
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(group_running(r) for r in refs):
        await asyncio.sleep(0.02)
    killed = [r.name for r in refs if group_running(r)]
    for ref in refs:
        if ref.name in killed:
            signal_group(ref, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and any(group_running(r) for r in refs):
        await asyncio.sleep(0.02)
    for ref in refs:
        if not group_running(ref):
            REAPER.ungroup(ref.pid)
    return killed


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"
