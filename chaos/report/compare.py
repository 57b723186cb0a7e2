"""Compare two runs: `gameday report A/journal.jsonl --against B/journal.jsonl` (A measured
against B: every delta is A − B).

"Is this worse than last week's run?" is answered per SLO (status and value in each run, the
delta) and per fault (each SLO over the fault's window in each run, the delta), with the
fault decisions compared as a replay compares them. The SLO and fault-decision comparison is
``chaos.replay.diff``'s, over the runs as ``chaos.replay.recorded`` reads them; the per-fault
values are the report's own cost tables (``chaos.report.cost``). Pure: two reports and two
journals in, rows out; HTML and Markdown render them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from chaos.replay.diff import Change, fault_differences, verdict_diff
from chaos.replay.recorded import recorded_run
from chaos.report.journal import Journal
from chaos.report.model import Report
from chaos.slo.display import ValueFormat

_PLAIN = ValueFormat()


@dataclass(frozen=True, slots=True)
class SloDelta:
    name: str
    change: str
    """``same``, ``newly passing``, ``newly failing``, ``changed``, ``added``, ``removed``."""
    status_against: str
    status_run: str
    value_against: str
    value_run: str
    delta: str
    """This run − the other, in the SLO's unit; ``—`` when either has no value."""
    direction: str
    """``worse``, ``better`` or ``same`` for this run against the other; ``""``: nothing to say."""


@dataclass(frozen=True, slots=True)
class FaultDelta:
    fault: str
    slo: str
    during_against: str
    during_run: str
    delta: str
    direction: str


@dataclass(frozen=True, slots=True)
class Comparison:
    run_id_against: str
    run_id: str
    verdict_against: str
    verdict_run: str
    slos: tuple[SloDelta, ...]
    faults: tuple[FaultDelta, ...]
    fault_decisions: tuple[str, ...]
    """Fault events only one run made (empty: the same decisions)."""

    @property
    def same_faults(self) -> bool:
        return not self.fault_decisions


def _direction(comparison: object, a: float | None, b: float | None) -> str:
    """Whether ``b`` is on the wrong side of ``a`` for an SLO compared ``below`` or ``above``."""
    if a is None or b is None:
        return ""
    if b == a:
        return "same"
    if comparison == "below":
        return "worse" if b > a else "better"
    if comparison == "above":
        return "worse" if b < a else "better"
    return ""


def _delta(fmt: ValueFormat, a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "—"
    return fmt.change(b - a)


def compare(
    run: Journal, report_run: Report, against: Journal, report_against: Report
) -> Comparison:
    """``run`` measured against ``against`` (e.g. last week's run): deltas are run − against."""
    recorded_a = recorded_run(against, replayable=False)
    recorded_b = recorded_run(run, replayable=False)
    report_a, report_b = report_against, report_run
    formats: Mapping[str, ValueFormat] = report_a.formats or report_b.formats
    slos = []
    for row in verdict_diff(recorded_a, recorded_b):
        fmt = formats.get(row.name, _PLAIN)
        va = row.before.value if row.before else None
        vb = row.after.value if row.after else None
        either = row.before or row.after
        direction = _direction(either.comparison if either else None, va, vb)
        if row.change is Change.NEWLY_FAILING:
            direction = "worse"
        elif row.change is Change.NEWLY_PASSING:
            direction = "better"
        slos.append(
            SloDelta(
                name=row.name,
                change=row.change.value,
                status_against=row.before.status if row.before else "absent",
                status_run=row.after.status if row.after else "absent",
                value_against=fmt(va),
                value_run=fmt(vb),
                delta=_delta(fmt, va, vb),
                direction=direction,
            )
        )
    faults = []
    costs_b = {c.fault.name: c for c in report_b.cost_values}
    comparisons = {str(s.get("name")): s.get("comparison") for s in report_a.summary.slos}
    for cost_a in report_a.cost_values:
        cost_b = costs_b.get(cost_a.fault.name)
        by_slo = {s.slo: s for s in cost_b.slos} if cost_b else {}
        for slo_a in cost_a.slos:
            slo_b = by_slo.get(slo_a.slo)
            fmt = formats.get(slo_a.slo, _PLAIN)
            da = slo_a.during
            db = slo_b.during if slo_b else None
            comparison = comparisons.get(slo_a.slo)
            faults.append(
                FaultDelta(
                    fault=cost_a.fault.name,
                    slo=slo_a.slo,
                    during_against=fmt(da),
                    during_run=fmt(db) if cost_b else "no such fault",
                    delta=_delta(fmt, da, db),
                    direction=_direction(comparison, da, db),
                )
            )
    return Comparison(
        run_id_against=recorded_a.run_id,
        run_id=recorded_b.run_id,
        verdict_against=report_a.verdict,
        verdict_run=report_b.verdict,
        slos=tuple(slos),
        faults=tuple(faults),
        fault_decisions=tuple(line.strip() for line in fault_differences(recorded_a, recorded_b)),
    )
