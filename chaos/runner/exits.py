"""Stack components that exit by themselves during a run: the stack's behaviour, reported.

A replica that ends while the harness did not end it (no kill or restart fault, not the
teardown) crashed, was OOM-killed, or was killed by someone else. The SLOs still judge the
run (what the listeners lived through is the verdict), but nobody should have to infer from
a failed SLO that edge-1 died: the exit — when, on both clocks, how (exit code or signal) and
the last lines of its log — is journalled (``component.exit``), printed, and shown in
summary.md and on the report's timeline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.report.clock import since_t0
from chaos.stack import processes
from chaos.stack.processes import ProcessRef

COMPONENT_EXIT_KIND = "component.exit"

LOG_LINES = 10
"""Lines of a component's log kept with its exit (what it said last)."""

CHECK_EVERY = 0.25
"""Seconds between looks at the stack's processes (an exit is timed to within this)."""


@dataclass(frozen=True)
class ComponentExit:
    replica: str
    pid: int
    at: float
    """Seconds from T0 (negative before it)."""
    wall: float
    how: str
    """``killed by SIGKILL``, ``exited with code 1``."""
    returncode: int | None
    """The process's return code, negative for a signal; None when it is not ours to know."""
    log: str
    last_lines: tuple[str, ...]

    def describe(self) -> str:
        return f"{self.replica} (pid {self.pid}) {self.how} at {since_t0(self.at, decimals=1)}"

    def to_record(self) -> dict[str, Any]:
        code = self.returncode
        return {
            "replica": self.replica,
            "pid": self.pid,
            "at": self.at,
            "exit_wall": self.wall,
            "how": self.how,
            "returncode": code,
            "signal": -code if code is not None and code < 0 else None,
            "log": self.log,
            "last_lines": list(self.last_lines),
        }


class ExitWatch:
    """Looks at the stack's current processes (a restart replaces one) and tells of each
    that ended without the harness ending it, once."""

    def __init__(
        self,
        refs: Callable[[], list[ProcessRef]],
        logs: Mapping[str, Path],
        now: Callable[[], float],
    ) -> None:
        """``now``: seconds from T0."""
        self._refs = refs
        self._logs = logs
        self._now = now
        self._told: set[ProcessRef] = set()

    def check(self) -> list[ComponentExit]:
        """The exits not told yet."""
        found = []
        for ref in self._refs():
            if ref in self._told or processes.alive(ref) or processes.ended_by_harness(ref):
                continue
            self._told.add(ref)
            status = processes.returncode_of(ref)
            log = self._logs.get(ref.name)
            tail = processes.log_tail(log, LOG_LINES) if log is not None else "(no log)"
            found.append(
                ComponentExit(
                    replica=ref.name,
                    pid=ref.pid,
                    at=self._now(),
                    wall=time.time(),
                    how="exited" if status is None else processes.describe_status(status),
                    returncode=status,
                    log="" if log is None else str(log),
                    last_lines=tuple(tail.splitlines()),
                )
            )
        return found

    async def run(self, tell: Callable[[ComponentExit], None]) -> None:
        while True:
            for found in self.check():
                tell(found)
            await asyncio.sleep(CHECK_EVERY)
