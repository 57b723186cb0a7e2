"""The swarm end to end against a scripted loopback stream server: stalls, drops, reconnects."""

from __future__ import annotations

import asyncio
import resource
import socket
import time
from collections.abc import AsyncIterator

import pytest
from gap_stream import RATE, TICK, gap_stream_server

from chaos.errors import InfrastructureError, InvalidInput
from chaos.workload.arrivals import Paced, Storm, build_schedule
from chaos.workload.limits import raise_fd_limit
from chaos.workload.reconnect import ReconnectPolicy, RetryKind
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, Swarm, mixed


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async with gap_stream_server() as url:
        yield url


@pytest.mark.timeout(60)
async def test_a_delivery_gap_is_a_stall_heard_by_every_listener(server: str) -> None:
    config = ListenerConfig(f"{server}/gap", bitrate=RATE * 8, target_delay=0.3)
    swarm = Swarm(build_schedule([Storm(3)], 1), config, seed=1, duration=4.0, workers=2)
    result = await swarm.run()
    assert result.workers == 2
    assert result.stats.joins_ok == 3
    assert result.stats.stalls == 3 and result.stats.freezes == 3
    # 1.5 s without data on a 0.3 s buffer, refilled at the real-time rate: ~1.5 s each
    assert 3 * 1.2 < result.stats.stall_seconds < 3 * 1.9
    assert len(result.summaries) == 3
    for summary in result.summaries:
        [attempt] = summary["attempts"]
        assert attempt["stalls"] == 1 and attempt["failure"] is None


@pytest.mark.timeout(60)
async def test_dropped_listeners_reconnect_after_every_drop(server: str) -> None:
    policy = ReconnectPolicy(RetryKind.FIXED, delay=0.2, max_attempts=2)
    config = ListenerConfig(f"{server}/drop", bitrate=RATE * 8, target_delay=0.2, reconnect=policy)
    snapshots = []
    swarm = Swarm(
        build_schedule([Storm(2)], 1),
        config,
        seed=1,
        duration=5.0,
        workers=1,
        snapshot_interval=0.5,
        on_snapshot=snapshots.append,
    )
    result = await swarm.run()
    stats = result.stats
    # Each join plays 1 s and is dropped; a join that played resets the attempt count, so
    # max_attempts never stops them: ~1.2 s cycles in 5 s.
    assert stats.join_attempts >= 2 * 3
    assert stats.drops["closed"] == stats.reconnects
    # every attempt after each first is a reconnect, but the run's end may overtake the last
    assert stats.join_attempts - 2 <= stats.reconnects <= stats.join_attempts
    assert stats.joins_ok >= stats.join_attempts - 2  # the run's end may cut each last one short
    assert sum(len(s["attempts"]) for s in result.summaries) == stats.join_attempts
    assert any(s.connected == 2 for s in snapshots)  # live gauges while streaming


@pytest.mark.timeout(60)
async def test_crowds_share_every_worker_and_count_apart(server: str) -> None:
    """Two crowds in one swarm: one plays the gap stream, one dials a closed port. Every worker
    carries listeners of both; each listener dials its own crowd's address, and each crowd's
    totals, ears and attempts are its own."""
    playing = ListenerConfig(f"{server}/gap", bitrate=RATE * 8, target_delay=0.3, edge="a")
    refused = ListenerConfig("http://127.0.0.1:9/none", bitrate=RATE * 8, edge="b", ears=1)
    schedule, crowds = mixed(
        [(build_schedule([Storm(4)], 1), playing), (build_schedule([Storm(3)], 2), refused)]
    )
    assert crowds.of == (0, 0, 0, 0, 1, 1, 1)
    swarm = Swarm(schedule, crowds, seed=1, duration=4.0, workers=2, attempts=True)
    jobs = swarm.jobs()
    assert len(jobs) == 2
    for job in jobs:
        assert {crowds.of[i] for i, _ in job.listeners} == {0, 1}
    assert sorted(i for job in jobs for i, _ in job.listeners) == list(range(7))
    (ears,) = {job.ears for job in jobs}
    assert [crowds.of[i] for i in sorted(ears)] == [0, 0, 0, 0, 1]  # 4 (the default) and 1
    result = await swarm.run()
    assert result.workers == 2
    good, bad = swarm.crowd_stats()
    assert good.join_attempts == 4 and good.joins_ok == 4 and not good.failures
    assert good.stalls == 4
    assert bad.join_attempts == 3 and bad.joins_ok == 0 and bad.failures["refused"] == 3
    assert set(good.ears) == {"a"} and set(bad.ears) <= {"b"}
    assert result.stats.join_attempts == 7 and result.stats.joins_ok == 4
    heard = {crowds.of[a[0]]: 0 for a in result.attempts}
    for attempt in result.attempts:
        heard[crowds.of[attempt[0]]] += attempt[4]  # joins_ok
    assert heard == {0: 4, 1: 0}


def test_mixed_crowds_keep_their_own_paced_gates() -> None:
    """Each crowd's gates are renumbered, never shared: a faulted crowd's slow joins cannot hold
    another crowd's slots."""
    config = ListenerConfig("http://127.0.0.1:9/x")
    first = build_schedule([Paced(4, max_in_flight=2)], 1)
    second = build_schedule([Paced(3, max_in_flight=1), Storm(2)], 1)
    schedule, crowds = mixed([(first, config), (second, config)])
    assert schedule.gates == (2, 1)
    assert [j.gate for j in schedule.joins] == [0] * 4 + [1] * 3 + [None] * 2
    with pytest.raises(ValueError, match="crowd labels"):
        Swarm(first, crowds, seed=1, duration=1.0)


async def test_failed_joins_retry_until_max_attempts() -> None:
    policy = ReconnectPolicy(RetryKind.FIXED, delay=0.1, max_attempts=2)
    config = ListenerConfig("http://127.0.0.1:9/none", bitrate=64_000, reconnect=policy)
    schedule = build_schedule([Storm(2)], 1)  # port 9 (discard) is closed here
    result = await Swarm(schedule, config, seed=1, duration=2.0, workers=1).run()
    assert result.stats.failures["refused"] == 2 * 3  # first try + 2 retries each
    assert result.stats.reconnects == 4
    assert result.stats.joins_ok == 0


def test_bad_swarm_input_is_refused_before_anything_starts() -> None:
    schedule = build_schedule([Storm(1)], 1)
    with pytest.raises(InvalidInput, match="http://host"):
        Swarm(schedule, ListenerConfig("rtmp://x/y"), seed=1, duration=1.0)
    with pytest.raises(InvalidInput, match="duration"):
        Swarm(schedule, ListenerConfig("http://127.0.0.1/x"), seed=1, duration=0)


def test_fd_limit_is_raised_to_the_hard_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 50_000))
    monkeypatch.setattr(resource, "setrlimit", lambda _, limits: calls.append(limits))
    assert raise_fd_limit(10_000) == 50_000
    assert calls == [(50_000, 50_000)]


def test_a_too_low_hard_fd_limit_stops_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda _: (1024, 4096))
    monkeypatch.setattr(resource, "setrlimit", lambda *_: None)
    with pytest.raises(InfrastructureError, match="hard limit is 4096") as caught:
        raise_fd_limit(10_000)
    assert caught.value.fix is not None and "ulimit -Hn" in caught.value.fix


class FlappingMount:
    """A stream that can go away: while ``mode`` is not "up", joins get that error at once."""

    def __init__(self) -> None:
        self.mode = "up"
        self.writers: set[asyncio.StreamWriter] = set()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "404":
                writer.write(b"HTTP/1.0 404 Not Found\r\n\r\n")
                return
            if self.mode == "503":
                writer.write(b"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n")
                return
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
            self.writers.add(writer)
            while self.mode == "up":
                writer.write(b"\0" * int(RATE * TICK))
                await writer.drain()
                await asyncio.sleep(TICK)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


async def _outage(mode: str, policy: ReconnectPolicy) -> tuple[int, int]:
    """(join attempts during a 1.5 s outage, listeners playing again after it) for 10 listeners."""
    mount = FlappingMount()
    server = await asyncio.start_server(mount.serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/live"
    snapshots: list[ListenerStats] = []
    config = ListenerConfig(url, bitrate=RATE * 8, target_delay=0.2, reconnect=policy)
    swarm = Swarm(
        build_schedule([Storm(10)], 3),
        config,
        seed=3,
        duration=5.0,
        workers=1,
        snapshot_interval=0.25,
        on_snapshot=snapshots.append,
    )
    async with server:
        run = asyncio.create_task(swarm.run())
        while not snapshots or snapshots[-1].joins_ok < 10:
            await asyncio.sleep(0.05)
        before = snapshots[-1].join_attempts
        mount.mode = mode  # the mount goes away and every listener is dropped at once
        await asyncio.sleep(1.5)
        during = snapshots[-1].join_attempts - before
        mount.mode = "up"
        result = await run
    return during, result.stats.joins_ok - 10


@pytest.mark.timeout(90)
async def test_a_reconnect_storm_and_its_cures() -> None:
    immediate = ReconnectPolicy(RetryKind.IMMEDIATE)
    backoff = ReconnectPolicy(RetryKind.BACKOFF, delay=0.5, cap=2.0, jitter=1.0)
    storm, storm_back = await _outage("404", immediate)
    jittered, jittered_back = await _outage("404", backoff)
    told, told_back = await _outage("503", immediate)  # Retry-After: 1 caps even eager clients
    assert storm > 200  # ten clients hammering the missing mount
    assert jittered <= 10 * 5 and storm > 10 * jittered
    assert told <= 10 * 3
    assert storm_back == jittered_back == told_back == 10  # everyone got back in


@pytest.mark.timeout(60)
async def test_swarms_given_one_start_share_their_t0(server: str) -> None:
    """As a run does it: the swarms' workers are made ready first (seconds on a loaded machine),
    then one T0 is fixed for all of them, and each listener keeps it."""
    config = ListenerConfig(f"{server}/gap", bitrate=RATE * 8, target_delay=0.3)
    swarms = [
        Swarm(build_schedule([Storm(1)], n), config, seed=n, duration=1.0, workers=1)
        for n in (1, 2)
    ]
    await asyncio.gather(*(s.ready() for s in swarms))
    start = time.monotonic() + 0.5
    for swarm in swarms:
        swarm.start_at = start
    results = await asyncio.gather(*(s.run() for s in swarms))
    assert [r.started_at for r in results] == [start, start]
    for result in results:
        [summary] = result.summaries
        assert summary["attempts"][0]["requested_at"] == pytest.approx(0.0, abs=0.1)


@pytest.mark.timeout(60)
async def test_joins_that_hang_fail_after_the_join_timeout_saying_where() -> None:
    mute = socket.socket()  # accepts nothing: one handshake fills its queue, later SYNs drop
    mute.bind(("127.0.0.1", 0))
    mute.listen(0)
    url = f"http://127.0.0.1:{mute.getsockname()[1]}/live"
    config = ListenerConfig(url, bitrate=64_000, join_timeout=1.0)
    swarm = Swarm(
        build_schedule([Storm(5)], 1), config, seed=1, duration=3.0, snapshot_interval=0.25
    )
    try:
        result = await swarm.run()
    finally:
        mute.close()
    failures = result.stats.failures
    assert sum(failures.values()) == 5
    assert failures["timeout"] >= 1  # connected (queued) but never answered
    assert failures["connect_timeout"] >= 1  # the handshake itself never completed
