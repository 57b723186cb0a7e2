"""What a journal says a run did: the settings to run it again, its fault decisions, its SLOs.

Pure over a read ``Journal``; the runner's journal fields are the contract (``journal.open``
carries seed, scale, experiment, proxy and Prometheus; ``fault.*`` events the exact parameters
and toxics; ``slo`` events status and value).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.experiment.units import Scale, UnitError
from chaos.report.journal import Journal, JournalError
from chaos.report.summary import FAULT_END, FAULT_START, SLO_KIND, VERDICT_KIND

TIMING_FIELDS = frozenset({"v", "run", "seq", "wall", "mono"})
"""Fields that differ between two runs of the same decisions: identity and clocks."""
END_DECISION_FIELDS = ("kind", "name", "type", "problems")
"""A fault's end decides that it ended and whether removal failed; the rest of ``fault.end``
(howls heard, time to quiet) is what the stack did, which the verdict diff compares."""


@dataclass(frozen=True)
class SloOutcome:
    name: str
    status: str
    value: float | None
    comparison: str
    threshold: float | None

    def describe(self) -> str:
        value = "no data" if self.value is None else f"{self.value:g}"
        return f"{self.status} ({value})"


@dataclass(frozen=True)
class RecordedRun:
    """A recorded run, as much of it as a replay needs."""

    journal: Path
    run_id: str
    seed: int
    scale: float | Scale
    experiment: Path
    title: str
    toxiproxy: str | None
    prometheus: str | None
    verdict: str | None
    slos: tuple[SloOutcome, ...]
    fault_events: tuple[dict[str, Any], ...]


def _strip_run_id(value: Any, run_id: str) -> Any:
    """Toxic names carry ``NAME@RUN-ID``; the decision is the name and its parameters."""
    if isinstance(value, str):
        return re.sub(rf"@{re.escape(run_id)}\b", "", value)
    if isinstance(value, list):
        return [_strip_run_id(item, run_id) for item in value]
    if isinstance(value, dict):
        return {key: _strip_run_id(item, run_id) for key, item in value.items()}
    return value


def fault_decisions(journal: Journal) -> tuple[dict[str, Any], ...]:
    """Every fault event without its timings and run identity, in a stable order.

    Faults scheduled at the same instant may be journalled in either order, so the order is
    (kind, name) rather than the sequence number: that order is itself a timing.
    """
    run_id = journal.run_id or ""
    events = [
        {key: _strip_run_id(value, run_id) for key, value in event.items()}
        for event in journal.of_kind(FAULT_START)
    ]
    events += [
        {key: event[key] for key in END_DECISION_FIELDS if key in event}
        for event in journal.of_kind(FAULT_END)
    ]
    events = [{k: v for k, v in e.items() if k not in TIMING_FIELDS} for e in events]
    return tuple(sorted(events, key=lambda e: (str(e.get("name")), str(e.get("kind")))))


def _scale(value: Any, journal: Journal) -> float | Scale:
    """The journalled ``--scale``: `1:N`, or the older multiplier (a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return Scale.parse(str(value))
    except UnitError:
        raise JournalError(
            f"the journal's header has scale {value!r}, neither 1:N nor a number",
            where=f"{journal.path}:1",
            fix="replay a journal written by `gameday run`",
        ) from None


def recorded_run(journal: Journal, *, replayable: bool = True) -> RecordedRun:
    """The run a journal records; a journal without what a replay needs is invalid input
    (``replayable=False``: only to compare it, so a missing seed or experiment path is fine)."""
    header = journal.header
    seed, experiment = header.get("seed"), header.get("experiment")
    if not replayable:
        seed = seed if isinstance(seed, int) else 0
        experiment = experiment if isinstance(experiment, str) else ""
    if not isinstance(seed, int) or not isinstance(experiment, str):
        raise JournalError(
            "the journal's header has no seed or experiment, so the run cannot be replayed",
            where=f"{journal.path}:1",
            fix="replay a journal written by `gameday run`",
        )
    toxiproxy = header.get("toxiproxy")
    verdicts = [e.get("verdict") for e in journal.of_kind(VERDICT_KIND)]
    return RecordedRun(
        journal=journal.path,
        run_id=journal.run_id or "",
        seed=seed,
        scale=_scale(header.get("scale", 1.0), journal),
        experiment=Path(experiment),
        title=str(header.get("title", "")),
        toxiproxy=None if toxiproxy in (None, "embedded") else str(toxiproxy),
        prometheus=header.get("prometheus"),
        verdict=str(verdicts[-1]) if verdicts else None,
        slos=tuple(
            SloOutcome(
                name=str(e["name"]),
                status=str(e["status"]),
                value=e.get("value"),
                comparison=str(e.get("comparison", "")),
                threshold=e.get("threshold"),
            )
            for e in journal.of_kind(SLO_KIND)
        ),
        fault_events=fault_decisions(journal),
    )
