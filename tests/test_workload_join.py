"""Listeners who call a join API first: the answer's verdict (a property), and a swarm joining
through the spaces control plane (`python -m spaces.api`, a real process) to two loopback
stream servers: admission limits refuse with the API's own status and Retry-After, listeners
play only the edge they were named, and nothing is dialled outside the edges given."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.http import Target
from chaos.workload.join import Admitted, Refused, join_request, judge_answer
from chaos.workload.reconnect import ReconnectPolicy, RetryKind
from chaos.workload.swarm import ListenerConfig, Swarm

RATE = 8000  # bytes/s: 64 kb/s
EDGES = frozenset({"http://127.0.0.1:8081", "http://127.0.0.1:8082"})
ROOT = Path(__file__).resolve().parent.parent


@given(st.integers(100, 599), st.binary(max_size=200), st.sampled_from([*sorted(EDGES), "x"]))
def test_only_a_200_naming_a_given_edge_admits(status: int, junk: bytes, edge: str) -> None:
    body = b'{"edge": "' + edge.encode() + b'"}' if junk[:1] != b"!" else junk
    verdict = judge_answer(status, {"retry-after": "3"}, body, EDGES)
    if isinstance(verdict, Admitted):
        assert status == 200 and verdict.edge in EDGES
    else:
        assert isinstance(verdict, Refused)
        if status != 200:
            assert (verdict.reason, verdict.retry_after) == (f"join_http_{status}", 3.0)
        else:
            assert verdict.reason in ("foreign_host", "join_invalid")


def test_the_request_names_the_listener_and_the_edge_to_avoid() -> None:
    raw = join_request(Target.parse("http://127.0.0.1:9000/join"), "7-3", "http://127.0.0.1:8081")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /join HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert body == b'{"listener": "7-3", "avoid": "http://127.0.0.1:8081"}'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Edge:
    """A loopback stream server that answers /healthz and streams zeros, counting streams."""

    def __init__(self) -> None:
        self.streams = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            if b" /healthz " in request:
                writer.write(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                return
            self.streams += 1
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            while True:
                writer.write(b"\0" * (RATE // 10))
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def edges() -> AsyncIterator[list[tuple[str, _Edge]]]:
    found = []
    servers = []
    for _ in range(2):
        edge = _Edge()
        server = await asyncio.start_server(edge.serve, "127.0.0.1", 0)
        servers.append(server)
        found.append((f"127.0.0.1:{server.sockets[0].getsockname()[1]}", edge))
    yield found
    for server in servers:
        server.close()


@pytest.fixture
def control_plane(edges: list[tuple[str, _Edge]]) -> Iterator[str]:
    """spaces.api admitting 3 listeners at once, sending them to the two edges."""
    port = _free_port()
    addresses = ",".join(a for a, _ in edges)
    process = subprocess.Popen(
        [sys.executable, "-m", "spaces.api", "--port", str(port), "--janus",
         f"http://127.0.0.1:{_free_port()}/janus", "--forward", "127.0.0.1:9",
         "--edges", addresses, "--max-listeners", "3"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _edges_up(api: str) -> None:
    """Until the control plane has seen both edges pass their health check."""
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://{api}/metrics") as r:
                    text = await r.text()
                if (
                    text.count("spaces_api_edge_up{") == 2
                    and "} 0.0" not in text.split("spaces_api_edge_up")[-1].split("# HELP")[0]
                ):
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    pytest.fail("the control plane never saw both edges up")


@pytest.mark.timeout(90)
async def test_a_swarm_joins_through_the_control_plane_and_its_admission_limit(
    control_plane: str, edges: list[tuple[str, _Edge]]
) -> None:
    await _edges_up(control_plane)
    announced = tuple(f"http://{a}" for a, _ in edges)
    policy = ReconnectPolicy(RetryKind.FIXED, delay=0.2, max_attempts=1)
    config = ListenerConfig(
        f"{announced[0]}/stream",
        bitrate=RATE * 8,
        target_delay=0.2,
        reconnect=policy,
        join_url=f"http://{control_plane}/join",
        announced=announced,
        edge_urls=tuple(f"{a}/stream" for a in announced),
        edge_names=("edge-a", "edge-b"),
        ears=5,
    )
    swarm = Swarm(build_schedule([Storm(5)], 1), config, seed=1, duration=4.0, workers=1)
    stats = (await swarm.run()).stats
    # every listener is an ear: those let in are labelled by the edge the API named
    assert {"edge-a", "edge-b"} <= set(stats.ears) <= {"", "edge-a", "edge-b"}
    # three admitted and playing, spread by the API over both edges; two refused as full,
    # each tried once more no sooner than the API's Retry-After (5 s: past the run's end)
    assert stats.joins_ok == 3
    assert Counter(stats.failures) == {"join_http_503": 2}
    assert sorted(edge.streams for _, edge in edges) == [1, 2]
    assert stats.reconnects == 2 and stats.join_attempts == 5


@pytest.mark.timeout(60)
async def test_an_edge_the_stack_did_not_declare_is_never_dialled(
    control_plane: str, edges: list[tuple[str, _Edge]]
) -> None:
    await _edges_up(control_plane)
    # the listener may play only the first edge: the API's answers naming the second are
    # refused as foreign, and no stream reaches it
    only = (f"http://{edges[0][0]}",)
    config = ListenerConfig(
        f"{only[0]}/stream",
        bitrate=RATE * 8,
        target_delay=0.2,
        reconnect=ReconnectPolicy(RetryKind.FIXED, delay=0.2, max_attempts=0),
        join_url=f"http://{control_plane}/join",
        announced=only,
        edge_urls=(f"{only[0]}/stream",),
    )
    swarm = Swarm(build_schedule([Storm(2)], 1), config, seed=1, duration=2.0, workers=1)
    stats = (await swarm.run()).stats
    assert stats.joins_ok + stats.failures["foreign_host"] == 2
    assert stats.failures["foreign_host"] >= 1  # least loaded: the second goes to edge 2
    assert edges[1][1].streams == 0
