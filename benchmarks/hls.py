"""HLS listeners per harness core, and bad HLS input as counted failures.

1. capacity: ffmpeg's HLS muxer (64 kb/s AAC, 2 s segments) served by Debian's nginx
   (tests/hls_lab.py); LISTENERS join 32 at a time on one swarm worker (one harness core), then
   play with full per-listener accounting (HTTP parsing, the playlist parser, the player, the
   playout model, sweeps, snapshots) for a steady window; listeners per core = listeners / the
   worker's share of a core over that window (its CPU from /proc/PID/stat), requests/s per
   core likewise. The same on one Locust worker (gevent sockets), joining on a ramp.
2. ears: their cost is benchmarks/ears.py's (an HLS ear decodes each segment once per edge).
3. bad input, from a hostile server of ours (aiohttp on 127.0.0.1): a 50 MB playlist, a
   playlist whose segment is the playlist, a segment that never ends, a variant on another
   host (127.0.0.2, where a second server counts connections: none may come). Each case's
   listeners must fail with the case's reason, the swarm must finish, and every request must
   be one the case's playlists named.

    python benchmarks/hls.py [LISTENERS] [LOCUST_LISTENERS]   # default 3000 1500

Ratios from this one run count; the load average is printed beside them (2 cores shared).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from hls_hostile import CASES, LISTED
from hls_hostile import bad_input as hostile_cases
from hls_lab import hls_origin
from swarm import STEADY_SECONDS, cpu_seconds

from chaos.workload.arrivals import Paced, Ramp, build_schedule
from chaos.workload.locust.engine import LocustEngine
from chaos.workload.locust.job import LocustJob
from chaos.workload.locust.shape import LoadShape
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm

GOAL = 5000  # HLS listeners per core


def hls_config(url: str, join_timeout: float = 60.0) -> ListenerConfig:
    return ListenerConfig(url, stream=StreamFormat.HLS, join_timeout=join_timeout, ears=0)


async def native(url: str, listeners: int) -> tuple[int, float, float, float]:
    """(listeners playing, worker share of a core, requests/s, stall ratio) while steady."""
    snapshots: list[tuple[float, float, ListenerStats]] = []
    pid: list[int] = []

    def snapshot(stats: ListenerStats) -> None:
        if not pid:
            import multiprocessing

            pid.append(
                next(
                    c.pid or 0
                    for c in multiprocessing.active_children()
                    if c.name.startswith("gameday-swarm")
                )
            )
        snapshots.append((time.monotonic(), cpu_seconds(pid[0]), stats))

    swarm = Swarm(
        build_schedule([Paced(listeners, max_in_flight=32)], seed=1), hls_config(url),
        seed=1, duration=300.0, workers=1, sample=0, snapshot_interval=0.25,
        on_snapshot=snapshot,
    )  # fmt: skip
    run = asyncio.create_task(swarm.run())
    while not snapshots or snapshots[-1][2].joins_ok < listeners:
        if run.done() or (snapshots and time.monotonic() - snapshots[0][0] > 150):
            break
        await asyncio.sleep(0.2)
    await asyncio.sleep(3.0)
    t0, c0, s0 = snapshots[-1]
    await asyncio.sleep(STEADY_SECONDS)
    t1, c1, s1 = snapshots[-1]
    swarm.stop()
    await run
    return (
        s1.playing,
        (c1 - c0) / (t1 - t0),
        (s1.requests - s0.requests) / (t1 - t0),
        _stalls(s0, s1),
    )


def _stalls(s0: ListenerStats, s1: ListenerStats) -> float:
    stalled = s1.stall_seconds - s0.stall_seconds
    return stalled / max(1e-9, s1.played_seconds - s0.played_seconds + stalled)


async def locust(url: str, listeners: int, logs: Path) -> tuple[int, float, float, float]:
    ramp = max(10.0, listeners / 100)
    start = time.monotonic() + 8.0
    job = LocustJob(
        (hls_config(url),),
        LoadShape.of(build_schedule([Ramp(listeners, 0.0, ramp)], seed=1), 600.0),
        t0=time.time() + (start - time.monotonic()), seed=1, snapshot_interval=0.5,
    )  # fmt: skip
    logs.mkdir(parents=True, exist_ok=True)
    engine = LocustEngine(
        job, listeners=listeners, workers=1, local_workers=1, bind=None, logs=logs,
        start_at=start, duration=600.0, interval=0.5,
    )  # fmt: skip
    run = asyncio.create_task(engine.run())
    while engine.stats().joins_ok < listeners and time.monotonic() < start + ramp + 45:
        if run.done():
            await run
        await asyncio.sleep(0.5)
    worker = next(p.pid for p in engine.processes if p.name.startswith("locust-worker"))
    await asyncio.sleep(3.0)
    t0, c0, s0 = time.monotonic(), cpu_seconds(worker), engine.stats()
    await asyncio.sleep(STEADY_SECONDS)
    t1, c1, s1 = time.monotonic(), cpu_seconds(worker), engine.stats()
    engine.stop()
    await run
    return (
        s1.playing,
        (c1 - c0) / (t1 - t0),
        (s1.requests - s0.requests) / (t1 - t0),
        _stalls(s0, s1),
    )


async def bad_input(per_case: int) -> dict[str, tuple[int, dict[str, int], float]]:
    results, hostile = await hostile_cases(per_case)
    strays = sorted(set(hostile.requests) - LISTED)
    foreign = hostile.foreign_connections
    print(f"requests outside the declared playlists: {strays or 'none'}; "
          f"connections to the other host: {foreign}")  # fmt: skip
    if strays or foreign:
        raise SystemExit("traffic left the declared endpoints")
    return results


def main() -> None:
    listeners = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    locust_listeners = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    with hls_origin(900, list_size=6) as origin:
        playing, share, rate, stalls = asyncio.run(native(origin.url, listeners))
        load_native = os.getloadavg()[0]
        l_playing, l_share, l_rate, l_stalls = asyncio.run(
            locust(origin.url, locust_listeners, Path("reports") / "bench-locust-hls")
        )
        load_locust = os.getloadavg()[0]
    print(f"HLS against ffmpeg + nginx, 64 kb/s AAC, 2 s segments; steady {STEADY_SECONDS} s")
    print(f"{'':<34} {'native':>10} {'locust':>10}")
    print(f"{'listeners playing':<34} {playing:>10} {l_playing:>10}")
    print(f"{'worker share of a core':<34} {share:>10.2f} {l_share:>10.2f}")
    print(f"{'HTTP requests/s':<34} {rate:>10.0f} {l_rate:>10.0f}")
    print(f"{'stall ratio':<34} {stalls:>10.4f} {l_stalls:>10.4f}")
    per_core, l_per_core = playing / max(1e-9, share), l_playing / max(1e-9, l_share)
    print(f"{'HLS listeners per core':<34} {per_core:>10.0f} {l_per_core:>10.0f}  (goal {GOAL})")
    print(f"{'requests/s per core':<34} {rate / max(1e-9, share):>10.0f} "
          f"{l_rate / max(1e-9, l_share):>10.0f}")  # fmt: skip
    print(f"{'load average (1 min) at the end':<34} {load_native:>10.2f} {load_locust:>10.2f}")
    print("ears: see benchmarks/ears.py (an HLS ear decodes each segment once per edge)")
    print()
    results = asyncio.run(bad_input(50))
    print(f"{'bad input':<26} {'listeners':>9} {'failed as':<22} {'count':>6} {'took s':>7}")
    broken = False
    for case, (_, reason) in CASES.items():
        attempts, failures, took = results[case]
        got = failures.get(reason, 0)
        broken |= got != attempts or set(failures) != {reason}
        print(f"{case:<26} {attempts:>9} {reason:<22} {got:>6} {took:>7.1f}  {failures}")
    print(f"load average (1 min): {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if broken:
        raise SystemExit("a bad input was not a counted failure of its own reason")


if __name__ == "__main__":
    main()
