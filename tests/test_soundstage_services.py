"""soundstage's api and edge behaviours, in-process on loopback (fast, no subprocesses)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import httpx
import numpy as np
import pytest

from soundstage import codec, service
from soundstage.api import Api, ApiConfig
from soundstage.edge import Edge, EdgeConfig
from soundstage.frames import Frame, PayloadType
from soundstage.listener import listen
from soundstage.origin import Origin, OriginConfig


@pytest.fixture
async def edge() -> AsyncIterator[Edge]:
    instance = Edge(EdgeConfig(origin=("127.0.0.1", 9), capacity=2), service.new_registry())
    await instance.start()
    yield instance
    await instance.stop()


async def _api(edge_ports: list[int], links: list[str] | None = None, **options: float) -> Api:
    edges = [f"127.0.0.1:{p}" for p in edge_ports]
    config = ApiConfig(edges=edges, edge_links=links or edges, poll_interval_s=0.05)
    for name, value in options.items():
        setattr(config, name, value)
    api = Api(config, service.new_registry())
    await api.start()
    return api


async def _live_room(client: httpx.AsyncClient, base: str) -> int:
    created = await client.post(f"{base}/rooms", json={"name": "main"})
    room = int(created.json()["id"])
    await client.post(f"{base}/rooms/{room}/live")
    return room


async def test_room_lifecycle_and_the_join_steps(edge: Edge) -> None:
    api = await _api([edge.port], links=["127.0.0.1:1999"])
    base = f"http://127.0.0.1:{api.port}"
    try:
        async with httpx.AsyncClient() as client:
            first = await client.post(f"{base}/rooms", json={"name": "main"})
            again = await client.post(f"{base}/rooms", json={"name": "main"})
            assert (first.status_code, again.status_code) == (201, 200)
            assert first.json()["id"] == again.json()["id"] == 1
            assert (await client.post(f"{base}/rooms", json={})).status_code == 400
            assert (await client.post(f"{base}/rooms", content=b"{nope")).status_code == 400
            assert (await client.get(f"{base}/rooms/7")).status_code == 404
            early = await client.post(f"{base}/rooms/1/join")
            assert early.status_code == 409 and early.json()["reason"] == "not_live"
            live = await client.post(f"{base}/rooms/1/live")
            assert live.json()["state"] == "live" and live.json()["go_live_at"] > 0
            status = (await client.get(f"{base}/rooms/1/stream")).json()
            assert status["live"] is True
            await asyncio.sleep(0.1)  # one edge poll
            joined = (await client.post(f"{base}/rooms/1/join")).json()
            # The stream URL points at the edge's *link* (a proxy), not its own address.
            assert joined["stream_url"].startswith("http://127.0.0.1:1999/stream/1?listener=")
            leave = f"{base}/rooms/1/leave"
            assert (await client.post(leave, json=joined)).status_code == 204
            assert (await client.post(leave, json=joined)).status_code == 404
            assert (await client.post(f"{base}/rooms/1/end")).json()["state"] == "ended"
            assert (await client.post(f"{base}/rooms/1/live")).status_code == 409
            metrics = (await client.get(f"{base}/metrics")).text
        assert 'soundstage_api_room_state{room="1",state="ended"} 1.0' in metrics
        assert "soundstage_api_room_go_live_timestamp_seconds" in metrics
        assert 'soundstage_api_join_failures_total{reason="not_live"} 1.0' in metrics
        assert "process_cpu_seconds_total" in metrics
    finally:
        await api.stop()


async def test_join_rate_limit_answers_503_with_retry_after(edge: Edge) -> None:
    api = await _api([edge.port], max_joins_per_second=1, join_burst=1)
    base = f"http://127.0.0.1:{api.port}"
    try:
        async with httpx.AsyncClient() as client:
            room = await _live_room(client, base)
            await asyncio.sleep(0.1)
            ok = await client.post(f"{base}/rooms/{room}/join")
            limited = await client.post(f"{base}/rooms/{room}/join")
        assert ok.status_code == 200
        assert limited.status_code == 503 and limited.headers["Retry-After"] == "1"
        assert limited.json()["reason"] == "rate_limited"
    finally:
        await api.stop()


async def test_join_queue_full_is_overloaded_not_a_crash(edge: Edge) -> None:
    api = await _api([edge.port], join_work_s=0.3, max_inflight_joins=1, join_queue=1)
    base = f"http://127.0.0.1:{api.port}"
    try:
        async with httpx.AsyncClient() as client:
            room = await _live_room(client, base)
            answers = await asyncio.gather(
                *(client.post(f"{base}/rooms/{room}/join") for _ in range(5))
            )
            reasons = sorted(a.json().get("reason", "ok") for a in answers)
            assert reasons.count("overloaded") >= 2 and "ok" in reasons
            assert (await client.get(f"{base}/healthz")).status_code == 200
    finally:
        await api.stop()


async def test_edges_full_or_down_refuse_joins_for_capacity(edge: Edge) -> None:
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there
    api = await _api([edge.port, dead_port], edge_capacity=2)
    base = f"http://127.0.0.1:{api.port}"
    try:
        async with httpx.AsyncClient() as client:
            room = await _live_room(client, base)
            await asyncio.sleep(0.15)
            answers = [await client.post(f"{base}/rooms/{room}/join") for _ in range(3)]
            metrics = (await client.get(f"{base}/metrics")).text
        assert [a.status_code for a in answers] == [200, 200, 503]
        assert all(f":{edge.port}/" in a.json()["stream_url"] for a in answers[:2])
        assert answers[2].json()["reason"] == "capacity"
        assert f'soundstage_api_edge_up{{edge="127.0.0.1:{dead_port}"}} 0.0' in metrics
    finally:
        await api.stop()


async def test_the_api_is_ready_after_its_first_poll_and_a_late_edge_goes_down_only_when_late_again(
    edge: Edge,
) -> None:
    """An edge that accepts but never answers: the api says 503 until its first round of polls
    ends, then keeps the edge up through one late poll and takes it down after three."""
    silent = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    silent_port = silent.sockets[0].getsockname()[1]
    api = await _api([edge.port, silent_port], poll_timeout_s=2.0)
    base = f"http://127.0.0.1:{api.port}"
    up = f'soundstage_api_edge_up{{edge="127.0.0.1:{silent_port}"}}'
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            first = await client.get(f"{base}/healthz")
            assert first.status_code == 503 and first.json()["status"].startswith("starting")
            seen: list[str] = []
            deadline = time.monotonic() + 60
            while not seen or seen[-1] != "0.0":
                assert time.monotonic() < deadline, seen
                metrics = (await client.get(f"{base}/metrics")).text
                seen += [line.split()[-1] for line in metrics.splitlines() if line.startswith(up)]
                await asyncio.sleep(0.1)
            assert seen[0] == "1.0", "one late poll leaves the edge up"
            assert (await client.get(f"{base}/healthz")).status_code == 200
    finally:
        await api.stop()
        silent.close()


def test_api_refuses_mismatched_edge_links() -> None:
    with pytest.raises(ValueError, match="one link per edge"):
        Api(ApiConfig(edges=["127.0.0.1:1"], edge_links=[]), service.new_registry())


async def test_edge_answers_health_load_metrics_and_refuses_when_full(edge: Edge) -> None:
    base = f"http://127.0.0.1:{edge.port}"
    stop = asyncio.Event()
    streams = [asyncio.create_task(listen(f"{base}/stream/1", stop=stop)) for _ in range(2)]
    async with httpx.AsyncClient() as client:
        while edge.listeners < 2:
            await asyncio.sleep(0.01)
        full = await client.get(f"{base}/stream/1")
        assert full.status_code == 503 and full.headers["retry-after"] == "1"
        assert (await client.get(f"{base}/load")).json() == {"listeners": 2, "capacity": 2}
        health = (await client.get(f"{base}/healthz")).json()
        assert health["status"] == "ok" and health["origin_connected"] is False
        assert (await client.get(f"{base}/stream/abc")).status_code == 404
        assert (await client.get(f"{base}/nope")).status_code == 404
        assert (await client.post(f"{base}/stream/1")).status_code == 405
        metrics = (await client.get(f"{base}/metrics")).text
    stop.set()
    await asyncio.gather(*streams)
    assert "soundstage_edge_listeners 2.0" in metrics
    assert 'soundstage_edge_listener_refusals_total{reason="capacity"} 1.0' in metrics
    while edge.listeners:
        await asyncio.sleep(0.01)


def _big_frame(seq: int) -> Frame:
    payload = codec.encode(PayloadType.L16_16K, np.zeros(codec.SAMPLES_PER_FRAME, np.int16))
    return Frame(1, 0, seq, time.time_ns() // 1000, PayloadType.L16_16K, payload)


async def _flood_with_a_stuck_listener(policy: str) -> tuple[Edge, int, int]:
    """A healthy listener and one that never reads; returns (edge, healthy lost, frames)."""
    config = EdgeConfig(origin=("127.0.0.1", 9), queue_frames=25, slow_policy=policy)
    edge = Edge(config, service.new_registry())
    await edge.start()
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck.connect(("127.0.0.1", edge.port))
    stuck.sendall(b"GET /stream/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    stop = asyncio.Event()
    healthy = asyncio.create_task(listen(f"http://127.0.0.1:{edge.port}/stream/1", stop=stop))
    while edge.listeners < 2:
        await asyncio.sleep(0.01)
    frames = 3000
    for seq in range(frames):  # ~2 MB: far beyond the stuck socket's buffers
        edge.deliver(_big_frame(seq))
        if seq % 5 == 0:
            await asyncio.sleep(0.001)  # the healthy listener reads between frames
    await asyncio.sleep(0.2)
    stop.set()
    result = await healthy
    stuck.close()
    await edge.stop()
    assert result.watch is not None
    return edge, result.watch.lost, result.watch.frames


@pytest.mark.timeout(60)
async def test_slow_listener_drop_policy_skips_frames_for_it_only() -> None:
    edge, healthy_lost, healthy_frames = await _flood_with_a_stuck_listener("drop")
    assert edge.stats.dropped_slow > 1000
    assert healthy_lost == 0 and healthy_frames == 3000
    assert edge.stats.slow_disconnects == 0


@pytest.mark.timeout(60)
async def test_slow_listener_disconnect_policy_closes_it() -> None:
    edge, healthy_lost, healthy_frames = await _flood_with_a_stuck_listener("disconnect")
    assert edge.stats.slow_disconnects == 1 and edge.stats.dropped_slow == 0
    assert healthy_lost == 0 and healthy_frames == 3000


async def test_origin_counts_invalid_datagrams_and_mixes_valid_ones() -> None:
    origin = Origin(OriginConfig(prebuffer_frames=1), service.new_registry())
    await origin.start()
    try:
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender.sendto(b"not a frame", ("127.0.0.1", origin.ingest_port))
        sender.sendto(_big_frame(0).encode(), ("127.0.0.1", origin.ingest_port))
        sender.close()
        while origin.stats.datagrams < 2:
            await asyncio.sleep(0.01)
        origin.tick(time.time_ns() // 1000)
        totals, _ = origin.jitter_totals()
        assert origin.stats.invalid == 1 and totals.played == 1
        assert origin.stats.mix_frames == 1
    finally:
        await origin.stop()


async def test_edge_batches_frames_per_write_when_asked() -> None:
    config = EdgeConfig(origin=("127.0.0.1", 9), flush_frames=5)
    edge = Edge(config, service.new_registry())
    await edge.start()
    stop = asyncio.Event()
    stream = asyncio.create_task(listen(f"http://127.0.0.1:{edge.port}/stream/1", stop=stop))
    try:
        while edge.listeners < 1:
            await asyncio.sleep(0.01)
        for seq in range(4):
            edge.deliver(_big_frame(seq))
        assert edge.stats.frames_out == 0  # held until the batch is full
        for seq in range(4, 9):
            edge.deliver(_big_frame(seq))
        assert edge.stats.frames_out == 5
        await asyncio.sleep(0.1)
    finally:
        stop.set()
        result = await stream
        await edge.stop()
    assert result.watch is not None and result.watch.frames == 5 and result.watch.lost == 0


async def test_edge_closes_connections_that_never_send_a_request() -> None:
    config = EdgeConfig(origin=("127.0.0.1", 9), header_timeout_s=0.2)
    edge = Edge(config, service.new_registry())
    await edge.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", edge.port)
        writer.write(b"GET /stream/1 HTTP/1.1\r\n")  # ... and never the rest
        started = time.monotonic()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert 0.15 < time.monotonic() - started < 2
        assert edge.stats.refusals["header_timeout"] == 1
        writer.close()
        # A prompt client is not affected by the timer.
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{edge.port}/healthz")).status_code == 200
        await asyncio.sleep(0.3)
        assert edge.stats.refusals["header_timeout"] == 1
    finally:
        await edge.stop()
