"""The failure modes soundstage must show for real, each reproduced against real processes."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from soundstage_support import Audience, live_room, running, scrape, soundstage_spec

from chaos.experiment.stack import StackSpec
from soundstage import codec
from soundstage.frames import Flags, Frame
from soundstage.listener import join, listen

pytestmark = pytest.mark.slow


@pytest.mark.timeout(90)
async def test_join_storm_refuses_and_tails_while_listeners_in_keep_hearing(
    tmp_path: Path,
) -> None:
    spec = soundstage_spec(
        {
            "api": [
                "--max-joins-per-second", "60", "--join-burst", "30",
                "--join-work", "0.04", "--max-inflight-joins", "4", "--join-queue", "30",
            ]
        },
        replicas={"edge": 1},
    )  # fmt: skip
    async with running(spec, tmp_path) as (_backend, stack):
        api = stack.addresses["api"]["http"]
        room = await live_room(api)
        audience = Audience()
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await audience.add(session, api, room, 5)
            await asyncio.sleep(1.0)

            async def one_join() -> tuple[int, float, str | None]:
                started = time.monotonic()
                async with session.post(f"http://{api}/rooms/{room}/join") as response:
                    await response.read()
                    return (
                        response.status,
                        time.monotonic() - started,
                        response.headers.get("Retry-After"),
                    )

            storm = await asyncio.gather(*(one_join() for _ in range(300)))
            await asyncio.sleep(1.0)
        results = await audience.finish()
        metrics = await scrape(stack.metrics["api"])

    admitted = [latency for status, latency, _ in storm if status == 200]
    refused = [(latency, retry) for status, latency, retry in storm if status == 503]
    assert len(admitted) + len(refused) == 300
    assert len(refused) >= 60, "a storm beyond admission capacity must be refused"
    assert all(retry is not None and int(retry) >= 1 for _, retry in refused)
    # ~30 admitted joins queue behind 4 workers x 40 ms: the last waits >= 0.25 s more than the
    # first (a spread that only grows on a busier machine).
    assert max(admitted) - min(admitted) >= 0.25
    failures = {
        k: v for k, v in metrics.items() if k.startswith("soundstage_api_join_failures_total")
    }
    assert sum(failures.values()) == len(refused)
    assert metrics['soundstage_api_join_duration_seconds_count{outcome="refused"}'] == len(refused)
    # Listeners who were already in heard the whole storm without a lost frame or a stall.
    for result in results:
        assert result.error is None and result.watch is not None
        assert result.watch.frames >= 80
        assert result.time_to_first_frame is not None and result.time_to_first_frame < 2.0
        assert result.watch.lost == 0
        # The edge flushes every 100 ms; on 2 shared cores a storm (and the suite's other
        # workers) can delay a flush by over a second (1.25 s seen in CI). A listener held up
        # behind the storm would wait out its whole queue: seconds more.
        assert result.watch.max_gap_s < 2.5


@pytest.mark.timeout(90)
async def test_cpu_saturation_drops_frames_counted_and_stalls_listeners(tmp_path: Path) -> None:
    # 8 ms of CPU per listener per frame: 30 listeners need 240 ms every 20 ms, 12 cores.
    spec = soundstage_spec(
        {"edge": ["--work-per-listener-us", "8000", "--max-lag", "0.3"]}, replicas={"edge": 1}
    )
    async with running(spec, tmp_path) as (_backend, stack):
        api = stack.addresses["api"]["http"]
        room = await live_room(api)
        audience = Audience()
        async with aiohttp.ClientSession() as session:
            await audience.add(session, api, room, 30)
            await asyncio.sleep(4.0)
        results = await audience.finish()
        edge = await scrape(stack.metrics["edge"])

    assert edge['soundstage_edge_frames_dropped_total{reason="stale"}'] > 0
    watches = [r.watch for r in results if r.watch is not None]
    assert sum(w.lost for w in watches) > 0, "listeners must see the dropped frames as gaps"
    assert sum(w.stalls for w in watches) > 0
    # The edge fell behind live: frames reached it later than the 0.3 s it tolerates.
    late = (
        edge["soundstage_edge_frame_delay_seconds_count"]
        - edge['soundstage_edge_frame_delay_seconds_bucket{le="0.2"}']
    )
    assert late > 0


def _origin_only(spec: StackSpec) -> StackSpec:
    return spec.model_copy(
        update={"components": {"origin": spec.components["origin"]}, "links": {}}
    )


@pytest.mark.timeout(90)
async def test_origin_crash_is_a_gap_not_a_hang_and_edges_reconnect(tmp_path: Path) -> None:
    spec = soundstage_spec({"edge": ["--reconnect-max", "0.5"]}, replicas={"edge": 2})
    async with running(spec, tmp_path) as (backend, stack):
        api = stack.addresses["api"]["http"]
        room = await live_room(api)
        arrivals: list[tuple[float, Frame]] = []
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as session:
            streams = []
            for index in range(4):
                joined = await join(session, api, room)
                record = (lambda f, at: arrivals.append((at, f))) if index == 0 else None
                streams.append(
                    asyncio.create_task(listen(joined.stream_url, stop=stop, on_frame=record))
                )
            await asyncio.sleep(1.0)
            backend.send_signal("origin", signal.SIGKILL)
            crashed_at = time.monotonic()
            await asyncio.sleep(1.0)
            await backend.restart("origin")
            await asyncio.sleep(1.5)
            stop.set()
            results = await asyncio.gather(*streams)
        edges = [await scrape(stack.metrics[f"edge-{n}"]) for n in (1, 2)]

    for result in results:
        assert result.error is None, "the listener's stream must survive the origin's crash"
        assert result.watch is not None and result.watch.frames > 50
        assert 1.0 <= result.watch.max_gap_s < 8.0  # the outage, plus restart and redial
    resumed = [f for at, f in arrivals if at > crashed_at + 1.0]
    assert resumed and resumed[0].flags & Flags.DISCONTINUITY, "the new mix says it restarted"
    for metrics in edges:
        assert metrics["soundstage_edge_origin_reconnects_total"] >= 1
        assert metrics["soundstage_edge_origin_connected"] == 1


@pytest.mark.timeout(90)
async def test_edges_returning_at_once_make_a_reconnect_storm_at_the_origin(
    tmp_path: Path,
) -> None:
    from soundstage.edge import Edge, EdgeConfig
    from soundstage.service import new_registry, parse_address

    spec = _origin_only(soundstage_spec())
    async with running(spec, tmp_path) as (backend, stack):
        origin = parse_address(stack.addresses["origin"]["fanout"])
        stop = asyncio.Event()
        edges = [
            Edge(EdgeConfig(origin=origin, reconnect_max_s=1.0), new_registry()) for _ in range(24)
        ]
        for edge in edges:
            await edge.start()
        links = [asyncio.create_task(e.run_origin_link(stop)) for e in edges]
        try:
            while not all(e.origin_connected for e in edges):
                await asyncio.sleep(0.02)
            backend.send_signal("origin", signal.SIGKILL)
            while any(e.origin_connected for e in edges):
                await asyncio.sleep(0.01)
            await asyncio.sleep(1.5)  # the edges back off while the origin is down
            await backend.restart("origin")
            back_at = time.monotonic()
            reconnected: dict[int, float] = {}
            while len(reconnected) < len(edges) and time.monotonic() - back_at < 5:
                for index, edge in enumerate(edges):
                    if edge.origin_connected and index not in reconnected:
                        reconnected[index] = time.monotonic() - back_at
                await asyncio.sleep(0.005)
            metrics = await scrape(stack.metrics["origin"])
        finally:
            stop.set()
            await asyncio.gather(*links)
            for edge in edges:
                await edge.stop()

    assert len(reconnected) == 24
    # All 24 came back within the backoff cap: a storm, seen in the origin's own counters...
    assert max(reconnected.values()) < 2.5
    assert metrics["soundstage_origin_edge_connections_total"] == 24
    assert metrics["soundstage_origin_edges"] == 24
    # ... spread by full jitter rather than all in the same instant.
    assert max(reconnected.values()) - min(reconnected.values()) > 0.05
    # Every edge saw its link break; on a loaded machine a few may redial only after the origin
    # is back (no failed dial) or see one extra break, so the dial failures are counted overall.
    assert all(e.stats.origin_breaks >= 1 for e in edges)
    assert sum(e.stats.origin_failures >= 1 for e in edges) >= 20


def _levels(frames: list[Frame], window: int = 25) -> list[float]:
    """RMS level (dBFS) of consecutive windows of ``window`` frames (0.5 s)."""
    audio = [codec.decode(f.payload_type, f.payload) for f in frames]
    return [
        codec.level_dbfs(np.concatenate(audio[i : i + window]))
        for i in range(0, len(audio) - window + 1, window)
    ]


@pytest.mark.timeout(90)
async def test_echo_path_with_gain_above_one_grows_into_feedback(tmp_path: Path) -> None:
    base = soundstage_spec({"speaker": ["--echo-gain", "0.3", "--echo-delay-ms", "100"]})
    speaker = base.components["speaker"]
    howler = speaker.model_copy(
        update={
            "command": [
                *(speaker.command or []), "--room-name", "howl",
                "--echo-gain", "1.5", "--echo-delay-ms", "100",
            ]
        }
    )  # fmt: skip
    spec = base.model_copy(update={"components": {**base.components, "howler": howler}})
    async with running(spec, tmp_path) as (_backend, stack):
        api = stack.addresses["api"]["http"]
        rooms = {"main": await live_room(api, "main"), "howl": await live_room(api, "howl")}
        heard: dict[str, list[Frame]] = {name: [] for name in rooms}
        stop = asyncio.Event()
        async with aiohttp.ClientSession() as session:
            tasks = []
            for name, room in rooms.items():
                joined = await join(session, api, room)
                tasks.append(
                    asyncio.create_task(
                        listen(
                            joined.stream_url,
                            stop=stop,
                            on_frame=lambda f, _at, n=name: heard[n].append(f),
                        )
                    )
                )
            await asyncio.sleep(5.0)
            stop.set()
            await asyncio.gather(*tasks)

    clean, howl = (_levels(heard[n]) for n in ("main", "howl"))
    clean_clipped = sum(bool(f.flags & Flags.CLIPPED) for f in heard["main"])
    howl_clipped = sum(bool(f.flags & Flags.CLIPPED) for f in heard["howl"])
    # Loop gain 1.5: each trip round the loop is louder; the mix climbs towards full scale and
    # stays there, far above the clean room (a busy machine may join us after the climb).
    assert max(howl[-4:]) - max(clean) > 10, (howl, clean)
    assert min(howl[-4:]) >= min(howl[:2]) - 1, howl
    assert max(howl) > -6, howl
    assert howl_clipped > 0
    # Loop gain 0.3: the echo decays; the room stays at speech level and never clips.
    assert max(clean) < -10, clean
    assert clean_clipped == 0
