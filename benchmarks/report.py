"""What regenerating a report costs, as ratios measured in one run.

A report is re-drawn from the journal alone, so its cost grows with the run: reading the
journal and rebuilding the store are linear in samples, while the plots are evaluated on a grid
of at most 600 points. Journals here hold one scrape a second of the harness's listener
metrics (the TTFA histogram, counters, gauges: 33 series) for runs of 1 to 60 minutes.

    python benchmarks/report.py

Target: an hour-long run's HTML report (read + render) in under 10 s on one core, and the
render time flat once the grid is full (runs of 10 minutes and more).
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from chaos.metrics.batch import SampleBatch
from chaos.metrics.series import SeriesKey
from chaos.report.html import render_html
from chaos.report.journal import JournalWriter, read_journal
from chaos.report.markdown import render_markdown
from chaos.report.summary import summarize
from chaos.report.timeseries import charts, load_store
from chaos.workload.stats import TTFA_BUCKETS, ListenerStats

WALL0 = 1_795_000_000.0


def _samples(stats: ListenerStats) -> list[tuple[SeriesKey, float]]:
    name = "gameday_listener_"
    out = [
        (SeriesKey.of(name + "join_attempts_total"), float(stats.join_attempts)),
        (SeriesKey.of(name + "joins_ok_total"), float(stats.joins_ok)),
        (SeriesKey.of(name + "join_failures_total", {"reason": "timeout"}), 0.0),
        (SeriesKey.of(name + "stall_seconds_total"), stats.stall_seconds),
        (SeriesKey.of(name + "played_seconds_total"), stats.played_seconds),
        (SeriesKey.of(name + "concealed_seconds_total"), stats.concealed_seconds),
        (SeriesKey.of("gameday_listeners_connected"), float(stats.connected)),
        (SeriesKey.of("gameday_listeners_playing"), float(stats.playing)),
        (SeriesKey.of("gameday_listeners_stalled"), float(stats.stalled)),
    ]
    cumulative = 0
    bounds = [*map(repr, TTFA_BUCKETS), "+Inf"]
    for bound, n in zip(bounds, stats.ttfa_counts, strict=True):
        cumulative += n
        key = SeriesKey.of(name + "time_to_first_audio_seconds_bucket", {"le": bound})
        out.append((key, float(cumulative)))
    out.append((SeriesKey.of(name + "time_to_first_audio_seconds_count"), float(cumulative)))
    out.append((SeriesKey.of(name + "time_to_first_audio_seconds_sum"), stats.ttfa_sum))
    return out


def write_journal(path: Path, seconds: int) -> None:
    now = [0.0]
    rng = random.Random(1)
    stats = ListenerStats()
    journal = JournalWriter(
        path,
        seed=1,
        meta={"title": f"{seconds // 60} min run"},
        wall_clock=lambda: WALL0 + now[0],
        monotonic_clock=lambda: now[0],
    )
    journal.phase("baseline")
    for t in range(seconds + 1):
        now[0] = float(t)
        if t == 60:
            journal.phase("method")
        if t == seconds // 3:
            journal.write("fault.start", name="slow-edge", latency="200ms")
        if t == 2 * seconds // 3:
            journal.write("fault.end", name="slow-edge")
        for _ in range(5):
            stats.join_attempts += 1
            stats.record_ttfa(rng.expovariate(4.0))
            stats.connected += 1
        stats.playing = stats.connected
        stats.played_seconds += stats.connected
        batch = SampleBatch("gameday/harness", WALL0 + t, _samples(stats))
        journal.write("metrics", **batch.to_record())
    journal.write("verdict", verdict="pass")
    journal.close()


def best_of(runs: int, work: Callable[[], object]) -> float:
    """The fastest of ``runs`` timings: the least disturbed by other load on a shared box."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print("run      journal MB   read s   store s   series s   html s   md s   html vs 1 min")
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in (1, 10, 60):
            path = Path(tmp) / f"{minutes}.jsonl"
            write_journal(path, minutes * 60)
            journal = read_journal(path)
            read = best_of(2, lambda path=path: read_journal(path))
            store = best_of(2, lambda j=journal: load_store(j.events))
            series = best_of(2, lambda j=journal: charts(j, summarize(j)))
            html = best_of(2, lambda j=journal: render_html(j))
            markdown = best_of(2, lambda j=journal: render_markdown(j))
            first = first or html
            print(
                f"{minutes:3d} min  {path.stat().st_size / 1e6:10.1f}   {read:6.2f}   {store:7.2f}"
                f"   {series:8.2f}   {html:6.2f}   {markdown:4.2f}   {html / first:12.2f}x"
            )


if __name__ == "__main__":
    main()
