"""How many 64 kb/s listeners one harness core can account for, and how fast it joins them.

One swarm worker is one harness core; its CPU is read from /proc/<pid>/stat.

1. listeners, against a real Icecast 2.4 (tests/icecast_lab.py, 64 kb/s MP3 mount), so the
   server is not the bottleneck: LISTENERS join 32 at a time, then stream for a steady window
   with full accounting (HTTP parsing, the playout model on every read, sweeps, snapshots);
   listeners per core = listeners / the worker's share of a core over that window.
2. joins, against a stand-in progressive server in its own process that answers like Icecast
   (HTTP/1.0 200, a 64 KB burst, then 64 kb/s) but accepts at once: Icecast 2.4's listen
   backlog of 5 caps it at a few hundred joins/s, which would measure Icecast, not the
   harness. A storm of JOINS listeners at T0; joins/s per core = joins that reached first
   audio per second of the worker's CPU (the wall-clock rate, which shares two cores with the
   stand-in and whatever else runs, is printed too, as is the rate Icecast sustained).

3. Locust: the same measurement as 1 with the listeners on one Locust worker (the probe core
   over gevent sockets, ``--load-engine locust``), joining on a ramp (Locust has no in-flight
   limit), printed beside the native swarm's figure.

    python benchmarks/swarm.py [LISTENERS] [JOINS] [LOCUST_LISTENERS]  # default 6000 6000 3000

Prints ratios measured in this one run against the targets (>= 10,000 listeners per core,
>= 2,000 joins/s per core) and the two engines side by side, and writes the figures to
``reports/capacity.json``, which ``gameday plan`` reads; not a timed test.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from icecast_lab import BITRATE, icecast

from chaos.workload.arrivals import Paced, Phase, Ramp, Storm, build_schedule
from chaos.workload.capacity import Figures
from chaos.workload.locust.engine import LocustEngine
from chaos.workload.locust.job import LocustJob
from chaos.workload.locust.shape import LoadShape
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, Swarm

TARGET_LISTENERS_PER_CORE = 10_000
TARGET_JOINS_PER_SECOND = 2_000
STEADY_SECONDS = 15.0
_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


class Watched:
    """A one-worker swarm whose snapshots and worker CPU can be read while it runs."""

    def __init__(
        self, url: str, phases: list[Phase], duration: float, start_at: float | None = None
    ) -> None:
        self.snapshots: list[tuple[float, float, ListenerStats]] = []  # (time, cpu, stats)
        config = ListenerConfig(url, bitrate=BITRATE, target_delay=1.0, join_timeout=60)
        schedule = build_schedule(phases, seed=1)
        self.swarm = Swarm(
            schedule, config, seed=1, duration=duration, workers=1, sample=0,
            snapshot_interval=0.25, on_snapshot=self._snapshot, start_at=start_at,
        )  # fmt: skip
        self.pid: int | None = None

    def _snapshot(self, stats: ListenerStats) -> None:
        if self.pid is None:
            children = multiprocessing.active_children()
            self.pid = next(c.pid for c in children if c.name.startswith("gameday-swarm"))
        assert self.pid is not None
        self.snapshots.append((time.monotonic(), cpu_seconds(self.pid), stats))


def stand_in(ports: Any) -> None:
    """An Icecast-like progressive server that never makes a client wait to be accepted."""
    import uvloop

    head = b"HTTP/1.0 200 OK\r\nContent-Type: audio/mpeg\r\nicy-br: 64\r\n\r\n"
    # Real MP3 frames (listeners time them by their headers), looped: 16 s of a 64 kb/s tone.
    mp3 = subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=44100:duration=16", "-ac", "1", "-c:a", "libmp3lame",
         "-b:a", "64k", "-write_xing", "0", "-id3v2_version", "0", "-f", "mp3", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip
    looped = mp3 * 8

    async def listener(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(head + looped[:65535])  # Icecast's burst-on-connect
            at = 65535
            await asyncio.sleep(0.2)
            while not writer.is_closing():  # the listener left: stop writing
                writer.write(looped[at : at + 1600])  # 64 kb/s
                at = (at + 1600) % (len(looped) - 1600)
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(listener, "127.0.0.1", 0, backlog=65535)
        ports.put(server.sockets[0].getsockname()[1])
        await asyncio.sleep(3600)

    uvloop.run(serve())


async def join_rate(joins: int) -> tuple[float, float, float]:
    """(joins/s one worker reached against the stand-in, joins per second of the worker's CPU,
    share that heard audio)."""
    ports: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=stand_in, args=(ports,), daemon=True)
    server.start()
    try:
        url = f"http://127.0.0.1:{ports.get(timeout=30)}/live"
        t0 = time.monotonic() + 3.0  # after the worker has started
        watched = Watched(url, [Storm(joins)], 120.0, start_at=t0)
        run = asyncio.create_task(watched.swarm.run())
        while not run.done() and (
            not watched.snapshots or watched.snapshots[-1][2].joins_ok < joins
        ):
            await asyncio.sleep(0.05)
        elapsed = time.monotonic() - t0
        before = [snap for snap in watched.snapshots if snap[0] <= t0]
        _, c0, s0 = before[-1] if before else watched.snapshots[0]
        _, c1, s1 = watched.snapshots[-1]
        watched.swarm.stop()
        await run
    finally:
        server.terminate()
    per_cpu = (s1.joins_ok - s0.joins_ok) / max(1e-9, c1 - c0)
    return s1.joins_ok / elapsed, per_cpu, s1.joins_ok / joins


async def steady_load(url: str, listeners: int) -> tuple[int, float, float, float]:
    """(listeners streaming, worker's share of a core while they stream, stall ratio, joins/s
    Icecast admitted)."""
    watched = Watched(url, [Paced(listeners, max_in_flight=32)], 300.0)
    run = asyncio.create_task(watched.swarm.run())
    while not watched.snapshots or watched.snapshots[-1][2].joins_ok < listeners:
        if run.done() or (watched.snapshots and time.monotonic() - watched.snapshots[0][0] > 150):
            break
        await asyncio.sleep(0.2)
    first, joined = watched.snapshots[0], watched.snapshots[-1]
    icecast_rate = joined[2].joins_ok / max(1e-9, joined[0] - first[0])
    await asyncio.sleep(2.0)  # let the last bursts drain
    t0, c0, s0 = watched.snapshots[-1]
    await asyncio.sleep(STEADY_SECONDS)
    t1, c1, s1 = watched.snapshots[-1]
    watched.swarm.stop()
    await run
    stall_ratio = (s1.stall_seconds - s0.stall_seconds) / max(
        1e-9, (s1.played_seconds - s0.played_seconds) + (s1.stall_seconds - s0.stall_seconds)
    )
    return s1.playing, (c1 - c0) / (t1 - t0), stall_ratio, icecast_rate


async def locust_load(url: str, listeners: int, logs: Path) -> tuple[int, float, float]:
    """(listeners streaming on one Locust worker, its share of a core while they stream, stall
    ratio); they join on a ramp a little under the rate Icecast admits (its listen backlog is
    5, and Locust has no in-flight limit to stay under it)."""
    ramp = max(10.0, listeners / 100)
    start = time.monotonic() + 8.0  # Locust's processes take a few seconds to start
    job = LocustJob(
        (ListenerConfig(url, bitrate=BITRATE, target_delay=1.0, join_timeout=60),),
        LoadShape.of(build_schedule([Ramp(listeners, 0.0, ramp)], seed=1), 600.0),
        t0=time.time() + (start - time.monotonic()),
        seed=1,
        snapshot_interval=0.5,
    )
    logs.mkdir(parents=True, exist_ok=True)
    engine = LocustEngine(
        job, listeners=listeners, workers=1, local_workers=1, bind=None, logs=logs,
        start_at=start, duration=600.0, interval=0.5,
    )  # fmt: skip
    run = asyncio.create_task(engine.run())
    while engine.stats().joins_ok < listeners and time.monotonic() < start + ramp + 45:
        if run.done():
            await run  # raises what went wrong
        await asyncio.sleep(0.5)
    worker = next(p.pid for p in engine.processes if p.name.startswith("locust-worker"))
    await asyncio.sleep(3.0)  # let the last bursts drain
    t0, c0, s0 = time.monotonic(), cpu_seconds(worker), engine.stats()
    await asyncio.sleep(STEADY_SECONDS)
    t1, c1, s1 = time.monotonic(), cpu_seconds(worker), engine.stats()
    engine.stop()
    await run
    stalled = s1.stall_seconds - s0.stall_seconds
    played = s1.played_seconds - s0.played_seconds
    return s1.playing, (c1 - c0) / (t1 - t0), stalled / max(1e-9, played + stalled)


def main() -> None:
    listeners = int(sys.argv[1]) if len(sys.argv) > 1 else 6000
    joins = int(sys.argv[2]) if len(sys.argv) > 2 else 6000
    locust_listeners = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
    logs = Path("reports") / "bench-locust"
    with icecast(clients=max(listeners, locust_listeners) + 100, source_seconds=600) as url:
        streaming, core_share, stall_ratio, icecast_rate = asyncio.run(steady_load(url, listeners))
        locust_streaming, locust_share, locust_stalls = asyncio.run(
            locust_load(url, locust_listeners, logs)
        )
    rate, per_cpu, heard = asyncio.run(join_rate(joins))
    print(
        f"steady: {streaming} listeners playing from Icecast, worker at "
        f"{100 * core_share:.1f}% of a core, stall ratio {stall_ratio:.4f}; Icecast admitted "
        f"{icecast_rate:.0f} joins/s (32 in flight)"
    )
    if stall_ratio > 0.01:
        print("  WARNING: listeners stalled, so Icecast (or a busy machine) was the bottleneck")
    print(
        f"storm: {joins} joins against the stand-in, {100 * heard:.0f}% heard audio, "
        f"{rate:.0f} joins/s wall clock (with the stand-in and this machine's other load)"
    )
    print(f"{'metric':<44} {'measured':>10} {'target':>8} {'ratio':>7}")
    for name, value, target in (
        ("64 kb/s listeners per harness core", streaming / core_share, TARGET_LISTENERS_PER_CORE),
        ("joins/s per harness core (per CPU-second)", per_cpu, TARGET_JOINS_PER_SECOND),
    ):
        print(f"{name:<44} {value:>10.0f} {target:>8} {value / target:>7.2f}")
    native_per_core = streaming / core_share
    locust_per_core = locust_streaming / max(1e-9, locust_share)
    print()
    print(f"{'against Icecast, 64 kb/s':<44} {'native':>10} {'locust':>10}")
    print(f"{'listeners streaming':<44} {streaming:>10} {locust_streaming:>10}")
    print(f"{'worker share of a core':<44} {core_share:>10.2f} {locust_share:>10.2f}")
    print(f"{'stall ratio':<44} {stall_ratio:>10.4f} {locust_stalls:>10.4f}")
    print(f"{'listeners per core':<44} {native_per_core:>10.0f} {locust_per_core:>10.0f}")
    if locust_stalls > 0.01:
        print("  WARNING: Locust's listeners stalled: its worker (one core) was the bottleneck")
    figures = Figures.measured_now(
        native_listeners_per_core=native_per_core,
        locust_listeners_per_core=locust_per_core,
        joins_per_core_second=per_cpu,
        where=f"{os.uname().nodename}, {os.cpu_count()} cores, benchmarks/swarm.py",
    )
    written = figures.write(Path("reports") / "capacity.json")
    print(f"figures for `gameday plan`: {written}")


if __name__ == "__main__":
    main()
