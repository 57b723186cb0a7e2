"""What metrics collection and SLO evaluation cost, as ratios measured in one run.

1. Parsing a scrape: our sans-IO parser against prometheus_client's, on expositions of the
   size a stack produces (histograms with labels), and the share of a 1 s scrape interval one
   core spends parsing it.
2. Range queries on the store (two binary searches) against a linear scan of the same samples:
   every SLO window and every sliding window is one range query per series.
3. Evaluating a sliding-window SLO over a long run (one window per second).

    python benchmarks/metrics.py
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chaos.metrics.exposition import ExpositionParser, parse_exposition
from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.slo.evaluate import evaluate
from chaos.slo.objective import Comparison, Context, Objective, Quantile, Selector, Threshold
from chaos.slo.window import Interval, Timeline, WindowSpec


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of ``runs`` timings: the least disturbed by other load on a shared box."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def exposition(edges: int, mounts: int) -> str:
    registry = CollectorRegistry()
    latency = Histogram("ttfa_seconds", "time to first audio", ["edge", "mount"], registry=registry)
    joins = Counter("joins", "joins", ["edge", "mount"], registry=registry)
    for e in range(edges):
        for m in range(mounts):
            latency.labels(f"edge-{e}", f"/m{m}").observe(0.3)
            joins.labels(f"edge-{e}", f"/m{m}").inc()
    return generate_latest(registry).decode()


def reference_parse(text: str) -> int:
    return sum(len(f.samples) for f in text_string_to_metric_families(text))


def parse_table() -> None:
    """Cold: a target's first scrape. Warm: later scrapes, where the same series repeat."""
    print(
        "parse one scrape (ms)    samples  prometheus_client    ours cold  speed-up"
        "    ours warm  speed-up  warm core share @1s"
    )
    for edges, mounts in ((2, 5), (10, 10), (20, 25)):
        text = exposition(edges, mounts)
        samples = len(parse_exposition(text))
        theirs = best_of(5, lambda t=text: reference_parse(t))
        cold = best_of(5, lambda t=text: parse_exposition(t))
        warm_parser = ExpositionParser()
        warm_parser.parse(text)
        warm = best_of(5, lambda t=text, p=warm_parser: p.parse(t))
        print(
            f"{edges:>3} edges x {mounts:>2} mounts {samples:>8}  {theirs * 1e3:>17.1f}"
            f"  {cold * 1e3:>11.1f}  {theirs / cold:>7.1f}x  {warm * 1e3:>11.1f}"
            f"  {theirs / warm:>7.1f}x  {warm:>19.1%}"
        )


def filled_store(series: int, seconds: int) -> SeriesStore:
    store = SeriesStore()
    for i in range(series):
        key = SeriesKey.of("x", {"i": str(i)})
        for t in range(seconds):
            store.append(key, float(t), float(t))
    return store


def linear_range(store: SeriesStore, start: float, end: float) -> int:
    """The naive query: look at every sample of every series."""
    found = 0
    for series in store.range("x", {}, float("-inf"), float("inf")):
        found += sum(1 for t in series.timestamps if start <= t <= end)
    return found


def range_table() -> None:
    print("\nrange query (30 s window)   samples/series   store ms   linear scan ms   speed-up")
    for seconds in (600, 3600, 4 * 3600):
        store = filled_store(20, seconds)
        mid = seconds / 2
        ours = best_of(5, lambda s=store, m=mid: s.range("x", {}, m, m + 30))
        naive = best_of(3, lambda s=store, m=mid: linear_range(s, m, m + 30))
        print(
            f"20 series x {seconds:>5} s     {seconds:>14}  {ours * 1e3:>9.2f}"
            f"  {naive * 1e3:>15.1f}  {naive / ours:>8.0f}x"
        )


def sliding_table() -> None:
    print("\nsliding p95 SLO: 30 s windows every 1 s   run   windows   total ms   ms/window")
    for seconds in (300, 1800):
        store = SeriesStore()
        for le, share in (("0.5", 0.5), ("1", 0.9), ("5", 0.99), ("+Inf", 1.0)):
            key = SeriesKey.of("ttfa_seconds_bucket", {"le": le})
            for t in range(seconds + 1):
                store.append(key, float(t), 100.0 * t * share)
        slo = Objective(
            "p95",
            Quantile(Selector.of("ttfa_seconds"), 0.95),
            Threshold(Comparison.BELOW, 5.0),
            WindowSpec(sliding=30.0),
        )
        timeline = Timeline(Interval(0, seconds))
        took = best_of(3, lambda o=slo, s=store, tl=timeline: evaluate(o, tl, Context(s.range)))
        windows = evaluate(slo, timeline, Context(store.range)).evidence.windows
        print(
            f"{'':37}{seconds:>5} s  {windows:>8}  {took * 1e3:>9.1f}  {took * 1e3 / windows:>9.3f}"
        )


if __name__ == "__main__":
    parse_table()
    range_table()
    sliding_table()
