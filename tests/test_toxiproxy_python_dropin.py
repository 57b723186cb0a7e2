"""toxiproxy-python, an independent client, drives the embedded server through its own calls.

This is the drop-in proof from the users' side: their existing Toxiproxy test code runs
unchanged against gameday's server. Each step checks the effect on real traffic, not only the
API's answer.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from toxiproxy import Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists
from toxiproxy_harness import EchoServer, embedded_toxiproxy, round_trip

LATENCY = 0.15
"""Seconds of the latency toxic; a round trip without it must stay below this even on a busy
machine (it takes ~0.1 ms on loopback)."""


@pytest.fixture(scope="module")
def server() -> Iterator[Toxiproxy]:
    with embedded_toxiproxy() as url:
        parts = urlsplit(url)
        toxiproxy = Toxiproxy()
        # The library keeps host and port in class attributes of its APIConsumer.
        toxiproxy.update_api_consumer(parts.hostname, parts.port)
        yield toxiproxy


@pytest.fixture
def echo(server: Toxiproxy) -> Iterator[EchoServer]:
    server.destroy_all()
    with EchoServer() as upstream:
        yield upstream


def timed_round_trip(listen: str) -> float:
    started = time.monotonic()
    assert round_trip(listen, b"ping") == b"ping"
    return time.monotonic() - started


def refused(listen: str) -> bool:
    host, _, port = listen.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_version_and_running(server: Toxiproxy) -> None:
    assert server.running()
    assert server.version() == b'{"version": "2.12.0"}\n'


def test_proxy_and_toxics_through_the_library(server: Toxiproxy, echo: EchoServer) -> None:
    proxy = server.create(upstream=echo.address, name="edge")
    assert proxy.enabled and proxy.listen.startswith("127.0.0.1:")
    assert timed_round_trip(proxy.listen) < LATENCY
    with pytest.raises(ProxyExists):
        server.create(upstream=echo.address, name="edge")

    proxy.add_toxic(type="latency", attributes={"latency": int(LATENCY * 1000), "jitter": 0})
    proxy.add_toxic(name="cut", type="limit_data", stream="upstream", attributes={"bytes": 1000})
    toxics = proxy.toxics()
    assert sorted(toxics) == ["cut", "latency_downstream"]
    latency = proxy.get_toxic("latency_downstream")
    assert (latency.type, latency.stream, latency.attributes) == (
        "latency",
        "downstream",
        {"latency": int(LATENCY * 1000), "jitter": 0},
    )
    assert timed_round_trip(proxy.listen) >= LATENCY
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")

    assert proxy.destroy_toxic("latency_downstream") is True
    assert proxy.get_toxic("latency_downstream") is None
    assert timed_round_trip(proxy.listen) < LATENCY
    with pytest.raises(NotFound):
        proxy.destroy_toxic("latency_downstream")

    host, _, port = proxy.listen.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as open_connection:
        proxy.disable()
        assert open_connection.recv(10) == b""  # disabling drops live connections
    assert not server.get_proxy("edge").enabled and refused(proxy.listen)
    proxy.enable()
    assert round_trip(proxy.listen, b"up") == b"up"
    with proxy.down():
        assert refused(proxy.listen)
    assert round_trip(proxy.listen, b"up") == b"up"

    assert server.destroy(proxy) is True
    assert server.get_proxy("edge") is None and refused(proxy.listen)


def test_populate_and_reset_through_the_library(server: Toxiproxy, echo: EchoServer) -> None:
    created = server.populate(
        [
            {"name": "a", "upstream": echo.address, "listen": "127.0.0.1:0"},
            {"name": "b", "upstream": echo.address, "listen": "127.0.0.1:0"},
        ]
    )
    assert sorted(p.name for p in created) == ["a", "b"]
    proxies = server.proxies()
    assert sorted(proxies) == ["a", "b"]
    a = proxies["a"]
    a.add_toxic(type="timeout", attributes={"timeout": 0})
    a.disable()

    assert server.reset() is True
    after = server.get_proxy("a")
    assert after.enabled and after.toxics() == {}
    assert round_trip(after.listen, b"back") == b"back"

    server.destroy_all()
    assert server.proxies() == {}
