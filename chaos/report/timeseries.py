"""What the report's plots show, computed from the journal's metric samples (pure, no drawing).

Each panel answers one question a launch post-mortem asks (how many listened, how long until
they heard audio, how many joins failed, how much playout stalled, did it howl) with the same
PromQL semantics the SLOs use, evaluated on a regular grid over the run: gauges as instant
vectors, counters as ``rate``/``increase`` over a trailing window, quantiles as
``histogram_quantile`` over bucket rates. Times are seconds since the journal opened, the axis
the fault windows are drawn on.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

from chaos.errors import InvalidInput
from chaos.metrics.batch import RECORD_KIND, SampleBatch
from chaos.metrics.series import Series
from chaos.metrics.store import SeriesStore
from chaos.report.journal import Journal
from chaos.report.summary import RunSummary
from chaos.slo import promql

MAX_POINTS = 600
"""Grid points per plot: finer than any screen needs, bounded for long runs."""

MIN_RATE_WINDOW = 5.0
RATE_WINDOW_SCRAPES = 4
"""A rate needs at least two samples; four scrape intervals ride out one missed scrape."""

TTFA = "gameday_listener_time_to_first_audio_seconds"
LATENCY = "gameday_listener_latency_seconds"
HOWL_MONITORED = "gameday_listener_howl_monitored_total"


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    times: tuple[float, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Panel:
    key: str
    title: str
    unit: str
    lines: tuple[Line, ...]
    no_data: str
    """What to say instead of drawing an empty axis."""

    @property
    def has_data(self) -> bool:
        return any(any(not math.isnan(v) for v in line.values) for line in self.lines)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Joins per time-to-first-audio bucket over the launch, and the quantiles SLOs would see."""

    bounds: tuple[float, ...]
    """Upper bounds of the buckets, the last one ``inf``."""
    counts: tuple[float, ...]
    quantiles: Mapping[float, float | None]
    window: tuple[float, float]
    window_label: str

    @property
    def total(self) -> float:
        return math.fsum(self.counts)


@dataclass(frozen=True, slots=True)
class Grid:
    times: tuple[float, ...]
    """Wall-clock evaluation instants."""
    origin: float
    """Wall-clock time of the journal's start; plotted times are relative to it."""
    window: float
    """Trailing window of ``rate``/``increase``/quantiles."""

    def relative(self) -> tuple[float, ...]:
        return tuple(t - self.origin for t in self.times)


def load_store(events: Iterable[Mapping[str, Any]]) -> tuple[SeriesStore, int]:
    """The journal's samples in a store, and how many metric records were unreadable.

    A report must still render from a damaged history, so a bad record is counted (the report
    says so) instead of aborting the whole report the way re-evaluation does.
    """
    store, skipped = SeriesStore(), 0
    for number, event in enumerate(events, 1):
        if event.get("kind") != RECORD_KIND:
            continue
        try:
            batch = SampleBatch.from_record(event, where=f"journal record {number}")
        except InvalidInput:
            skipped += 1
            continue
        if math.isfinite(batch.timestamp):
            store.add_batch(batch)
        else:
            skipped += 1
    return store, skipped


def scrape_times(events: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Each target's scrape instants, in order."""
    times: dict[str, set[float]] = defaultdict(set)
    for event in events:
        t = event.get("t")
        if event.get("kind") == RECORD_KIND and isinstance(t, int | float) and math.isfinite(t):
            times[str(event.get("target"))].add(float(t))
    return {target: sorted(ts) for target, ts in times.items()}


def make_grid(scrapes: Mapping[str, Sequence[float]], origin: float) -> Grid:
    """A regular grid at the scrape cadence, at most ``MAX_POINTS``, over every scrape.

    The cadence is the median interval between one target's scrapes: targets scraped together
    land milliseconds apart, which says nothing about how often each is scraped.
    """
    everything = sorted(t for times in scrapes.values() for t in times)
    if not everything:
        return Grid((), origin, MIN_RATE_WINDOW)
    gaps = sorted(b - a for times in scrapes.values() for a, b in pairwise(times))
    scrape = gaps[len(gaps) // 2] if gaps else 1.0
    first, span = everything[0], everything[-1] - everything[0]
    step = max(scrape, span / (MAX_POINTS - 1)) if span > 0 else scrape
    count = int(span / step + 1e-9) + 1 if span > 0 else 1
    grid = tuple(first + i * step for i in range(count))
    return Grid(grid, origin, max(MIN_RATE_WINDOW, RATE_WINDOW_SCRAPES * scrape))


def _gauge_sum(store: SeriesStore, name: str, grid: Grid) -> Line | None:
    if name not in store.names():
        return None
    values = []
    for t in grid.times:
        vector = store.latest(name, None, t)
        values.append(math.fsum(vector.values()) if vector else math.nan)
    return Line(name, grid.relative(), tuple(values))


def _windowed(
    store: SeriesStore,
    grid: Grid,
    name: str,
    fold: Callable[[list[Series], float, float], float | None],
    matchers: Mapping[str, str] | None = None,
) -> tuple[float, ...]:
    out = []
    for t in grid.times:
        start = t - grid.window
        value = fold(store.range(name, matchers, start, t), start, t)
        out.append(math.nan if value is None else value)
    return tuple(out)


def _summed(
    how: Callable[[Series, float, float], float | None],
) -> Callable[[list[Series], float, float], float | None]:
    def fold(found: list[Series], start: float, end: float) -> float | None:
        return promql.sum_present(how(s, start, end) for s in found)

    return fold


_rate = _summed(promql.rate)
_increase = _summed(promql.increase)


def _rate_by(store: SeriesStore, grid: Grid, name: str, label: str, prefix: str) -> list[Line]:
    """``sum by (label) (rate(name[w]))``, one line per label value."""
    values = sorted({key.label(label) or "" for key in store.keys(name)})
    return [
        Line(
            f"{prefix}: {value or 'unlabelled'}",
            grid.relative(),
            _windowed(store, grid, name, _rate, {label: value}),
        )
        for value in values
    ]


def listeners_panel(store: SeriesStore, grid: Grid) -> Panel:
    wanted = (
        ("gameday_listeners_connected", "connected (probes)"),
        ("gameday_listeners_playing", "hearing audio (probes)"),
        ("gameday_listeners_stalled", "stalled (probes)"),
        ("soundstage_api_room_listeners", "joined (api)"),
    )
    lines = []
    for name, label in wanted:
        line = _gauge_sum(store, name, grid)
        if line is not None:
            lines.append(Line(label, line.times, line.values))
    return Panel(
        "listeners",
        "Listeners",
        "listeners",
        tuple(lines),
        "no listener gauges were scraped (gameday_listeners_*, soundstage_api_room_listeners)",
    )


def _quantile(q: float, found: list[Series], start: float, end: float) -> float | None:
    return promql.histogram_quantile(q, found, start, end)


def _quantile_panel(
    store: SeriesStore, grid: Grid, key: str, title: str, histogram: str, what: str
) -> Panel:
    """p50/p95/p99 of a histogram over the trailing window, as the SLOs compute quantiles."""
    bucket = histogram + "_bucket"
    lines = []
    if bucket in store.names():
        for q in (0.5, 0.95, 0.99):
            quantile = partial(_quantile, q)
            lines.append(
                Line(f"p{q * 100:g}", grid.relative(), _windowed(store, grid, bucket, quantile))
            )
    return Panel(
        key,
        f"{title} (histogram_quantile over {grid.window:g}s)",
        "seconds",
        tuple(lines),
        f"no {what} was observed ({bucket} never grew)"
        if lines
        else f"no {what} histogram was scraped ({bucket})",
    )


def ttfa_panel(store: SeriesStore, grid: Grid) -> Panel:
    return _quantile_panel(store, grid, "ttfa", "Time to first audio", TTFA, "time to first audio")


def latency_panel(store: SeriesStore, grid: Grid) -> Panel:
    return _quantile_panel(
        store, grid, "latency", "Delay behind live", LATENCY, "delay behind live (framed streams)"
    )


def joins_panel(store: SeriesStore, grid: Grid) -> Panel:
    names = store.names()
    lines = []
    for name, label in (
        ("gameday_listener_join_attempts_total", "attempts/s (probes)"),
        ("gameday_listener_joins_ok_total", "reached audio/s (probes)"),
        ("soundstage_api_joins_total", "admitted/s (api)"),
    ):
        if name in names:
            lines.append(Line(label, grid.relative(), _windowed(store, grid, name, _rate)))
    for name, label in (
        ("gameday_listener_join_failures_total", "failed/s"),
        ("soundstage_api_join_failures_total", "refused/s (api)"),
    ):
        if name in names:
            lines.extend(_rate_by(store, grid, name, "reason", label))
    return Panel(
        "joins",
        f"Join rate and failures (rate over {grid.window:g}s)",
        "joins per second",
        tuple(lines),
        "no join counters were scraped (gameday_listener_join*, soundstage_api_join*)",
    )


def stall_panel(store: SeriesStore, grid: Grid) -> Panel:
    """Stalled share of listening time, as ``ListenerStats.stall_ratio`` defines it."""
    parts = [f"gameday_listener_{part}_seconds_total" for part in ("stall", "played", "concealed")]
    lines = []
    if all(name in store.names() for name in parts):
        stalled, played, concealed = (_windowed(store, grid, n, _increase) for n in parts)
        ratio = []
        for s, p, c in zip(stalled, played, concealed, strict=True):
            total = s + p + c
            ratio.append(s / total if total > 0 else math.nan)
        lines.append(Line("stall ratio", grid.relative(), tuple(ratio)))
    return Panel(
        "stalls",
        f"Stall ratio (stalled / listened, over {grid.window:g}s)",
        "ratio",
        tuple(lines),
        "no playout counters were scraped (gameday_listener_{stall,played,concealed}_seconds)",
    )


def howling_panel(store: SeriesStore, grid: Grid) -> Panel:
    """Howling as each part of the run heard it: the probes (only a sample of listeners runs
    the detector, so probes none of which ran it add nothing rather than a reassuring flat
    zero), a feedback fault's own monitor, and the stack's suppression when it has one."""
    names = store.names()
    lines = []
    monitored = store.range(HOWL_MONITORED, None, -math.inf, math.inf)
    if any(v > 0 for series in monitored for v in series.values):
        howling = _gauge_sum(store, "gameday_listeners_howling", grid)
        if howling is not None:
            lines.append(Line("probes hearing a howl now", howling.times, howling.values))
        if "gameday_listener_howl_seconds_total" in names:
            rates = _windowed(store, grid, "gameday_listener_howl_seconds_total", _rate)
            lines.append(Line("probes: howling listener-seconds/s", grid.relative(), rates))
    if "gameday_feedback_howl_seconds_total" in names:
        rates = _windowed(store, grid, "gameday_feedback_howl_seconds_total", _rate)
        lines.append(Line("feedback monitor: howling s/s", grid.relative(), rates))
    suppressed = _gauge_sum(store, "soundstage_origin_howl_suppressed_speakers", grid)
    if suppressed is not None:
        lines.append(Line("speakers suppressed (origin)", suppressed.times, suppressed.values))
    return Panel(
        "howling",
        "Howling (acoustic feedback)",
        "listeners / speakers",
        tuple(lines),
        f"nothing listened for howling: no probe ran the detector ({HOWL_MONITORED} never grew;"
        " framed listeners sampled by howl_sample run it), no feedback fault's monitor"
        " (gameday_feedback_*) and no stack suppression metric was scraped",
    )


def panels(store: SeriesStore, grid: Grid) -> list[Panel]:
    return [
        listeners_panel(store, grid),
        ttfa_panel(store, grid),
        latency_panel(store, grid),
        joins_panel(store, grid),
        stall_panel(store, grid),
        howling_panel(store, grid),
    ]


def _counted(series: Series, baseline: float) -> float:
    """Growth of a counter from ``baseline`` through its samples, counting resets as PromQL
    does (a drop means it restarted from zero)."""
    total, last = 0.0, baseline
    for value in series.values:
        if math.isnan(value):
            continue
        total += value - last if value >= last else value
        last = value
    return total


def ttfa_distribution(
    store: SeriesStore, window: tuple[float, float], window_label: str
) -> Distribution | None:
    """Joins per bucket between ``window``'s ends (wall clock); None without the histogram."""
    bucket = TTFA + "_bucket"
    start, end = window
    by_bound: dict[float, float] = defaultdict(float)
    for series in store.range(bucket, None, start, end):
        try:
            bound = float(series.key.label("le") or "nan")
        except ValueError:
            continue
        if math.isnan(bound):
            continue
        before = store.latest(bucket, dict(series.key.labels), start - 1e-9)
        by_bound[bound] += _counted(series, before.get(series.key, 0.0))
    if not by_bound or not math.isinf(max(by_bound)):
        return None
    cumulative = sorted(by_bound.items())
    bounds = tuple(b for b, _ in cumulative)
    counts, below = [], 0.0
    for _, count in cumulative:
        counts.append(max(count - below, 0.0))
        below = max(below, count)
    quantiles = {q: promql.bucket_quantile(q, cumulative) for q in (0.5, 0.95, 0.99)}
    return Distribution(bounds, tuple(counts), quantiles, window, window_label)


@dataclass(frozen=True, slots=True)
class Charts:
    panels: list[Panel]
    distribution: Distribution | None
    end: float
    """Seconds from the journal's start to its last event or sample: the plots' right edge."""
    skipped: int
    """Metrics records that could not be read."""


def _launch(summary: RunSummary) -> tuple[float, str]:
    """Where the launch starts (seconds into the run): when the baseline phase ended, since
    listeners storm at T0 after it; without a baseline, the whole run is the launch."""
    for phase in summary.phases:
        if phase.name == "baseline" and phase.end is not None:
            return phase.end, f"after the baseline ({phase.end:.1f}s to the end)"
    return 0.0, "over the whole run"


def charts(journal: Journal, summary: RunSummary) -> Charts:
    origin = float(journal.header.get("wall", 0.0))
    store, skipped = load_store(journal.events)
    scrapes = scrape_times(journal.events)
    grid = make_grid(scrapes, origin)
    last = max((times[-1] for times in scrapes.values()), default=None)
    end = summary.duration_s if last is None else max(summary.duration_s, last - origin)
    launch_at, launch_label = _launch(summary)
    distribution = (
        ttfa_distribution(store, (origin + launch_at, last), launch_label)
        if last is not None and origin + launch_at <= last
        else None
    )
    return Charts(
        panels(store, grid),
        distribution,
        end if math.isfinite(end) else summary.duration_s,
        skipped,
    )
