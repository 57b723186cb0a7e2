"""Everything a report shows, derived from one journal; the HTML and Markdown renderers share it.

Building it is pure (the journal is already read), and tolerant: a journal the writer produced
always renders, whatever its fields hold, because a report is most needed after a run that went
wrong. Values the report cannot interpret are shown as written rather than dropped. Every time
is T0 time (``T+00:10``, ``chaos.report.clock``), with UTC beside it where a timeline is drawn;
values carry the unit their SLO's threshold was written in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chaos.experiment import describe
from chaos.experiment.experiment import Experiment
from chaos.metrics.store import SeriesStore
from chaos.report.clock import RunClock, duration, since_t0, utc
from chaos.report.cost import FaultCost, FaultWindow, fault_costs
from chaos.report.experiment import recorded_experiment
from chaos.report.failures import FailureRow, failure_rows
from chaos.report.journal import RESERVED_KEYS, Journal
from chaos.report.summary import FaultSpan, RunSummary, summarize
from chaos.report.timeseries import load_store
from chaos.slo.adapt import objectives_from_experiment
from chaos.slo.display import ValueFormat, formats
from chaos.slo.evaluate import Status
from chaos.slo.objective import Context

_HEADER_SKIP = RESERVED_KEYS | {"schema", "title", "seed"}
_META_FIRST = ("stack", "scale", "experiment", "gameday", "python", "host", "pid")
_PLAIN = ValueFormat()


@dataclass(frozen=True, slots=True)
class SloRow:
    name: str
    status: str
    value: str
    threshold: str
    window: str
    """T0 time: ``T+00:00 → T+00:20``."""
    window_utc: str
    evidence: str
    detail: str
    cohorts: CohortCells | None = None
    """A differential SLO's cohorts, side by side."""


@dataclass(frozen=True, slots=True)
class CohortCells:
    """A differential SLO as the reports show it: both cohorts' values on the SLO's own
    scale, their difference and its interval, and the bound it had to stay within."""

    control: str
    experiment: str
    difference: str
    interval: str
    bound: str
    listeners: str


def cohort_cells(record: Mapping[str, Any], fmt: ValueFormat) -> CohortCells | None:
    data = record.get("differential")
    if not isinstance(data, Mapping):
        return None

    def shown(value: Any, signed: bool = False) -> str:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "no data"
        text = fmt(float(value))
        return f"+{text}" if signed and value >= 0 else text

    interval = data.get("interval")
    span = (
        f"{shown(interval[0], True)} to {shown(interval[1], True)}"
        if isinstance(interval, list) and len(interval) == 2
        else "—"
    )
    confidence = data.get("confidence")
    if isinstance(confidence, float) and span != "—":
        span = f"{span} ({confidence:.0%})"
    sign = "≤" if data.get("direction") == "at_most" else "≥"
    listeners = data.get("listeners")
    counts = (
        f"{listeners[0]} / {listeners[1]}"
        if isinstance(listeners, list) and len(listeners) == 2
        else "—"
    )
    return CohortCells(
        control=shown(data.get("control")),
        experiment=shown(data.get("experiment")),
        difference=shown(data.get("difference"), True),
        interval=span,
        bound=f"{sign} {shown(data.get('bound'), True)}",
        listeners=counts,
    )


@dataclass(frozen=True, slots=True)
class FaultRow:
    index: int
    """Position in the run's faults: its colour on every plot."""
    name: str
    kind: str
    start: float
    end: float | None
    effect: str
    """As the file wrote it: ``latency 150ms ± 40ms, downstream``."""
    target: str
    made: str
    """What the fault proxy or backend was asked to do (toxics, proxies, replicas, floods)."""
    outcome: str
    """What ending it found: problems, bytes a flood moved, howls heard."""
    problems: tuple[str, ...] = ()
    not_removed: tuple[str, ...] = ()
    """Why its removal failed (it may still be on): never shown as ended."""

    @property
    def span(self) -> str:
        """``T+00:10.0 → T+00:40.0``; a fault whose removal failed says so instead of an end."""
        if self.end is None and self.not_removed:
            return f"{since_t0(self.start, decimals=1)} → NOT REMOVED"
        return span(self.start, self.end)


@dataclass(frozen=True, slots=True)
class ExitRow:
    """A stack component that exited by itself during the run (the stack's behaviour)."""

    replica: str
    pid: str
    how: str
    at: float
    log: str
    last_lines: tuple[str, ...]

    @property
    def line(self) -> str:
        """``edge-1 (pid 4242) killed by SIGKILL at T+00:07.3``."""
        return f"{self.replica} (pid {self.pid}) {self.how} at {since_t0(self.at, decimals=1)}"


def exit_row(record: Mapping[str, Any]) -> ExitRow:
    lines = record.get("last_lines")
    at = record.get("at")
    return ExitRow(
        replica=str(record.get("replica")),
        pid=str(record.get("pid")),
        how=str(record.get("how") or "exited"),
        at=float(at) if isinstance(at, int | float) and math.isfinite(at) else 0.0,
        log=str(record.get("log") or ""),
        last_lines=tuple(map(str, lines)) if isinstance(lines, list) else (),
    )


@dataclass(frozen=True, slots=True)
class CostRow:
    slo: str
    during: str
    reference: str
    reference_window: str
    change: str
    verdict: str
    """``worse``, ``better``, ``same`` or ``—`` (nothing to compare)."""
    breached: bool
    """The threshold did not hold over the fault's window."""
    recovered: str
    control: str | None = None


@dataclass(frozen=True, slots=True)
class CostTable:
    fault: FaultRow
    rows: tuple[CostRow, ...]


@dataclass(frozen=True, slots=True)
class Report:
    summary: RunSummary
    meta: list[tuple[str, str]]
    slos: list[SloRow]
    faults: list[FaultRow]
    costs: list[CostTable] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    """Why the verdict is what it is, beyond the SLOs: guard, infrastructure, rollback."""
    experiment: Experiment | None = None
    formats: Mapping[str, ValueFormat] = field(default_factory=dict)
    cost_values: list[FaultCost] = field(default_factory=list)
    """The numbers behind ``costs`` (what ``gameday report --against`` compares)."""
    exits: list[ExitRow] = field(default_factory=list)
    """Stack components that exited by themselves, in the order they did."""
    failures: list[FailureRow] = field(default_factory=list)
    """Why listeners failed to join or dropped, each reason with its first details."""

    @property
    def clock(self) -> RunClock:
        return self.summary.clock

    @property
    def title(self) -> str:
        return self.summary.title or "untitled run"

    @property
    def verdict(self) -> str:
        return self.summary.verdict or "none"

    @property
    def started(self) -> str:
        return utc(self.summary.started_wall)

    @property
    def t0(self) -> str:
        """``T0 2026-11-24T15:00:20Z`` (or that the run never reached it)."""
        if not self.clock.known:
            return "T0 not reached (times count from the journal's opening)"
        return f"T0 {utc(self.clock.t0_wall)}"

    def at(self, since: float) -> str:
        return since_t0(since, decimals=1)

    def at_utc(self, since: float) -> str:
        return utc(self.clock.wall(since))

    @property
    def warnings(self) -> list[str]:
        notes = []
        if self.summary.torn_tail:
            notes.append("The last line was torn (the writer was killed mid-event) and dropped.")
        if not self.summary.closed:
            notes.append("The journal was not closed: the run was killed or is still going.")
        if self.summary.verdict is None:
            notes.append("No verdict was recorded: the run did not reach evaluation.")
        if self.experiment is None:
            notes.append(
                "The journal records no experiment this version can read: values are shown "
                "in base units and what each fault cost is not measured."
            )
        return notes


def _finite_pair(value: Any) -> tuple[float, float] | None:
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
    ):
        return float(value[0]), float(value[1])
    return None


def span(start: float, end: float | None) -> str:
    """``T+00:10.0 → T+00:40.0`` (an open end: ``→ never ended``)."""
    tail = "never ended" if end is None else since_t0(end, decimals=1)
    return f"{since_t0(start, decimals=1)} → {tail}"


def _evidence(record: Mapping[str, Any]) -> str:
    samples = record.get("samples")
    series = record.get("series")
    windows = record.get("windows")
    parts = []
    if isinstance(samples, int | float) and not isinstance(samples, bool):
        parts.append(f"{samples:g} samples")
    if isinstance(series, list):
        shown = ", ".join(map(str, series[:3]))
        more = f" (+{len(series) - 3} more)" if len(series) > 3 else ""
        parts.append(f"{len(series)} series: {shown}{more}" if series else "no series")
    if isinstance(windows, int) and not isinstance(windows, bool) and windows > 1:
        parts.append(f"{windows} windows")
    return "; ".join(parts) or "—"


def slo_row(record: Mapping[str, Any], clock: RunClock, fmt: ValueFormat = _PLAIN) -> SloRow:
    value = record.get("value")
    comparison = record.get("comparison")
    threshold = record.get("threshold")
    if isinstance(value, int | float) and not isinstance(value, bool):
        shown = fmt(float(value))
    else:
        shown = "no data" if value is None else str(value)
    limit = fmt.threshold_text(
        comparison if isinstance(comparison, str) else None,
        float(threshold) if isinstance(threshold, int | float) else None,
    )
    if not isinstance(comparison, str) and not isinstance(threshold, int | float):
        limit = "—" if threshold is None else str(threshold)
    pair = _finite_pair(record.get("window"))
    window, window_utc = "—", ""
    if pair is not None:
        start, end = clock.from_wall(pair[0]), clock.from_wall(pair[1])
        window = f"{since_t0(start, decimals=1)} → {since_t0(end, decimals=1)}"
        window_utc = f"{utc(pair[0])} → {utc(pair[1])}"
    elif record.get("window") is not None:
        window = str(record.get("window"))
    return SloRow(
        name=str(record.get("name")),
        status=str(record.get("status")),
        value=shown,
        threshold=limit,
        window=window,
        window_utc=window_utc,
        evidence=_evidence(record),
        detail=_detail(record),
        cohorts=cohort_cells(record, fmt),
    )


def _detail(record: Mapping[str, Any]) -> str:
    """The evaluator's words, where they add to the row: which of many windows was judged
    (sliding windows, recovery checks); for one window they only restate value and threshold."""
    windows = record.get("windows")
    if isinstance(windows, int) and not isinstance(windows, bool) and windows > 1:
        return str(record.get("detail") or "")
    return ""


def _meta(header: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = [("seed", str(header.get("seed")))]
    keys = [k for k in _META_FIRST if k in header]
    keys += sorted(k for k in header if k not in _HEADER_SKIP and k not in _META_FIRST)
    rows += [(key, _flat(header[key])) for key in keys]
    return rows


def _flat(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {_flat(v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(_flat, value))
    return str(value)


def _made(fields: Mapping[str, Any]) -> str:
    """What was made for the fault, in a line: toxics by proxy, proxies disabled, replicas."""
    parts = []
    toxics = fields.get("toxics")
    if isinstance(toxics, list) and toxics:
        names = sorted({str(t.get("toxic")) for t in toxics if isinstance(t, Mapping)})
        proxies = sorted({str(t.get("proxy")) for t in toxics if isinstance(t, Mapping)})
        parts.append(f"{len(toxics)} toxic(s) {', '.join(names)} on {', '.join(proxies)}")
    for key, what in (("proxies", "disabled"), ("replicas", "on")):
        value = fields.get(key)
        if isinstance(value, list) and value:
            parts.append(f"{what} {', '.join(map(str, value))}")
    floods = fields.get("floods")
    if isinstance(floods, list) and floods:
        targets = [str(f.get("target")) for f in floods if isinstance(f, Mapping)]
        parts.append(f"{len(floods)} flood(s) at {', '.join(targets)}")
    for key in ("layer", "discipline", "via"):
        if fields.get(key) is not None:
            parts.append(f"{key} {fields[key]}")
    return "; ".join(parts) or "—"


def _outcome(span_: FaultSpan) -> tuple[str, tuple[str, ...]]:
    problems = span_.ended.get("problems")
    listed = tuple(map(str, problems)) if isinstance(problems, list) else ()
    parts = [f"removal failed: {'; '.join(listed)}"] if listed else []
    if span_.not_removed:
        parts.append(f"NOT REMOVED: {'; '.join(span_.not_removed)}")
    sent = span_.ended.get("bytes_sent")
    if isinstance(sent, int | float) and not isinstance(sent, bool):
        parts.append(f"flood moved {_bytes(float(sent))}")
    howls = span_.ended.get("howls")
    if isinstance(howls, int | float) and not isinstance(howls, bool):
        parts.append(f"{howls:g} howl(s)")
    quiet = span_.ended.get("quiet_after")
    if isinstance(quiet, int | float) and not isinstance(quiet, bool):
        parts.append(f"quiet {quiet:.3g} s after")
    if span_.end is None and not span_.not_removed:
        parts.insert(0, "never ended in the journal")
    return "; ".join(parts) or "removed cleanly", listed


def _bytes(amount: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if amount >= size:
            return f"{amount / size:.3g} {unit}"
    return f"{amount:g} B"


def fault_row(index: int, span_: FaultSpan) -> FaultRow:
    fields = span_.params
    kind = str(fields.get("type") or "fault")
    params = fields.get("params")
    written = params if isinstance(params, Mapping) else fields
    outcome, problems = _outcome(span_)
    return FaultRow(
        index=index,
        name=span_.name,
        kind=kind,
        start=span_.start,
        end=span_.end,
        effect=describe.effect(kind, written) if isinstance(params, Mapping) else _flat(fields),
        target=describe.target(written) or "—",
        made=_made(fields),
        outcome=outcome,
        problems=problems,
        not_removed=span_.not_removed,
    )


def _reasons(summary: RunSummary, fmt: Mapping[str, ValueFormat]) -> list[str]:
    """The verdict's reasons a person acts on: the guard that tripped, what failed outside
    the stack (infrastructure), an interrupted or incomplete run, a rollback that had trouble."""
    out = [
        f"Infrastructure failure at {since_t0(float(f.get('at', 0.0)), decimals=1)} "
        f"({f.get('part')}): {f.get('what')} — the harness failed, not the stack."
        for f in summary.infrastructure
    ]
    outcome = summary.outcome
    for trip in summary.guard_trips:
        guard = str(trip.get("guard"))
        value = trip.get("value")
        shown = fmt.get(guard, _PLAIN)(float(value)) if isinstance(value, int | float) else "?"
        since = trip.get("since")
        held = ""
        if isinstance(since, int | float):
            held = f" since {since_t0(summary.clock.from_wall(float(since)), decimals=1)}"
        policy = trip.get("policy")
        out.append(
            f"Abort guard {guard} tripped at {since_t0(float(trip.get('at', 0.0)), decimals=1)}: "
            f"{shown}{held}; faults rolled back ({policy or 'immediate'})."
        )
    message = summary.verdict_message
    told = bool(summary.guard_trips) and summary.verdict == "aborted"
    if isinstance(message, str) and message and summary.verdict != "pass" and not told:
        out.append(f"{(summary.verdict or 'run').capitalize()}: {message}")
    rollback = summary.rollback
    if rollback is not None:
        seconds = rollback.get("seconds")
        took = f" in {seconds:.3g} s" if isinstance(seconds, int | float) else ""
        problems = rollback.get("problems")
        if isinstance(problems, list) and problems:
            out.append(f"Rollback{took} had problems: {'; '.join(map(str, problems))}.")
    problems = outcome.get("problems")
    if isinstance(problems, list) and problems:
        out.append(f"Teardown problems: {'; '.join(map(str, problems))}.")
    return out


def _costs(
    summary: RunSummary,
    experiment: Experiment,
    rows: Sequence[FaultRow],
    store: SeriesStore,
) -> list[FaultCost]:
    if not summary.clock.known or not rows:
        return []
    windows = [FaultWindow(r.name, r.start, r.end) for r in rows]
    run_end = max(summary.opened + summary.duration_s, 0.0)
    costs = fault_costs(
        objectives_from_experiment(experiment),
        windows,
        t0=summary.clock.t0_wall,
        baseline=experiment.baseline.seconds,
        run_end=run_end,
        ctx=Context(store.range),
        cohorts=experiment.cohorts is not None,
    )
    return costs


def _cost_table(row: FaultRow, cost: FaultCost, fmt: Mapping[str, ValueFormat]) -> CostTable:
    out = []
    for slo in cost.slos:
        f = fmt.get(slo.slo, _PLAIN)
        change = "—"
        if slo.change is not None:
            change = f.change(slo.change)
            if slo.ratio is not None and not math.isclose(slo.ratio, 1.0) and f.unit != "%":
                change += f" (×{slo.ratio:.3g})"
        verdict = "—"
        if slo.worse is not None:
            verdict = "worse" if slo.worse else "better" if slo.change else "same"
        window = "—"
        if slo.reference_window is not None:
            start, end = slo.reference_window
            window = "baseline" if slo.reference_is_baseline else f"before it, {span(start, end)}"
        if row.end is None:
            recovered = "never ended"
        elif slo.holds_during:
            recovered = "held (not broken)"
        elif slo.recovered_after is not None:
            recovered = duration(slo.recovered_after)
        elif slo.recovery_status is Status.NO_DATA:
            recovered = "no data after it"
        else:
            recovered = "not within the run"
        out.append(
            CostRow(
                slo=slo.slo,
                during=f(slo.during),
                reference=f(slo.reference),
                reference_window=window,
                change=change,
                verdict=verdict,
                breached=slo.holds_during is False,
                recovered=recovered,
                control=None if slo.control is None else f(slo.control),
            )
        )
    return CostTable(row, tuple(out))


def build_report(journal: Journal, store: SeriesStore | None = None) -> Report:
    """The report of one journal; ``store`` (its samples) when the caller already has it."""
    summary = summarize(journal)
    experiment = recorded_experiment(journal)
    fmt = formats(experiment) if experiment is not None else {}
    faults = [fault_row(i, f) for i, f in enumerate(summary.faults)]
    values: list[FaultCost] = []
    if experiment is not None:
        if store is None:
            store = load_store(journal.events)[0]
        values = _costs(summary, experiment, faults, store)
    costs = (
        [_cost_table(row, cost, fmt) for row, cost in zip(faults, values, strict=True)]
        if values
        else []
    )
    return Report(
        summary=summary,
        meta=_meta(journal.header),
        slos=[
            slo_row(record, summary.clock, fmt.get(str(record.get("name")), _PLAIN))
            for record in summary.slos
        ],
        faults=faults,
        costs=costs,
        reasons=_reasons(summary, fmt),
        experiment=experiment,
        formats=fmt,
        cost_values=values,
        exits=[exit_row(record) for record in summary.component_exits],
        failures=failure_rows(journal),
    )
