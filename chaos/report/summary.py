"""What happened in a run, derived from its journal alone (pure: no I/O beyond the reader).

The event vocabulary a summary understands: ``phase`` events (field ``phase``; the baseline's
carries T0 as ``t0``/``t0_mono``), fault operations (kinds ``fault.start`` / ``fault.end`` with
a ``name``; ``fault.end_failed`` when a removal failed, which leaves the fault open),
harness-side failures (``infrastructure.failure`` with ``part`` and ``what``), SLO evaluations
(kind ``slo`` with ``name``, ``status`` and ``value``), tripped guards (``guard.trip``), stack
components that exited by themselves (``component.exit``: ``replica``, ``how``, ``at``), the
rollback (``rollback.done``) and the final ``verdict`` (field ``verdict``, with its
``message``, ``guard`` and ``problems``). Every time is seconds from T0
(``chaos.report.clock``), negative before it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from chaos.report.clock import RunClock
from chaos.report.journal import PHASE_KIND, Journal

FAULT_START = "fault.start"
FAULT_END = "fault.end"
FAULT_END_FAILED = "fault.end_failed"
"""A fault whose removal failed: it is still on (or unknown), never shown as ended."""
INFRASTRUCTURE_KIND = "infrastructure.failure"
"""One harness-side failure (fields ``part``, ``what``): the verdict is ``infrastructure``."""
SLO_KIND = "slo"
VERDICT_KIND = "verdict"
GUARD_TRIP = "guard.trip"
COMPONENT_EXIT = "component.exit"
ROLLBACK_DONE = "rollback.done"
BASELINE = "baseline"
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
    """The ``fault.start`` event's fields: ``type``, ``params`` (as the file wrote them), and
    what was made (``toxics``, ``proxies``, ``replicas``, ``floods``)."""
    not_removed: tuple[str, ...] = ()
    """Why the fault could not be removed (``fault.end_failed``), while it never ended."""
    ended: dict[str, Any] = field(default_factory=dict)
    """The ``fault.end`` event's fields: ``problems`` and what the fault did (bytes, howls)."""


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
    verdict_message: str | None = None
    infrastructure: list[dict[str, Any]] = field(default_factory=list)
    """Harness-side failures (``infrastructure.failure``: ``part``, ``what``, ``at`` seconds)."""
    event_counts: dict[str, int] = field(default_factory=dict)
    torn_tail: bool = False
    closed: bool = False
    clock: RunClock = field(default_factory=lambda: RunClock(0.0, 0.0, known=False))
    """T0 on both clocks; every time above is seconds from it."""
    opened: float = 0.0
    """When the journal opened, from T0 (negative: the stack started before T0)."""
    outcome: dict[str, Any] = field(default_factory=dict)
    """The verdict event's fields: ``message``, ``guard``, ``problems``, ``rollback_seconds``."""
    guard_trips: list[dict[str, Any]] = field(default_factory=list)
    """Each ``guard.trip``: ``guard``, ``value``, ``since`` (wall), ``policy``, ``at`` (T0)."""
    rollback: dict[str, Any] | None = None
    """The ``rollback.done`` event's fields (``seconds``, ``problems``) and ``at`` (T0)."""
    component_exits: list[dict[str, Any]] = field(default_factory=list)
    """Each ``component.exit``: ``replica``, ``pid``, ``how``, ``last_lines``, ``at`` (T0)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seed": self.seed,
            "title": self.title,
            "started_wall": self.started_wall,
            "t0_wall": self.clock.wall(0.0) if self.clock.known else None,
            "duration_s": self.duration_s,
            "phases": [vars(p) for p in self.phases],
            "faults": [vars(f) for f in self.faults],
            "slos": self.slos,
            "verdict": self.verdict,
            "verdict_message": self.verdict_message,
            "infrastructure": self.infrastructure,
            "outcome": self.outcome,
            "guard_trips": self.guard_trips,
            "rollback": self.rollback,
            "component_exits": self.component_exits,
            "event_counts": self.event_counts,
            "torn_tail": self.torn_tail,
            "closed": self.closed,
        }


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def run_clock(journal: Journal) -> RunClock:
    """T0 of the run, from the baseline phase; without one (a run killed before its baseline),
    the journal's opening stands in and the clock says it is not T0."""
    for event in journal.of_kind(PHASE_KIND):
        t0 = _number(event.get("t0"))
        if event.get("phase") != BASELINE or t0 is None:
            continue
        mono = _number(event.get("t0_mono"))
        if mono is None:  # journals before t0_mono: the baseline event's own clock offset
            mono = (_number(event.get("mono")) or 0.0) + t0 - (_number(event.get("wall")) or t0)
        return RunClock(t0, mono)
    header = journal.header
    return RunClock(float(header.get("wall", 0.0)), float(header.get("mono", 0.0)), known=False)


def _relative(event: dict[str, Any], origin: float) -> float:
    return float(event.get("mono", origin)) - origin


def _fields(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in _ENVELOPE}


def summarize(journal: Journal) -> RunSummary:
    """Fold a journal into phases, fault windows, SLO results and the verdict.

    Times are seconds from T0 on the monotonic clock, so a wall-clock jump during the run
    cannot distort them.
    """
    header = journal.header
    clock = run_clock(journal)
    origin = clock.t0_mono
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
    for event in journal.of_kind(FAULT_START, FAULT_END, FAULT_END_FAILED):
        name = str(event.get("name"))
        at = _relative(event, origin)
        if event["kind"] == FAULT_START:
            params = {k: v for k, v in event.items() if k not in _ENVELOPE | {"name"}}
            open_faults[name] = FaultSpan(name, at, None, params)
        elif event["kind"] == FAULT_END_FAILED and name in open_faults:
            problems = event.get("problems")
            reasons = tuple(map(str, problems)) if isinstance(problems, list) else ()
            started = open_faults[name]
            open_faults[name] = FaultSpan(name, started.start, None, started.params, reasons)
        elif name in open_faults:
            started = open_faults.pop(name)
            ended = {k: v for k, v in _fields(event).items() if k != "name"}
            faults.append(FaultSpan(name, started.start, at, started.params, ended=ended))
    faults.extend(open_faults.values())
    faults.sort(key=lambda span: span.start)

    verdicts = [event for event in journal.of_kind(VERDICT_KIND)]
    message = verdicts[-1].get("message") if verdicts else None
    rollbacks = [
        {**_fields(event), "at": _relative(event, origin)}
        for event in journal.of_kind(ROLLBACK_DONE)
    ]
    title = header.get("title")
    opened = _relative(header, origin)
    return RunSummary(
        run_id=journal.run_id,
        seed=journal.seed,
        title=title if isinstance(title, str) else None,
        started_wall=float(header.get("wall", 0.0)),
        duration_s=_relative(last, origin) - opened,
        phases=phases,
        faults=faults,
        slos=[_fields(event) for event in journal.of_kind(SLO_KIND)],
        verdict=str(verdicts[-1].get("verdict")) if verdicts else None,
        verdict_message=message if isinstance(message, str) else None,
        infrastructure=[
            {"part": str(e.get("part")), "what": str(e.get("what")), "at": _relative(e, origin)}
            for e in journal.of_kind(INFRASTRUCTURE_KIND)
        ],
        event_counts=dict(Counter(str(event["kind"]) for event in journal.events)),
        torn_tail=journal.torn_tail,
        closed=journal.closed,
        clock=clock,
        opened=opened,
        outcome={k: v for k, v in _fields(verdicts[-1]).items() if k != "verdict"}
        if verdicts
        else {},
        guard_trips=[
            {**_fields(event), "at": _relative(event, origin)}
            for event in journal.of_kind(GUARD_TRIP)
        ],
        rollback=rollbacks[-1] if rollbacks else None,
        component_exits=[
            {**_fields(event), "at": _relative(event, origin)}
            for event in journal.of_kind(COMPONENT_EXIT)
        ],
    )
