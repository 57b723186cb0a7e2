"""A recorded run for the report tests: a journal written by ``JournalWriter`` as the runner
writes one (the experiment, T0 in the baseline phase, faults with their parameters as written,
SLO results from the evaluator), whose metrics come from real scrapes (the ``Scraper`` reading
prometheus-client registries: the harness's ``ListenerCollector`` and a stack-side app), on a
simulated clock so a minute of run takes milliseconds. T0 is 10 s after the journal opens.
Listeners join in a storm from T0; the slow-edge fault slows their time to first audio and
stalls playout; a flood makes joins fail."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

from chaos.experiment.experiment import Experiment
from chaos.experiment.timeline import Timeline
from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.store import SeriesStore
from chaos.report.experiment import EXPERIMENT_KIND, experiment_record
from chaos.report.journal import JournalWriter
from chaos.slo.adapt import objectives_from_experiment, timeline_at
from chaos.slo.evaluate import evaluate_all, verdict
from chaos.slo.objective import Context
from chaos.workload.metrics import ListenerCollector
from chaos.workload.stats import ListenerStats

WALL0 = 1_795_000_000.0
T0 = 10.0
"""Seconds from the journal's opening to T0."""
FAULTS = (("slow-edge", 15.0, 30.0, {"link": "listener->edge", "latency": "200ms"}),
          ("flood", 25.0, 35.0, {"link": "listener->edge", "flood": "90%"}))  # fmt: skip
TTFA = "gameday_listener_time_to_first_audio_seconds"
EXPERIMENT = Experiment.model_validate(
    {
        "title": "Launch storm over a degraded edge",
        "seed": 42,
        "baseline": "10s",
        "recovery": "15s",
        "workload": {
            "listeners": [{"arrival": "storm", "count": 400, "at": "0s", "spread": "10s"}]
        },
        "faults": [
            {"name": "slow-edge", "at": "5s", "for": "15s", "link": "listener->edge",
             "latency": "200ms", "jitter": "50ms", "direction": "downstream"},
            {"name": "flood", "at": "15s", "for": "10s", "link": "listener->edge",
             "flood": "90%"},
        ],
        "slos": [
            {"name": "launch-delay", "p95": TTFA, "below": "2s", "during": "storm"},
            {"name": "join-success", "above": "99.5%",
             "ratio": "gameday_listener_joins_ok_total/gameday_listener_join_attempts_total"},
            {"name": "stalls", "below": "5%", "during": "slow-edge",
             "ratio": "gameday_listener_stall_seconds_total/gameday_listener_played_seconds_total"},
            {"name": "recovered", "recovers_within": "10s", "after": "slow-edge", "of": ["stalls"]},
        ],
        "abort": [{"name": "join-collapse", "below": "20%", "for": "10s",
                   "ratio": "gameday_listener_joins_ok_total/"
                            "gameday_listener_join_attempts_total"}],
    }
)  # fmt: skip


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
    slow_ttfa: float = 1.8
    """Mean time to first audio (s) while the edge is slow."""
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
            base = self.slow_ttfa if "slow-edge" in active else 0.25
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
        ears = s.ear("edge")
        ears.ears = min(s.connected, 20)
        ears.howling = 0
        if "slow-edge" in active and "flood" in active:  # both at once make it howl
            ears.howls += int(t == 25.0) * 3
            ears.howling = 3
            ears.howl_seconds += 3.0


async def record_run(
    path: Path,
    *,
    duration: float = 50.0,
    faults: bool = True,
    unended: bool = False,
    slow_ttfa: float = 1.8,
    run_id: str = "20261124T150000Z-test",
) -> None:
    """Write a whole run's journal: phases, faults, a scrape a second, SLO results, verdict."""
    clock = SimClock()
    sim = Sim(slow_ttfa=slow_ttfa)
    journal = JournalWriter(
        path,
        run_id=run_id,
        seed=42,
        meta={"title": "Launch storm over a degraded edge", "stack": "soundstage", "scale": 400},
        wall_clock=clock.wall,
        monotonic_clock=clock.mono,
    )
    store = SeriesStore()
    scraper = Scraper(
        [Target("gameday", "harness", registry=sim.registry)],
        store,
        clock=clock.wall,
        sink=lambda batch: journal.write("metrics", **batch.to_record()),
    )
    schedule = [f for f in FAULTS if faults]
    spec = {f.name: f for f in EXPERIMENT.faults}
    journal.write(EXPERIMENT_KIND, **experiment_record(EXPERIMENT))
    while clock.now <= duration:
        t = clock.now
        if t == 0.0:
            journal.phase("baseline", t0=clock.wall() + T0, t0_mono=clock.mono() + T0)
        if t == T0:
            journal.phase("method")
        if t == 40.0:
            journal.phase("recovery")
        for name, start, end, _ in schedule:
            if t == start:
                written = spec[name].model_dump(mode="json", by_alias=True, exclude_none=True)
                journal.write(
                    "fault.start", name=name, type=spec[name].kind, params=written,
                    toxics=[{"proxy": f"listener->edge#{i}", "toxic": f"{name}@r",
                             "stream": "downstream"} for i in (1, 2)],
                )  # fmt: skip
            if t == end and not (unended and name == "flood"):
                journal.write("fault.end", name=name, type=spec[name].kind, problems=[])
        active = {n for n, s, e, _ in schedule if s <= t < e}
        sim.second(t, active, joining=40 if T0 <= t < T0 + 10 else 2)
        await scraper.scrape_all()
        clock.now += 1.0
    timeline = timeline_at(Timeline.of(EXPERIMENT), WALL0 + T0)
    results = evaluate_all(objectives_from_experiment(EXPERIMENT), timeline, Context(store.range))
    for result in results:
        journal.write("slo", **result.to_record())
    journal.write("verdict", verdict="pass" if verdict(results) else "fail", exit_code=1)
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
