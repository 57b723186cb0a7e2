"""What happened in a run, derived from its journal alone (pure: no I/O beyond the reader).

The event vocabulary a summary understands: ``phase`` events (field ``phase``), fault
operations (kinds ``fault.start`` / ``fault.end`` with a ``name``), SLO evaluations (kind ``slo``
with ``name``, ``status`` and ``value``) and the final ``verdict`` (field ``verdict``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chaos.report.journal import PHASE_KIND, Journal

FAULT_START = "fault.start"
FAULT_END = "fault.end"
SLO_KIND = "slo"
VERDICT_KIND = "verdict"
_ENVELOPE = frozenset({"v", "run", "seq", "wall", "mono", "kind"})


@dataclass(frozen=True)
class PhaseSpan:
    name: str
    start: float
    end: float | None


@dataclass(frozen=True)
class FaultSpan:
    name: str
    start: float
    end: float | None
    params: dict[str, Any]


@dataclass(frozen=True)
class RunSummary:
    run_id: str | None
    seed: int | None
    title: str | None
    started_wall: float
    duration_s: float
    phases: list[PhaseSpan]
    faults: list[FaultSpan]
    slos: list[dict[str, Any]]
    verdict: str | None
    event_counts: dict[str, int] = field(default_factory=dict)
    torn_tail: bool = False
    closed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seed": self.seed,
            "title": self.title,
            "started_wall": self.started_wall,
            "duration_s": self.duration_s,
            "phases": [vars(p) for p in self.phases],
            "faults": [vars(f) for f in self.faults],
            "slos": self.slos,
            "verdict": self.verdict,
            "event_counts": self.event_counts,
            "torn_tail": self.torn_tail,
            "closed": self.closed,
        }


def _relative(event: dict[str, Any], origin: float) -> float:
    return float(event.get("mono", origin)) - origin


def summarize(journal: Journal) -> RunSummary:
    """Fold a journal into phases, fault windows, SLO results and the verdict.

    Times are seconds since the journal opened, on the monotonic clock, so a wall-clock jump
    during the run cannot distort them.
    """
    header = journal.header
    origin = float(header.get("mono", 0.0))
    last = journal.events[-1]

    phases: list[PhaseSpan] = []
    for event in journal.of_kind(PHASE_KIND):
        at = _relative(event, origin)
        if phases and phases[-1].end is None:
            phases[-1] = PhaseSpan(phases[-1].name, phases[-1].start, at)
        phases.append(PhaseSpan(str(event.get("phase")), at, None))
    if phases and phases[-1].end is None and journal.closed:
        phases[-1] = PhaseSpan(phases[-1].name, phases[-1].start, _relative(last, origin))

    open_faults: dict[str, FaultSpan] = {}
    faults: list[FaultSpan] = []
    for event in journal.of_kind(FAULT_START, FAULT_END):
        name = str(event.get("name"))
        at = _relative(event, origin)
        if event["kind"] == FAULT_START:
            params = {k: v for k, v in event.items() if k not in _ENVELOPE | {"name"}}
            open_faults[name] = FaultSpan(name, at, None, params)
        elif name in open_faults:
            started = open_faults.pop(name)
            faults.append(FaultSpan(name, started.start, at, started.params))
    faults.extend(open_faults.values())
    faults.sort(key=lambda span: span.start)

    verdicts = [event for event in journal.of_kind(VERDICT_KIND)]
    title = header.get("title")
    return RunSummary(
        run_id=journal.run_id,
        seed=journal.seed,
        title=title if isinstance(title, str) else None,
        started_wall=float(header.get("wall", 0.0)),
        duration_s=_relative(last, origin),
        phases=phases,
        faults=faults,
        slos=[
            {k: v for k, v in event.items() if k not in _ENVELOPE}
            for event in journal.of_kind(SLO_KIND)
        ],
        verdict=str(verdicts[-1].get("verdict")) if verdicts else None,
        event_counts=dict(Counter(str(event["kind"]) for event in journal.events)),
        torn_tail=journal.torn_tail,
        closed=journal.closed,
    )
