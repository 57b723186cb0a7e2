"""UDP proxies on real loopback sockets (issue 4): measured loss, jitter that reorders, seeded
drop patterns, duplication and corruption, sessions per client; delayed datagrams sent on the
precise timer, never early and in due order (issue 24)."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.faults import timer
from chaos.faults.client import (
    CorruptAttributes,
    DuplicateAttributes,
    LatencyAttributes,
    LossAttributes,
    ToxiproxyClient,
)
from chaos.faults.server.embedded import EmbeddedToxiproxy
from chaos.faults.server.udp import deliver
from chaos.faults.toxics.datagram import Datagram


class Collector:
    """A UDP server that records what it receives and echoes it back (unless told not to)."""

    def __init__(self) -> None:
        self.echo = True
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.received: list[bytes] = []
        self.peers: set[tuple[str, int]] = set()
        self.arrivals: list[tuple[tuple[str, int], bytes, float]] = []
        """(upstream socket of the session, datagram, ``time.monotonic()`` at receipt)."""
        self.lock = threading.Lock()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
            except OSError:
                return
            at = time.monotonic()
            with self.lock:
                self.received.append(data)
                self.peers.add(peer)
                self.arrivals.append((peer, data, at))
            if self.echo:
                self.sock.sendto(data, peer)

    def take(self) -> list[bytes]:
        with self.lock:
            taken, self.received = self.received, []
        return taken

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy("127.0.0.1", 0, seed=3) as srv:
        yield srv


@pytest.fixture
def client(server: EmbeddedToxiproxy) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(server.url) as c:
        yield c


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.close()


@pytest.fixture
def sink(collector: Collector) -> Collector:
    """The collector without echo: measurements count one direction only."""
    collector.echo = False
    return collector


def _client_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.settimeout(2)
    return sock


def _send(listen: str, count: int, *, gap_every: int = 10, gap: float = 0.001) -> socket.socket:
    host, _, port = listen.rpartition(":")
    sock = _client_socket()
    for seq in range(count):
        sock.sendto(seq.to_bytes(4, "big") + b"\0" * 156, (host, int(port)))
        if seq % gap_every == gap_every - 1:
            time.sleep(gap)  # paced so no kernel buffer drops anything: what is lost, we lost
    return sock


def _settle(collector: Collector, expected_at_most: int) -> list[int]:
    """Sequence numbers received, once nothing more arrives."""
    seen: list[bytes] = []
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 0.3 and len(seen) < expected_at_most:
        new = collector.take()
        if new:
            seen += new
            quiet_since = time.monotonic()
        time.sleep(0.02)
    return [int.from_bytes(d[:4], "big") for d in seen]


@pytest.mark.timeout(60)
def test_five_percent_loss_over_ten_thousand_datagrams(
    client: ToxiproxyClient, sink: Collector
) -> None:
    proxy = client.create_proxy("rtp", sink.address, protocol="udp")
    client.add_toxic("rtp", LossAttributes(probability=0.05), stream="upstream")
    _send(proxy.listen, 10_000).close()
    received = _settle(sink, 10_000)
    assert len(set(received)) == len(received)  # loss only: nothing duplicated
    loss = 1 - len(received) / 10_000
    assert loss == pytest.approx(0.05, abs=0.015)


@pytest.mark.timeout(60)
def test_jitter_reorders_datagrams_and_loses_none(client: ToxiproxyClient, sink: Collector) -> None:
    proxy = client.create_proxy("rtp", sink.address, protocol="udp")
    client.add_toxic("rtp", LatencyAttributes(latency=20, jitter=15), stream="upstream")
    _send(proxy.listen, 500, gap_every=1, gap=0.001).close()
    received = _settle(sink, 500)
    assert sorted(received) == list(range(500))
    assert received != sorted(received)
    inversions = sum(1 for a, b in itertools.pairwise(received) if a > b)
    assert inversions > 20


def _drop_pattern(client: ToxiproxyClient, collector: Collector, seed: int) -> list[int]:
    client.set_seed(seed)
    proxy = client.create_proxy("rtp", collector.address, protocol="udp")
    client.add_toxic("rtp", LossAttributes(p=0.02, r=0.3), stream="upstream")
    _send(proxy.listen, 2000).close()
    received = set(_settle(collector, 2000))
    client.delete_proxy("rtp")
    return [seq for seq in range(2000) if seq not in received]


@pytest.mark.timeout(60)
def test_same_seed_gives_the_same_drop_pattern(client: ToxiproxyClient, sink: Collector) -> None:
    first = _drop_pattern(client, sink, 99)
    again = _drop_pattern(client, sink, 99)
    other = _drop_pattern(client, sink, 100)
    assert len(first) > 20
    assert first == again
    assert first != other


def test_replies_reach_each_client_through_its_session_with_duplicates_and_corruption(
    client: ToxiproxyClient, collector: Collector
) -> None:
    proxy = client.create_proxy("rtp", collector.address, protocol="udp")
    host, port = proxy.listen_host_port
    alice, bob = _client_socket(), _client_socket()
    for sock, word in ((alice, b"alice"), (bob, b"bob")):
        sock.sendto(word, (host, port))
        assert sock.recvfrom(100)[0] == word
    assert len(collector.peers) == 2  # one upstream socket per client address
    client.add_toxic("rtp", DuplicateAttributes(probability=1.0), stream="downstream")
    alice.sendto(b"twice", (host, port))
    assert [alice.recvfrom(100)[0] for _ in range(2)] == [b"twice", b"twice"]
    client.remove_toxic("rtp", "duplicate_downstream")
    client.add_toxic("rtp", CorruptAttributes(probability=1.0), stream="upstream")
    bob.sendto(b"\0" * 8, (host, port))
    corrupted = bob.recvfrom(100)[0]
    assert len(corrupted) == 8 and bin(int.from_bytes(corrupted, "big")).count("1") == 1
    alice.close()
    bob.close()


def test_a_disabled_udp_proxy_forwards_nothing_until_enabled(
    client: ToxiproxyClient, collector: Collector
) -> None:
    proxy = client.create_proxy("rtp", collector.address, protocol="udp", listen="127.0.0.1:0")
    listen = proxy.listen
    client.update_proxy("rtp", enabled=False)
    host, port = proxy.listen_host_port
    sock = _client_socket()
    sock.settimeout(0.3)
    sock.sendto(b"lost", (host, port))
    with pytest.raises(TimeoutError):
        sock.recvfrom(100)
    assert client.update_proxy("rtp", enabled=True).listen == listen
    sock.sendto(b"back", (host, port))
    assert sock.recvfrom(100)[0] == b"back"
    sock.close()


def test_udp_bytes_show_in_metrics_as_they_pass(sink: Collector) -> None:
    import httpx

    with EmbeddedToxiproxy("127.0.0.1", 0, proxy_metrics=True) as server:
        with ToxiproxyClient(server.url) as api:
            proxy = api.create_proxy("rtp", sink.address, protocol="udp")
            api.add_toxic("rtp", DuplicateAttributes(probability=1.0), stream="upstream")
            _send(proxy.listen, 10).close()
            assert len(_settle(sink, 20)) == 20
        metrics = httpx.get(f"{server.url}/metrics").text
    labels = f'direction="upstream",listener="{proxy.listen}",proxy="rtp",upstream="{sink.address}"'
    assert f"toxiproxy_proxy_received_bytes_total{{{labels}}} 1600\n" in metrics
    assert f"toxiproxy_proxy_sent_bytes_total{{{labels}}} 3200\n" in metrics


@pytest.mark.parametrize("loop", [uvloop.new_event_loop, asyncio.new_event_loop])
@settings(max_examples=15, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=1500), st.integers(min_value=0, max_value=2500)
        ),
        min_size=1,
        max_size=30,
    )
)
def test_delivery_is_never_early_and_in_due_order_when_the_loop_is_late(
    loop: object, steps: list[tuple[int, int]]
) -> None:
    """Datagrams of one session with non-decreasing due times (fixed latency, a rate), handed
    over while the loop is held busy (``time.sleep`` between them, as a loaded machine holds it):
    some are already due when they arrive, while earlier ones still wait for a wake-up the loop
    has not run. Each leaves no earlier than its due time, on the timer's clock, and none
    overtakes another."""

    async def scenario() -> tuple[list[tuple[int, float]], list[float]]:
        sent: list[tuple[int, float]] = []
        dues: list[float] = []
        due = time.monotonic()
        for index, (gap_us, busy_us) in enumerate(steps):
            due += gap_us / 1e6
            dues.append(due)
            deliver(
                [Datagram(index.to_bytes(2, "big"), due)],
                lambda data: sent.append((int.from_bytes(data, "big"), time.monotonic())),
            )
            time.sleep(busy_us / 1e6)
        give_up = time.monotonic() + 20
        while len(sent) < len(steps) and time.monotonic() < give_up:
            await asyncio.sleep(0.005)
        timer.release(asyncio.get_running_loop())
        return sent, dues

    with asyncio.Runner(loop_factory=loop) as runner:  # type: ignore[arg-type]
        sent, dues = runner.run(scenario())
    assert [index for index, _ in sent] == list(range(len(steps)))
    assert all(at >= dues[index] for index, at in sent)


@pytest.mark.timeout(60)
def test_delayed_datagrams_are_never_early_and_keep_each_session_in_order(
    client: ToxiproxyClient, sink: Collector
) -> None:
    proxy = client.create_proxy("rtp", sink.address, protocol="udp")
    client.add_toxic("rtp", LatencyAttributes(latency=20), stream="upstream")
    host, port = proxy.listen_host_port
    sessions = [_client_socket(), _client_socket()]
    sent_at: dict[bytes, float] = {}
    for seq in range(300):
        for tag, sock in enumerate(sessions):
            payload = bytes([tag]) + seq.to_bytes(4, "big")
            sent_at[payload] = time.monotonic()
            sock.sendto(payload, (host, port))
        if seq % 10 == 9:
            time.sleep(0.001)  # paced so no kernel buffer drops anything
    deadline = time.monotonic() + 30
    while len(sink.arrivals) < len(sent_at) and time.monotonic() < deadline:
        time.sleep(0.02)
    per_session: dict[tuple[str, int], list[bytes]] = defaultdict(list)
    for peer, data, at in sink.arrivals:
        per_session[peer].append(data)
        assert at - sent_at[data] >= 0.020, f"{data!r} {1000 * (at - sent_at[data]):.3f} ms"
    assert sorted(per_session.values()) == [
        [bytes([tag]) + seq.to_bytes(4, "big") for seq in range(300)] for tag in range(2)
    ]
    for sock in sessions:
        sock.close()
