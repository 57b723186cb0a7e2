"""How many 64 kb/s listeners one harness core can account for, and how fast it joins them.

Runs a real Icecast 2.4 (tests/icecast_lab.py) with a 64 kb/s MP3 mount and one swarm worker
(one harness core). Listeners join paced (Icecast's listen backlog of 5 would otherwise make
the *server* the bottleneck), then stream with full accounting: HTTP parsing, the playout
model on every read, per-second sweeps and snapshots. The worker's CPU is read from
/proc/<pid>/stat over the steady window and over the join phase (net of the streaming that
runs meanwhile), giving the joins per second one core could sustain; the joins per second
achieved against Icecast are also shown, though there the server's accept loop is the limit.

    python benchmarks/swarm.py [LISTENERS]      # default 6000

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

from chaos.workload.arrivals import Paced, build_schedule
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, Swarm

TARGET_LISTENERS_PER_CORE = 10_000
TARGET_JOINS_PER_SECOND = 2_000
STEADY_SECONDS = 15.0
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


async def measure(url: str, listeners: int) -> dict[str, float]:
    schedule = build_schedule([Paced(listeners, max_in_flight=64)], seed=1)
    latest: list[ListenerStats] = []
    config = ListenerConfig(url, bitrate=BITRATE, target_delay=1.0, join_timeout=120)
    duration = 180.0
    swarm = Swarm(
        schedule, config, seed=1, duration=duration, workers=1, sample=0,
        on_snapshot=latest.append,
    )  # fmt: skip
    run = asyncio.create_task(swarm.run())
    while not multiprocessing.active_children():
        await asyncio.sleep(0.05)
    pid = multiprocessing.active_children()[0].pid
    assert pid is not None
    while not latest:
        await asyncio.sleep(0.1)
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    while latest[-1].joins_ok < listeners and time.monotonic() - t0 < duration / 2:
        await asyncio.sleep(0.2)
    t1, c1 = time.monotonic(), cpu_seconds(pid)
    joined = latest[-1].joins_ok
    await asyncio.sleep(STEADY_SECONDS)
    t2, c2 = time.monotonic(), cpu_seconds(pid)
    bytes_window = latest[-1].received_bytes
    swarm.stop()
    result = await run
    steady_core = (c2 - c1) / (t2 - t1)
    return {
        "listeners": joined,
        "join_wall_s": t1 - t0,
        "join_cpu_s": c1 - c0,
        "steady_core": steady_core,
        "stall_ratio": result.stats.stall_ratio(),
        "failures": sum(result.stats.failures.values()),
        "mbit_s": bytes_window * 8 / 1e6 / max(1e-9, t2 - t0),
    }


def main() -> None:
    listeners = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    with icecast(clients=listeners + 100, source_seconds=400) as url:
        m = asyncio.run(measure(url, listeners))
    per_core = m["listeners"] / m["steady_core"] if m["steady_core"] > 0 else float("inf")
    joins_wall = m["listeners"] / m["join_wall_s"]
    # While joining, the audience grows linearly, so streaming cost about half the steady rate;
    # what is left is the CPU the joins themselves took.
    join_cpu = m["join_cpu_s"] - m["steady_core"] * m["join_wall_s"] / 2
    joins_cpu = m["listeners"] / join_cpu if join_cpu > 0 else float("inf")
    rows = [
        ("64 kb/s listeners per harness core", per_core, TARGET_LISTENERS_PER_CORE),
        ("joins/s per harness core (CPU-bound capacity)", joins_cpu, TARGET_JOINS_PER_SECOND),
        ("joins/s achieved against Icecast (wall clock)", joins_wall, TARGET_JOINS_PER_SECOND),
    ]
    print(
        f"{int(m['listeners'])} listeners joined in {m['join_wall_s']:.1f}s; steady worker "
        f"CPU {100 * m['steady_core']:.1f}% of a core; {m['failures']:.0f} failed joins; "
        f"stall ratio {m['stall_ratio']:.4f}"
    )
    print(f"{'metric':<48} {'measured':>10} {'target':>8} {'ratio':>7}")
    for name, value, target in rows:
        print(f"{name:<48} {value:>10.0f} {target:>8} {value / target:>7.2f}")


if __name__ == "__main__":
    main()
