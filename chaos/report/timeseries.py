"""What the report's plots show, computed from the journal's metric samples (pure, no drawing).

Each panel answers one question a launch post-mortem asks (how many listened, how long until
they heard audio, how many joins failed, how much playout stalled, did it howl) with the same
PromQL semantics the SLOs use, evaluated on a regular grid over the run: gauges as instant
vectors, counters as ``rate``/``increase`` over a trailing window, quantiles as
``histogram_quantile`` over bucket rates. Times are seconds from T0 (``chaos.report.clock``),
the axis the fault windows are drawn on.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

from chaos.errors import InvalidInput
from chaos.faults.server.metrics import THROUGH
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
    about: frozenset[tuple[str, str]] = frozenset()
    """(indicator kind, metric) pairs this panel draws as an SLO would compute them, so the
    threshold of an SLO on the same quantity belongs on it (``slo_series.indicator_kind``)."""
    group: str = "listeners"
    """Where the report lists it: what listeners heard, or what the stack's servers said."""

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
    """Wall-clock time of T0; plotted times are relative to it."""
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
        frozenset({("quantile", bucket)}),
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


STALLED = "gameday_listener_stall_seconds_total"
PLAYED = "gameday_listener_played_seconds_total"
UNHEARD = "gameday_listener_unheard_seconds_total"
WANTED = "gameday_listener_wanted_seconds_total"


def stall_panel(store: SeriesStore, grid: Grid) -> Panel:
    """Seconds stalled per second played, as the stall SLOs define it (``ratio:
    gameday_listener_stall_seconds_total/gameday_listener_played_seconds_total``) and
    ``ListenerStats.stall_ratio`` and the dashboards compute it; beside it, seconds unheard
    per second wanted (``unheard_ratio``), which an outage that drops everyone fills while
    the stall ratio has nothing to divide by."""
    lines = []
    for label, numerator, denominator in (
        ("stall ratio", STALLED, PLAYED),
        ("unheard ratio", UNHEARD, WANTED),
    ):
        if numerator in store.names() and denominator in store.names():
            part, whole = (_windowed(store, grid, n, _increase) for n in (numerator, denominator))
            ratio = tuple(a / b if b > 0 else math.nan for a, b in zip(part, whole, strict=True))
            lines.append(Line(label, grid.relative(), ratio))
    return Panel(
        "stalls",
        f"Stall ratio (stalled / played seconds) and unheard ratio (unheard / wanted seconds), "
        f"over {grid.window:g}s",
        "ratio",
        tuple(lines),
        f"no playout counters were scraped ({STALLED}, {PLAYED}, {UNHEARD}, {WANTED})",
        frozenset({("ratio", n) for n in (STALLED, PLAYED, UNHEARD, WANTED)}),
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
        " the ears of each edge run it, `ears:` in the workload), no feedback fault's monitor"
        " (gameday_feedback_*) and no stack suppression metric was scraped",
    )


RECEIVED = "gameday_listener_received_bytes_total"
TOXIPROXY_SENT = "toxiproxy_proxy_sent_bytes_total"
FAULT_PROXY_JOB = "fault-proxy"
"""The fault proxy's own /metrics (its bytes go in the throughput panel, not a component's)."""
PROXIES_KIND = "proxies"
"""Journal kind: this run's proxies on the fault proxy (``names``: link target → proxy name),
so the report keeps their series apart from other runs' on a shared proxy."""


def run_proxies(events: Iterable[Mapping[str, Any]]) -> frozenset[str] | None:
    """The names of the run's proxies, from its journal (None: not recorded)."""
    for event in events:
        if event.get("kind") == PROXIES_KIND:
            return frozenset(event.get("names", {}).values())
    return None


def _proxy_lines(store: SeriesStore, grid: Grid, ours: frozenset[str] | None) -> list[Line]:
    """Bytes per second through each of the run's proxies, both directions: our proxy's live
    counter, else a real Toxiproxy's own (which counts a connection only once it ends)."""
    for name, note in ((THROUGH, ""), (TOXIPROXY_SENT, " (counted as connections end)")):
        matchers = {"job": FAULT_PROXY_JOB}
        seen = {key.label("proxy") for key in store.keys(name, matchers)}
        proxies = sorted(p for p in seen if p and (ours is None or p in ours))
        if proxies:
            return [
                Line(
                    f"through {proxy.partition('@')[0]}{note}",
                    grid.relative(),
                    _windowed(store, grid, name, _rate, {**matchers, "proxy": proxy}),
                )
                for proxy in proxies
            ]
    return []


def throughput_panel(
    store: SeriesStore, grid: Grid, summary: RunSummary, ours: frozenset[str] | None = None
) -> Panel:
    """Bytes per second through each of the run's proxies (what the fault proxy counted, a
    flood's junk included), the listeners' link as the listeners received it, and each flood's
    junk apart from them: the bytes the flood moved (``fault.end``) over its window."""
    lines = _proxy_lines(store, grid, ours)
    if RECEIVED in store.names():
        received = _windowed(store, grid, RECEIVED, _rate)
        lines.append(Line("listeners received (audio)", grid.relative(), received))
    times = grid.relative()
    for fault in summary.faults:
        sent = fault.ended.get("bytes_sent")
        if not isinstance(sent, int | float) or isinstance(sent, bool) or fault.end is None:
            continue
        seconds = fault.end - fault.start
        if seconds <= 0:
            continue
        rate = float(sent) / seconds
        link = (fault.params.get("params") or {}).get("link", "")
        values = tuple(rate if fault.start <= t < fault.end else math.nan for t in times)
        where = f" on {link}" if link else ""
        lines.append(Line(f"flood {fault.name}{where}: junk (average)", times, values))
    return Panel(
        "throughput",
        f"Throughput per link (bytes/s over {grid.window:g}s; flood junk apart)",
        "bytes",
        tuple(lines),
        f"no proxy byte counter ({THROUGH}), no listener byte counter ({RECEIVED}) was scraped "
        "and no flood moved bytes",
    )


HARNESS_JOB = "gameday"
"""The harness's own scrape target: its series are the listeners', not a component's."""
_NOT_PLOTTED = ("_bucket", "_sum", "_count", "_created", "_info")
_RUNTIME = ("python_", "process_", "go_", "promhttp_", "scrape_")
"""Runtime and scrape bookkeeping families: the same on every component, not what it does."""
COMPONENT_LINES = 8
"""Families a component panel draws at most (after CPU), so a busy /metrics stays readable."""


_UNITS = (
    ("bytes", "bytes, bytes/s"),
    ("seconds", "seconds, seconds/s"),
    ("", "counts, per second"),
)
"""How a component's families are split into panels, by their name's base unit (Prometheus
naming: ``_bytes``, ``_seconds``); a line never shares an axis with one a billion times bigger."""


def _unit_of(name: str) -> str:
    """``bytes`` for ``…_bytes``, ``…_bytes_sent_total``; ``seconds`` likewise; else counts."""
    for unit, _ in _UNITS[:-1]:
        if re.search(rf"_{unit}(?:_|$)", name):
            return unit
    return ""


def _component_lines(store: SeriesStore, grid: Grid, job: str, unit: str) -> list[Line]:
    """What one component's /metrics said over the run, for the families of one base unit
    (with the counts: CPU in cores first): a gauge summed over its series, a counter as its
    rate. Runtime, scrape bookkeeping, histogram parts and timestamps are left out."""
    matchers = {"job": job}
    lines = []
    if unit == "" and store.keys("process_cpu_seconds_total", matchers):
        cpu = _windowed(store, grid, "process_cpu_seconds_total", _rate, matchers)
        lines.append(Line("CPU (cores)", grid.relative(), cpu))
    own = sorted(
        name
        for name in store.names()
        if not name.endswith(_NOT_PLOTTED)
        and not name.startswith(_RUNTIME)
        and not name.endswith(("_timestamp_seconds", "_time_seconds"))
        and name != "up"
        and _unit_of(name) == unit
        and store.keys(name, matchers)
    )
    for name in own[:COMPONENT_LINES]:
        if name.endswith("_total"):
            values = _windowed(store, grid, name, _rate, matchers)
            lines.append(Line(f"{name} /s", grid.relative(), values))
            continue
        summed = []
        for t in grid.times:
            vector = store.latest(name, matchers, t)
            summed.append(math.fsum(vector.values()) if vector else math.nan)
        lines.append(Line(name, grid.relative(), tuple(summed)))
    return lines


def component_panels(store: SeriesStore, grid: Grid) -> list[Panel]:
    """Panels per component (scrape job) of the stack, from whatever its /metrics has: one
    for its counts (and CPU), one for its bytes, one for its seconds, each when it has any."""
    jobs = sorted(
        {
            key.label("job") or ""
            for name in store.names()
            for key in store.keys(name)
            if key.label("job") not in (None, HARNESS_JOB, FAULT_PROXY_JOB)
        }
    )
    out = []
    for job in jobs:
        for unit, what in _UNITS:
            lines = tuple(_component_lines(store, grid, job, unit))
            if not lines and unit:
                continue
            out.append(
                Panel(
                    f"component-{job}" + (f"-{unit}" if unit else ""),
                    f"{job}: {what} from its /metrics",
                    unit if unit in ("seconds",) else ("bytes" if unit else ""),
                    lines,
                    f"{job} exposed no metrics besides its runtime's",
                    group="servers",
                )
            )
    return out


def panels(store: SeriesStore, grid: Grid) -> list[Panel]:
    """The listeners' panels, then one per component of the stack."""
    return [
        listeners_panel(store, grid),
        ttfa_panel(store, grid),
        latency_panel(store, grid),
        joins_panel(store, grid),
        stall_panel(store, grid),
        howling_panel(store, grid),
        *component_panels(store, grid),
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
    start: float
    """Seconds from T0 of the journal's opening: the plots' left edge."""
    end: float
    """Seconds from T0 of the journal's last event or sample: the plots' right edge."""
    skipped: int
    """Metrics records that could not be read."""
    store: SeriesStore
    """The journal's samples, which the SLOs' and components' plots read too."""
    grid: Grid


def _launch(summary: RunSummary) -> tuple[float, str]:
    """Where the launch starts (seconds from T0): at T0, when listeners storm in; without a
    known T0 (a run killed before its baseline), the whole journal is the launch."""
    if summary.clock.known:
        return 0.0, "from T0 to the end"
    return summary.opened, "over the whole run"


def charts(journal: Journal, summary: RunSummary) -> Charts:
    origin = summary.clock.t0_wall
    store, skipped = load_store(journal.events)
    scrapes = scrape_times(journal.events)
    grid = make_grid(scrapes, origin)
    last = max((times[-1] for times in scrapes.values()), default=None)
    start = summary.opened
    end = start + summary.duration_s
    if last is not None:
        end = max(end, last - origin)
    launch_at, launch_label = _launch(summary)
    distribution = (
        ttfa_distribution(store, (origin + launch_at, last), launch_label)
        if last is not None and origin + launch_at <= last
        else None
    )
    drawn = panels(store, grid)
    ours = run_proxies(journal.events)
    drawn.insert(4, throughput_panel(store, grid, summary, ours))  # after the joins
    return Charts(
        drawn,
        distribution,
        start,
        end if math.isfinite(end) else start + summary.duration_s,
        skipped,
        store,
        grid,
    )
