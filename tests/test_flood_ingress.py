"""The flood ingress (a server-to-client flood through a proxy's own toxics) on real loopback
sockets: it fills a shared downstream capacity as listeners' streams do, and it goes away with
its proxy."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import suppress

import httpx
import pytest

from chaos.faults.client import (
    AsyncToxiproxyClient,
    SharedBandwidthAttributes,
    ToxiproxyClient,
    ToxiproxyError,
)
from chaos.faults.flood import Flood, FloodPlan
from chaos.faults.server.embedded import EmbeddedToxiproxy
from tests.toxiproxy_contract_support import Upstream, connect, echo, recv_exactly

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy("127.0.0.1", 0, seed=5) as srv:
        yield srv


def _stream_forever(conn: socket.socket) -> None:
    """An upstream that streams to its client as fast as it is read (a listener's edge)."""
    with suppress(OSError):
        while True:
            conn.sendall(b"\1" * 16384)


class Listener:
    """Reads a proxied stream as fast as it comes and counts the bytes."""

    def __init__(self, address: str) -> None:
        self.received = 0
        self.lock = threading.Lock()
        self.conn = connect(address, timeout=10)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with suppress(OSError):
            while data := self.conn.recv(65536):
                with self.lock:
                    self.received += len(data)

    def snapshot(self) -> int:
        with self.lock:
            return self.received


async def test_a_pulled_flood_takes_fair_shares_of_a_shared_downstream_capacity(
    server: EmbeddedToxiproxy,
) -> None:
    upstream = Upstream(_stream_forever)
    try:
        async with AsyncToxiproxyClient(server.url) as api:
            await api.create_proxy("edge", upstream.address)
            await api.add_toxic("edge", SharedBandwidthAttributes(rate=1250), stream="downstream")
            ingress = await api.flood_ingress("edge")
            assert ingress != (await api.get_proxy("edge")).listen
            assert await api.flood_ingress("edge") == ingress  # one ingress per proxy
            proxy = await api.get_proxy("edge")
            listener = Listener(proxy.listen)
            flood = Flood(ingress, FloodPlan(19, 50e6), declared={ingress}, mode="pull")
            await flood.start()
            await asyncio.sleep(1.0)  # every flow backlogged
            legit0, flood0, started = listener.snapshot(), flood.sent, time.monotonic()
            await asyncio.sleep(2.5)
            legit1, flood1 = listener.snapshot(), flood.sent
            elapsed = time.monotonic() - started
            assert flood.open_connections == 19
            await flood.stop()
            listener.conn.close()
    finally:
        upstream.close()
    total_mbit = ((legit1 - legit0) + (flood1 - flood0)) * 8 / elapsed / 1e6
    assert 8.0 <= total_mbit <= 10.8  # the flood fills the 10 Mbit/s budget, no more
    assert (legit1 - legit0) / elapsed / 1e3 == pytest.approx(1250 / 20, rel=0.5)  # 1/20 each


async def test_a_pull_flood_is_paced_at_its_rate_without_any_toxic(
    server: EmbeddedToxiproxy,
) -> None:
    upstream = Upstream(echo)
    try:
        async with AsyncToxiproxyClient(server.url) as api:
            await api.create_proxy("plain", upstream.address)
            ingress = await api.flood_ingress("plain")
            flood = Flood(ingress, FloodPlan(4, 400_000), declared={ingress}, mode="pull")
            await flood.start()
            await asyncio.sleep(0.5)
            first = flood.sent
            await asyncio.sleep(1.0)
            rate = (flood.sent - first) / 1.0
            await flood.stop()
        assert upstream.accepted == 0  # the junk is the proxy's own: the upstream is not dialled
        assert 0.6 * 400_000 <= rate <= 1.4 * 400_000
    finally:
        upstream.close()


def test_the_ingress_carries_nothing_while_disabled_and_goes_with_its_proxy(
    server: EmbeddedToxiproxy,
) -> None:
    upstream = Upstream(echo)
    try:
        with ToxiproxyClient(server.url) as api:
            api.create_proxy("p", upstream.address)
            ingress = api.flood_ingress("p")
            with connect(ingress, timeout=5) as conn:
                assert len(conn.recv(65536)) > 0  # junk flows
            api.disable_proxy("p")
            with connect(ingress, timeout=5) as conn:  # a link that is down carries no flood,
                assert conn.recv(1) == b""  # though the listener itself outlives a disable
            api.enable_proxy("p")
            with connect(ingress, timeout=5) as conn:
                assert len(conn.recv(65536)) > 0
            api.delete_proxy("p")
            with pytest.raises(ConnectionRefusedError):
                connect(ingress, timeout=2).close()
    finally:
        upstream.close()


def test_the_ingress_is_for_tcp_proxies_and_named_ones(server: EmbeddedToxiproxy) -> None:
    with ToxiproxyClient(server.url) as api:
        api.create_proxy("voice", "127.0.0.1:9", protocol="udp")
        with pytest.raises(ToxiproxyError, match="for TCP proxies"):
            api.flood_ingress("voice")
        with pytest.raises(ToxiproxyError, match="proxy not found"):
            api.flood_ingress("nobody")
    assert "flood_ingress" in httpx.get(f"{server.url}/gameday/features").json()["features"]


def _frames_every_20ms(conn: socket.socket) -> None:
    """An edge's audio: a 188-byte frame every 20 ms, stamped with when it was sent."""
    with suppress(OSError):
        started = time.monotonic()
        for n in range(10_000):
            time.sleep(max(0.0, started + n * 0.02 - time.monotonic()))
            conn.sendall(struct.pack("!d", time.monotonic()) + b"\0" * 180)


async def test_a_light_stream_waits_about_one_segment_per_flood_flow_not_two_ms(
    server: EmbeddedToxiproxy,
) -> None:
    """100 backlogged flood flows on a 20 Mbit/s line. Each small chunk of a light stream waits
    a round; with 2 ms slots a round is 200 ms and frames queued behind it reach about a second
    (measured: p95 1.05 s, a stall for any listener), with one-segment slots a round is 58 ms
    and they settle near 0.3 s."""
    upstream = Upstream(_frames_every_20ms)
    try:
        async with AsyncToxiproxyClient(server.url) as api:
            await api.create_proxy("edge", upstream.address)
            await api.add_toxic("edge", SharedBandwidthAttributes(rate=2500), stream="downstream")
            ingress = await api.flood_ingress("edge")
            flood = Flood(ingress, FloodPlan(100, 50e6), declared={ingress}, mode="pull")
            await flood.start()
            await asyncio.sleep(1.0)
            conn = connect((await api.get_proxy("edge")).listen, timeout=10)
            delays = await asyncio.to_thread(_frame_delays, conn, 100)
            conn.close()
            await flood.stop()
    finally:
        upstream.close()
    delays.sort()
    assert delays[int(0.95 * len(delays))] < 0.6, delays[-10:]


def _frame_delays(conn: socket.socket, frames: int) -> list[float]:
    delays = []
    for _ in range(frames):
        frame = recv_exactly(conn, 188)
        delays.append(time.monotonic() - struct.unpack_from("!d", frame)[0])
    return delays
