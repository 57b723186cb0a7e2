"""How many 64 kb/s listeners one harness core can account for, and how fast it joins them.

Runs a real Icecast 2.4 (tests/icecast_lab.py) with a 64 kb/s MP3 mount and one swarm worker,
i.e. one harness core, in two phases measured from the worker's /proc/<pid>/stat:

1. joins: a ramp of short sessions (each listener joins, hears its first audio and ~0.6 s
   more, and leaves), so the worker's CPU per join attempt is what joining costs. Icecast
   accepts only a few hundred joins per second (listen backlog 5), so joins/s per core is
   that CPU cost inverted: what one core could sustain against a server that keeps up.
2. listeners: joined 32 at a time up to LISTENERS, then held for a steady window with full
   accounting (HTTP parsing, the playout model on every read, sweeps, snapshots); listeners
   per core = listeners / the worker's share of a core over that window.

    python benchmarks/swarm.py [LISTENERS] [JOINS]      # default 6000 2000

Prints ratios measured in this one run against the targets (>= 10,000 listeners per core,
>= 2,000 joins/s per core); not a timed test.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from icecast_lab import BITRATE, icecast

from chaos.workload.arrivals import Paced, Phase, Ramp, Sessions, build_schedule
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, Swarm

TARGET_LISTENERS_PER_CORE = 10_000
TARGET_JOINS_PER_SECOND = 2_000
JOIN_RATE = 200.0  # what Icecast 2.4 accepts without SYN drops on this machine
STEADY_SECONDS = 15.0
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


class Watched:
    """A one-worker swarm whose snapshots and worker CPU can be read while it runs."""

    def __init__(
        self, url: str, phases: list[Phase], duration: float, sessions: Sessions | None
    ) -> None:
        self.snapshots: list[tuple[float, float, ListenerStats]] = []  # (time, cpu, stats)
        config = ListenerConfig(url, bitrate=BITRATE, target_delay=1.0, join_timeout=60)
        schedule = build_schedule(phases, seed=1, sessions=sessions, until=duration)
        self.swarm = Swarm(
            schedule, config, seed=1, duration=duration, workers=1, sample=0,
            on_snapshot=self._snapshot,
        )  # fmt: skip
        self.pid: int | None = None

    def _snapshot(self, stats: ListenerStats) -> None:
        if self.pid is None:
            self.pid = multiprocessing.active_children()[0].pid
        assert self.pid is not None
        self.snapshots.append((time.monotonic(), cpu_seconds(self.pid), stats))


async def join_cost(url: str, joins: int) -> tuple[float, float]:
    """(CPU seconds per join attempt, share of attempts that reached first audio)."""
    duration = joins / JOIN_RATE + 2.0
    watched = Watched(url, [Ramp(joins, 0.0, joins / JOIN_RATE)], duration, Sessions(0.6))
    await watched.swarm.run()
    (_, c0, s0), (_, c1, s1) = watched.snapshots[0], watched.snapshots[-1]
    attempts = s1.join_attempts - s0.join_attempts
    return (c1 - c0) / attempts, s1.joins_ok / max(1, s1.join_attempts)


async def steady_load(url: str, listeners: int) -> tuple[int, float, float]:
    """(listeners streaming, worker's share of a core while they stream, stall ratio)."""
    watched = Watched(url, [Paced(listeners, max_in_flight=32)], 300.0, None)
    run = asyncio.create_task(watched.swarm.run())
    while not watched.snapshots or watched.snapshots[-1][2].joins_ok < listeners:
        if run.done() or (watched.snapshots and time.monotonic() - watched.snapshots[0][0] > 150):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(2.0)  # let the last bursts drain
    t0, c0, s0 = watched.snapshots[-1]
    await asyncio.sleep(STEADY_SECONDS)
    t1, c1, s1 = watched.snapshots[-1]
    watched.swarm.stop()
    await run
    stall_ratio = (s1.stall_seconds - s0.stall_seconds) / max(
        1e-9, (s1.played_seconds - s0.played_seconds) + (s1.stall_seconds - s0.stall_seconds)
    )
    return s1.playing, (c1 - c0) / (t1 - t0), stall_ratio


def main() -> None:
    listeners = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    joins = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    with icecast(clients=listeners + joins + 100, source_seconds=600) as url:
        per_join, ok_share = asyncio.run(join_cost(url, joins))
        streaming, core_share, stall_ratio = asyncio.run(steady_load(url, listeners))
    per_core = streaming / core_share
    joins_per_core = 1.0 / per_join
    print(
        f"joins: {joins} at {JOIN_RATE:.0f}/s, {1000 * per_join:.2f} ms of worker CPU each, "
        f"{100 * ok_share:.0f}% reached first audio before leaving"
    )
    print(
        f"steady: {streaming} listeners playing, worker at {100 * core_share:.1f}% of a core, "
        f"stall ratio {stall_ratio:.4f}"
    )
    print(f"{'metric':<40} {'measured':>10} {'target':>8} {'ratio':>7}")
    for name, value, target in (
        ("64 kb/s listeners per harness core", per_core, TARGET_LISTENERS_PER_CORE),
        ("joins/s per harness core", joins_per_core, TARGET_JOINS_PER_SECOND),
    ):
        print(f"{name:<40} {value:>10.0f} {target:>8} {value / target:>7.2f}")


if __name__ == "__main__":
    main()
