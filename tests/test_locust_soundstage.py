"""Locust's distributed engine against soundstage, on loopback: master and two workers.

1. The same storm, once through the native swarm and once through Locust, against the same
   soundstage: every listener joins under both, and the time to first audio and the stall
   ratio agree within the stated tolerance (Locust follows arrivals at one-second resolution,
   and gevent reads sockets differently, so the figures are close, not equal). One worker is
   started by the engine, the other by hand, attaching to the master's bind address with its
   own metrics address, as a worker on another machine would.
2. Through `gameday run --load-engine locust`: a worker killed mid-run is reported missing by
   Locust's master, and the verdict is infrastructure (exit 3: the load was incomplete), not pass.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest
from runner_support import popen_gameday
from soundstage_support import live_room, running, soundstage_spec

from chaos.faults.client.aio import AsyncToxiproxyClient
from chaos.faults.client.models import BandwidthAttributes
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.metrics.prometheus_server import free_port
from chaos.report.journal import read_journal
from chaos.stack.processes import ProcessRef, spawn, stop_all
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.locust.engine import LocustEngine, MasterBind, worker_command
from chaos.workload.locust.job import LocustJob
from chaos.workload.locust.shape import LoadShape
from chaos.workload.reconnect import ReconnectPolicy, RetryKind
from chaos.workload.stats import TTFA_BUCKETS, ListenerStats
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm

LISTENERS = 30
DURATION = 12.0
#: Tolerance between the engines: mean time to first audio within 0.5 s, the median within one
#: histogram bucket, and stall ratios within 5 percentage points. Not the p95: of 30 joins it is
#: the second slowest, and one engine's process descheduled for a moment on a loaded CI machine
#: moved it 0.5 s -> 1.5 s (three buckets) while the mean stayed within 0.3 s. The mean moves
#: too when the suite's slow files all run at once (load 6): Locust's 0.89 s against the native
#: 0.55 s in one clean-clone run, medians a bucket apart; an engine that waited for an extra
#: second or never buffered would still be 0.5 s off.
TTFA_MEAN_TOLERANCE = 0.5
STALL_TOLERANCE = 0.05
#: Seconds after the engine's own worker the hand-started one is started (Locust's processes
#: start in a few seconds on a quiet machine: T0 must wait for it).
ATTACH_LATE = 8.0


def _mean_ttfa(stats: ListenerStats) -> float:
    return stats.ttfa_sum / stats.joins_ok


def _bucket(stats: ListenerStats, q: float) -> int:
    value = stats.ttfa_quantile(q)
    assert value is not None
    return (*TTFA_BUCKETS, float("inf")).index(value)


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.xdist_group("cpu")  # two load engines compared: not beside the other comparison
async def test_locust_and_the_native_swarm_hear_the_same_storm_alike(tmp_path: Path) -> None:
    async with running(soundstage_spec(replicas={"edge": 1}), tmp_path / "stack") as (_, stack):
        room = await live_room(stack.addresses["api"]["http"])
        with EmbeddedToxiproxy(port=0) as proxy_server:
            async with AsyncToxiproxyClient(proxy_server.url) as toxiproxy:
                link = await toxiproxy.create_proxy(
                    "listener->edge", stack.addresses["edge"]["http"]
                )
                # ~9.8 kB/s per listener (µ-law, headers, chunking) squeezed to 6 kB/s: both
                # engines must hear the same stalls, not just none
                await toxiproxy.add_toxic(
                    "listener->edge", BandwidthAttributes(rate=6), name="thin"
                )
                url = f"http://{link.listen}/stream/{room}"
                native, locust, totals = await _both_engines(url, tmp_path)
    assert native.joins_ok == locust.joins_ok == LISTENERS, (native, locust)
    assert not locust.failures and not native.failures
    assert abs(_mean_ttfa(locust) - _mean_ttfa(native)) <= TTFA_MEAN_TOLERANCE, (native, locust)
    assert abs(_bucket(locust, 0.5) - _bucket(native, 0.5)) <= 1, (native, locust)
    assert native.stall_ratio() > 0.1  # the squeeze is heard
    assert abs(locust.stall_ratio() - native.stall_ratio()) <= STALL_TOLERANCE, (native, locust)
    # both listened for about the same time (each ~ DURATION - arrival)
    assert locust.played_seconds == pytest.approx(native.played_seconds, rel=0.2)
    # the hand-started worker carried listeners and was read at its own metrics address
    assert len(totals) == 2 and all(s.joins_ok > 0 for _, s in totals.values()), totals
    assert sorted(url.split(":")[1] for url, _ in totals.values()) == ["//127.0.0.1", "//127.0.0.7"]


async def _both_engines(
    url: str, tmp_path: Path
) -> tuple[ListenerStats, ListenerStats, dict[str, tuple[str, ListenerStats]]]:
    """The same storm through the native swarm and through Locust (one worker started by the
    engine, one by hand as on another machine) at the same time, from one T0: both meet the same
    moments of a shared machine's load, as two columns of one benchmark do."""
    config = ListenerConfig(url, stream=StreamFormat.FRAMED, target_delay=0.2)
    schedule = build_schedule([Storm(LISTENERS, spread=1.0)], 7)
    swarm = Swarm(schedule, config, seed=7, duration=DURATION, workers=1)
    bind = MasterBind("127.0.0.1", free_port())
    engine = LocustEngine(
        LocustJob((config,), LoadShape.of(schedule, DURATION + 30), t0=None, seed=7),
        listeners=LISTENERS,
        workers=2,
        local_workers=1,
        bind=bind,
        logs=tmp_path / "locust",
        duration=DURATION,
    )
    attached: list[ProcessRef] = []

    async def attach_late() -> float:
        """The hand-started worker comes well after the engine's own (a slow machine)."""
        await asyncio.sleep(ATTACH_LATE)
        attached.append(
            spawn(
                "attached-worker",
                worker_command(bind.dial, bind.port),
                tmp_path / "attached-worker.log",
                {"GAMEDAY_LOCUST_METRICS_HOST": "127.0.0.7"},
                tied=True,
            )
        )
        return time.monotonic()

    try:
        # T0 once both engines are ready: Locust's only when its master counts both workers
        # connected, however late one attaches (and the master starts nobody before T0)
        _, _, attached_at = await asyncio.gather(swarm.ready(), engine.ready(), attach_late())
        start = time.monotonic() + 0.5
        assert start > attached_at + 0.5
        swarm.start_at = start
        engine.begin_at(start)
        native, _ = await asyncio.gather(swarm.run(), engine.run())
    finally:
        await stop_all(attached, grace=5.0)
    assert engine.incomplete() is None
    return native.stats, engine.stats(), engine.worker_totals()


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_locust_users_fail_and_retry_by_the_reconnect_policy(tmp_path: Path) -> None:
    """Nothing listens: every attempt is refused, and each listener retries exactly as the
    policy says (three more times, half a second apart), as in the native swarm."""
    config = ListenerConfig(
        f"http://127.0.0.1:{free_port()}/stream/1",
        stream=StreamFormat.FRAMED,
        reconnect=ReconnectPolicy(RetryKind.FIXED, delay=0.5, max_attempts=3),
    )
    start = time.monotonic() + 5.0
    engine = LocustEngine(
        LocustJob(
            (config,),
            LoadShape.of(build_schedule([Storm(5)], 3), 12.0 + 30),
            t0=time.time() + (start - time.monotonic()),
            seed=3,
        ),
        listeners=5,
        workers=1,
        local_workers=1,
        bind=None,
        logs=tmp_path,
        start_at=start,
        duration=12.0,  # the policy bounds the attempts; a busy machine may start users late
    )
    await engine.run()
    stats = engine.stats()
    assert stats.join_attempts == 20 and stats.reconnects == 15, stats
    assert stats.failures == {"refused": 20} and stats.joins_ok == 0


STORM = """
title: Storm on Locust
seed: 42
stack: soundstage
baseline: 4s
recovery: 6s
workload:
  speakers: 1
  listeners:
    - {arrival: storm, count: 20, at: 0s, spread: 1s}
faults:
  - {name: slow-edge, at: 3s, for: 8s, link: listener->edge, latency: 50ms}
slos:
  - {name: launch-delay, p95: gameday_listener_time_to_first_audio_seconds, below: 3s}
  - {name: join-success, above: 99%,
     ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total}
"""


def _locust_workers(parent: int) -> list[int]:
    """Pids of the Locust workers a `gameday run` process started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"--worker" in cmdline:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_a_worker_that_dies_mid_run_makes_the_verdict_infrastructure(tmp_path: Path) -> None:
    experiment = tmp_path / "storm.yaml"
    experiment.write_text(STORM)
    run_dir = tmp_path / "run"
    proc = popen_gameday(
        "run", experiment, "--load-engine", "locust", "--locust-workers", "2", "--out", run_dir
    )
    try:
        journal = run_dir / "journal.jsonl"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and '"phase":"method"' not in _text(journal):
            assert proc.poll() is None, proc.communicate()[0]
            time.sleep(0.2)
        time.sleep(2.0)  # the storm has joined
        workers = _locust_workers(proc.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        out, _ = proc.communicate(timeout=100)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, out
    assert "verdict: infrastructure" in out
    # Whichever notices first names the lost worker: the master's heartbeat or its process's
    # exit (on a loaded machine the heartbeat's three missed beats can come second).
    detected = ("went missing (no heartbeat)", "Locust worker process locust-worker-")
    assert any(words in out for words in detected), out
    history = read_journal(journal)
    verdict = next(history.of_kind("verdict"))
    assert verdict["verdict"] == "infrastructure" and verdict["exit_code"] == 3
    # the lost worker is named; a starved machine may also have had its stack's scrapes time out
    assert "load" in {f["part"] for f in verdict["infrastructure"]}
    assert "the load is incomplete" in verdict["message"]
    lost = [e["what"] for e in history.of_kind("workload.lost")]
    assert any(any(words in what for words in detected) for what in lost), lost
    assert not _locust_workers(proc.pid)  # the other worker and the master were stopped


def _text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
