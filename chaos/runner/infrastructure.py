"""Harness-side failures: when our own parts fail, the verdict is ``infrastructure``, never the
stack's fail (nor a pass).

A run judges the stack only through parts the harness brings: the fault proxy, the fault
operations made through it, the metrics it scrapes, the load it drives. When one of those fails
(the fault proxy dead or hung, a fault that could not be applied or removed, a metrics endpoint
gone, a listener worker lost) the SLOs measured the harness, not the stack, so the run says so:
each failure is a journal event (``infrastructure.failure``), a console line, a section of
summary.md and an ``<error>`` in JUnit, and the verdict is ``infrastructure`` (exit 3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from chaos.errors import InfrastructureError
from chaos.report.summary import INFRASTRUCTURE_KIND

__all__ = ["INFRASTRUCTURE_KIND", "HarnessFailed", "HarnessFailure", "Part", "part_of"]


class Part(enum.StrEnum):
    """Which of the harness's parts failed (the journal's ``part`` field)."""

    FAULT_PROXY = "fault-proxy"
    """The fault proxy died, hangs, or cannot be reached."""
    FAULT = "fault"
    """A fault could not be applied or removed (the proxy answered, with an error)."""
    METRICS = "metrics"
    """A metrics endpoint or the Prometheus the verdict reads from is gone."""
    LOAD = "load"
    """A listener worker (swarm process, Locust worker) was lost: the load is incomplete."""
    STACK = "stack"
    """The stack could not start, or was not healthy before any fault."""
    HARNESS = "harness"
    """Anything else of ours (a port, a file, a process we start)."""

    @property
    def label(self) -> str:
        return _LABELS[self]


_LABELS = {
    Part.FAULT_PROXY: "fault proxy",
    Part.FAULT: "fault",
    Part.METRICS: "metrics",
    Part.LOAD: "load",
    Part.STACK: "stack",
    Part.HARNESS: "harness",
}


@dataclass(frozen=True, slots=True)
class HarnessFailure:
    part: Part
    what: str

    def describe(self) -> str:
        return f"{self.part.label}: {self.what}"

    def to_record(self) -> dict[str, Any]:
        return {"part": self.part.value, "what": self.what}


class HarnessFailed(InfrastructureError):
    """A harness-side failure that ends the run now (the fault proxy is gone, a fault could
    not be applied): going on would measure the harness, not the stack."""

    def __init__(self, failure: HarnessFailure, *, fix: str | None = None) -> None:
        self.failure = failure
        super().__init__(failure.describe(), fix=fix, part=failure.part)


def part_of(exc: BaseException) -> Part:
    """The part an infrastructure error is about (``HARNESS`` when it does not say)."""
    part = getattr(exc, "part", None)
    try:
        return Part(part) if part is not None else Part.HARNESS
    except ValueError:
        return Part.HARNESS
