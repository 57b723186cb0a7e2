"""What cohorts cost the harness per listener: the same storm with and without a control cohort.

A cohort doubles the proxies, not the harness's work per listener: the audience is split into
two crowds of one swarm (control and experiment, sharing its two workers, as a run's audience
does), every attempt is recorded for the differential SLOs, each worker keeps and reports
totals per cohort, and the listener metrics are rendered once per cohort with a ``cohort``
label. This benchmark runs one storm of LISTENERS against a stand-in
progressive server (benchmarks/swarm.py's: Icecast's answers, 64 kb/s MP3, accepts at once),
alternately without and with cohorts, ROUNDS times each, in one run, and measures the CPU of
the swarm workers (reaped children's rusage) plus the parent's rendering of the listener
metrics once a second (as a scrape does), per listener.

    python benchmarks/cohorts.py [LISTENERS] [SECONDS] [ROUNDS]   # default 1000 15 2

Prints the CPU per listener of each mode and their ratio against the goal (within 10 %).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prometheus_client import CollectorRegistry, generate_latest
from swarm import stand_in

from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.cohorts import Cohort, cohort_schedule, split_audience
from chaos.workload.metrics import CohortCollector, ListenerCollector
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, Swarm, mixed

GOAL = 1.10


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _scrape(render: Callable[[], bytes], until: asyncio.Task[Any]) -> float:
    """Render the listener metrics once a second while the swarms run: the parent's CPU."""
    spent = 0.0
    while not until.done():
        began = time.process_time()
        render()
        spent += time.process_time() - began
        await asyncio.sleep(1.0)
    return spent


async def one_run(url: str, listeners: int, seconds: float, cohorts: bool) -> tuple[float, int]:
    """(harness CPU seconds, listeners that heard audio) for one storm."""
    config = ListenerConfig(url, bitrate=64_000, target_delay=1.0, join_timeout=30)
    whole = build_schedule([Storm(listeners, 0.0, 2.0)], seed=1)
    start_at = time.monotonic() + 4.0
    registry = CollectorRegistry()
    if cohorts:
        split = split_audience(whole, 0.5, 1)
        schedule, crowds = mixed(
            [(cohort_schedule(whole, indices, 0.5), config)
             for indices in (split.control, split.experiment)]
        )  # fmt: skip
        swarm = Swarm(
            schedule, crowds, seed=1, duration=seconds, workers=2, sample=0, start_at=start_at,
            attempts=True,
        )  # fmt: skip
        names = (str(Cohort.CONTROL), str(Cohort.EXPERIMENT))

        def by_cohort() -> dict[str, ListenerStats]:
            return dict(zip(names, swarm.crowd_stats(), strict=True))

        registry.register(CohortCollector(by_cohort))
    else:
        swarm = Swarm(
            whole, config, seed=1, duration=seconds, workers=2, sample=0, start_at=start_at
        )
        registry.register(ListenerCollector(swarm.stats))
    children = _children_cpu()
    running = asyncio.ensure_future(swarm.run())
    parent = await _scrape(lambda: generate_latest(registry), running)
    result = await running
    workers = _children_cpu() - children
    heard = result.stats.joins_ok
    if cohorts:
        assert len(result.attempts) >= heard, (len(result.attempts), heard)
    return workers + parent, heard


async def main() -> None:
    listeners = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 15.0
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=stand_in, args=(ports,), daemon=True)
    server.start()
    totals = {False: [0.0, 0], True: [0.0, 0]}
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}/live"
        for _ in range(rounds):
            for cohorts in (False, True):
                cpu, heard = await one_run(url, listeners, seconds, cohorts)
                totals[cohorts][0] += cpu
                totals[cohorts][1] += heard
    finally:
        server.terminate()
    per = {k: 1e3 * cpu / max(1, heard) for k, (cpu, heard) in totals.items()}
    ratio = per[True] / per[False]
    print(f"{listeners} listeners, a {seconds:g} s storm run, {rounds} round(s) of each mode\n")
    print(f"{'mode':<28} {'heard':>7} {'CPU ms / listener':>18}")
    print(f"{'one swarm, no cohorts':<28} {totals[False][1]:>7} {per[False]:>18.2f}")
    print(f"{'control + experiment':<28} {totals[True][1]:>7} {per[True]:>18.2f}")
    verdict = "within" if ratio <= GOAL else "OVER"
    print(f"\nwith / without cohorts: {ratio:.3f} ({verdict} the goal of {GOAL:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
