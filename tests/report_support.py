"""A recorded run for the report tests: a journal written by ``JournalWriter`` whose metrics
come from real scrapes (the ``Scraper`` reading prometheus-client registries: the harness's
``ListenerCollector`` and a stack-side app), on a simulated clock so a minute of run takes
milliseconds. Listeners join in a storm after the baseline; the slow-edge fault slows their
time to first audio and stalls playout; a flood makes joins fail."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.store import SeriesStore
from chaos.report.journal import JournalWriter
from chaos.workload.metrics import ListenerCollector
from chaos.workload.stats import ListenerStats

WALL0 = 1_795_000_000.0
FAULTS = (("slow-edge", 15.0, 30.0, {"link": "listener->edge", "latency": "200ms"}),
          ("flood", 25.0, 35.0, {"link": "listener->edge", "flood": "90%"}))  # fmt: skip


@dataclass
class SimClock:
    now: float = 0.0

    def wall(self) -> float:
        return WALL0 + self.now

    def mono(self) -> float:
        return 5000.0 + self.now


@dataclass
class Sim:
    """Listener behaviour per simulated second, shaped by the faults active at that second."""

    rng: random.Random = field(default_factory=lambda: random.Random(7))
    stats: ListenerStats = field(default_factory=ListenerStats)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.registry.register(ListenerCollector(lambda: self.stats.copy()))
        reg = self.registry
        self.api_joins = Counter("soundstage_api_joins", "admitted", registry=reg)
        self.room = Gauge("soundstage_api_room_listeners", "joined", ["room"], registry=reg)

    def second(self, t: float, active: set[str], joining: int) -> None:
        s = self.stats
        for _ in range(joining):
            s.join_attempts += 1
            if "flood" in active and self.rng.random() < 0.4:
                s.failures["timeout"] += 1
                continue
            base = 1.8 if "slow-edge" in active else 0.25
            s.record_ttfa(self.rng.expovariate(1 / base))
            self.api_joins.inc()
            s.connected += 1
        s.playing = s.connected
        for _ in range(10):  # delay behind live, sampled per sweep
            s.record_latency(self.rng.uniform(0.9, 1.5) if "slow-edge" in active else 0.3)
        stalled = 0.3 if "slow-edge" in active else 0.01
        s.stall_seconds += s.connected * stalled
        s.played_seconds += s.connected * (1 - stalled)
        s.stalled = round(s.connected * stalled)
        self.room.labels("1").set(s.connected)
        s.howl_monitored = min(s.connected, 20)
        s.howling = 0
        if "slow-edge" in active and "flood" in active:  # both at once make it howl
            s.howls += int(t == 25.0) * 3
            s.howling = 3
            s.howl_seconds += 3.0


async def record_run(
    path: Path, *, duration: float = 50.0, faults: bool = True, unended: bool = False
) -> None:
    """Write a whole run's journal: phases, faults, a scrape a second, SLO results, verdict."""
    clock = SimClock()
    sim = Sim()
    journal = JournalWriter(
        path,
        run_id="20261124T150000Z-test",
        seed=42,
        meta={"title": "Launch storm over a degraded edge", "stack": "soundstage", "scale": 400},
        wall_clock=clock.wall,
        monotonic_clock=clock.mono,
    )
    scraper = Scraper(
        [Target("gameday", "harness", registry=sim.registry)],
        SeriesStore(),
        clock=clock.wall,
        sink=lambda batch: journal.write("metrics", **batch.to_record()),
    )
    schedule = [f for f in FAULTS if faults]
    journal.phase("baseline")
    while clock.now <= duration:
        t = clock.now
        if t == 10.0:
            journal.phase("method")
        if t == 40.0:
            journal.phase("recovery")
        for name, start, end, params in schedule:
            if t == start:
                journal.write("fault.start", name=name, **params)
            if t == end and not (unended and name == "flood"):
                journal.write("fault.end", name=name)
        active = {n for n, s, e, _ in schedule if s <= t < e}
        sim.second(t, active, joining=40 if 10 <= t < 20 else 2)
        await scraper.scrape_all()
        clock.now += 1.0
    journal.write(
        "slo", name="launch-delay", status="fail", value=4.2, comparison="below", threshold=2.0,
        window=[WALL0 + 10, WALL0 + 20], samples=187, windows=1, detail="p95 4.2s during storm",
        series=['gameday_listener_time_to_first_audio_seconds_bucket{le="0.5"}'],
    )  # fmt: skip
    journal.write(
        "slo", name="join-success", status="pass", value=0.996, comparison="above",
        threshold=0.995, window=[WALL0, WALL0 + duration], samples=102, windows=1,
        series=["gameday_listener_joins_ok_total", "gameday_listener_join_attempts_total"],
        detail="0.996 during run (must be above 0.995)",
    )  # fmt: skip
    journal.write("verdict", verdict="fail")
    journal.close()


def record_faults(path: Path, *, unended: bool = False) -> None:
    """The same run's phases, faults and verdict without the samples (what annotations read)."""
    clock = SimClock()
    with JournalWriter(
        path,
        run_id="20261124T150000Z-test",
        seed=42,
        meta={"title": "Launch storm over a degraded edge"},
        wall_clock=clock.wall,
        monotonic_clock=clock.mono,
    ) as journal:
        journal.phase("baseline")
        for t in range(51):
            clock.now = float(t)
            for name, start, end, params in FAULTS:
                if t == start:
                    journal.write("fault.start", name=name, **params)
                if t == end and not (unended and name == "flood"):
                    journal.write("fault.end", name=name)
        journal.write("verdict", verdict="fail")
