"""Every client call against the embedded server, with real traffic where a call has an effect."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest
from toxiproxy_harness import EchoServer, embedded_toxiproxy, round_trip

from chaos import __version__
from chaos.faults.client import (
    AsyncToxiproxyClient,
    LatencyAttributes,
    LimitDataAttributes,
    PopulateError,
    ProxySpec,
    SlicerAttributes,
    TimeoutAttributes,
    ToxiproxyBadRequest,
    ToxiproxyClient,
    ToxiproxyConflict,
    ToxiproxyNotFound,
    UnknownAttributes,
)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with embedded_toxiproxy() as api_url:
        yield api_url


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture
def client(url: str) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(url, timeout=5) as toxiproxy:
        toxiproxy.reset()
        for name in toxiproxy.list_proxies():
            toxiproxy.delete_proxy(name)
        yield toxiproxy


def test_version(client: ToxiproxyClient) -> None:
    assert client.version() == "2.12.0"


def test_server_info_recognises_the_embedded_server(client: ToxiproxyClient) -> None:
    info = client.server_info()
    assert (info.flavor, info.version, info.server_version) == ("gameday", "2.12.0", __version__)


def test_proxy_lifecycle(client: ToxiproxyClient, echo: EchoServer) -> None:
    created = client.create_proxy("edge", echo.address)
    host, port = created.listen_host_port
    assert (host, created.upstream, created.enabled) == ("127.0.0.1", echo.address, True)
    assert port != 0
    assert round_trip(created.listen, b"hello") == b"hello"
    assert client.list_proxies() == {"edge": created}
    assert client.get_proxy("edge") == created

    with pytest.raises(ToxiproxyConflict) as conflict:
        client.create_proxy("edge", echo.address)
    assert conflict.value.message == "proxy already exists"

    disabled = client.disable_proxy("edge")
    assert not disabled.enabled
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(created.listen_host_port, timeout=2).close()
    assert client.enable_proxy("edge").enabled
    assert round_trip(created.listen, b"again") == b"again"

    client.delete_proxy("edge")
    with pytest.raises(ToxiproxyNotFound) as missing:
        client.get_proxy("edge")
    assert (missing.value.status, missing.value.message) == (404, "proxy not found")
    with pytest.raises(ToxiproxyNotFound):
        client.delete_proxy("edge")


def test_update_proxy_moves_the_upstream(client: ToxiproxyClient, echo: EchoServer) -> None:
    with EchoServer() as other:
        client.create_proxy("edge", echo.address)
        moved = client.update_proxy("edge", upstream=other.address)
        assert moved.upstream == other.address
        round_trip(moved.listen, b"x")
        assert other.connections == 1


def test_toxic_lifecycle_with_partial_updates(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("edge", echo.address)
    toxic = client.add_toxic("edge", LatencyAttributes(latency=120))
    assert (toxic.name, toxic.stream, toxic.toxicity) == ("latency_downstream", "downstream", 1.0)
    assert toxic.attributes == LatencyAttributes(latency=120, jitter=0)
    started = time.monotonic()
    round_trip(proxy.listen, b"slow")
    assert time.monotonic() - started >= 0.12

    merged = client.update_toxic("edge", "latency_downstream", LatencyAttributes(jitter=5))
    assert merged.attributes == LatencyAttributes(latency=120, jitter=5)
    less_toxic = client.update_toxic("edge", "latency_downstream", toxicity=0.5)
    assert (less_toxic.toxicity, less_toxic.attributes) == (0.5, merged.attributes)

    cut = client.add_toxic(
        "edge", LimitDataAttributes(bytes=3), name="cut", stream="upstream", toxicity=1
    )
    assert cut.stream == "upstream"
    assert client.get_toxic("edge", "cut") == cut
    assert [t.name for t in client.list_toxics("edge")] == ["cut", "latency_downstream"]
    assert client.get_proxy("edge").toxics == (cut, less_toxic)

    with pytest.raises(ToxiproxyConflict, match="toxic already exists"):
        client.add_toxic("edge", SlicerAttributes(average_size=1), name="cut")
    client.remove_toxic("edge", "cut")
    client.remove_toxic("edge", "latency_downstream")
    assert client.list_toxics("edge") == []
    with pytest.raises(ToxiproxyNotFound, match="toxic not found"):
        client.remove_toxic("edge", "cut")
    with pytest.raises(ToxiproxyNotFound, match="proxy not found"):
        client.list_toxics("nope")


def test_raw_toxics_and_the_servers_own_validation(
    client: ToxiproxyClient, echo: EchoServer
) -> None:
    client.create_proxy("edge", echo.address)
    raw = client.add_toxic("edge", {"timeout": 50}, type="timeout", name="raw")
    assert raw.attributes == TimeoutAttributes(timeout=50)
    with pytest.raises(ToxiproxyBadRequest) as bad:
        client.add_toxic("edge", {}, type="no_such_toxic")
    assert (bad.value.status, bad.value.message) == (400, "invalid toxic type")
    assert isinstance(client.get_toxic("edge", "raw").attributes, TimeoutAttributes)
    assert not isinstance(client.get_toxic("edge", "raw").attributes, UnknownAttributes)


def test_timeout_toxic_cuts_live_traffic(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("edge", echo.address)
    with socket.create_connection(proxy.listen_host_port, timeout=5) as conn:
        conn.sendall(b"ok")
        assert conn.recv(10) == b"ok"
        client.add_toxic("edge", TimeoutAttributes(timeout=100))
        conn.sendall(b"dropped")
        assert conn.recv(10) == b""  # no data, then closed after 100 ms of silence


def test_populate_keeps_unchanged_proxies_and_reports_partial_failure(
    client: ToxiproxyClient, echo: EchoServer
) -> None:
    first = client.populate([ProxySpec(name="a", upstream=echo.address)])
    assert [p.name for p in first] == ["a"]
    client.add_toxic("a", LatencyAttributes(latency=1))
    listen = first[0].listen
    again = client.populate([ProxySpec(name="a", upstream=echo.address, listen=listen)])
    assert again[0].toxics == client.get_proxy("a").toxics != ()

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = f"127.0.0.1:{taken.getsockname()[1]}"
        specs = [
            ProxySpec(name="b", upstream=echo.address),
            ProxySpec(name="c", upstream=echo.address, listen=busy),
            ProxySpec(name="d", upstream=echo.address),
        ]
        with pytest.raises(PopulateError) as failed:
            client.populate(specs)
    assert failed.value.status == 500 and "address already in use" in failed.value.message
    assert [p.name for p in failed.value.proxies] == ["b"]
    assert sorted(client.list_proxies()) == ["a", "b"]


def test_reset_removes_toxics_and_reenables(client: ToxiproxyClient, echo: EchoServer) -> None:
    client.create_proxy("edge", echo.address)
    client.add_toxic("edge", LatencyAttributes(latency=1))
    client.disable_proxy("edge")
    client.reset()
    proxy = client.get_proxy("edge")
    assert proxy.enabled and proxy.toxics == ()


async def test_async_client_drives_the_same_calls(url: str, echo: EchoServer) -> None:
    async with AsyncToxiproxyClient(url, timeout=5) as client:
        await client.reset()
        for name in await client.list_proxies():
            await client.delete_proxy(name)
        assert (await client.server_info()).version == "2.12.0"
        assert await client.version() == "2.12.0"
        proxy = await client.create_proxy("edge", echo.address)
        assert (await client.get_proxy("edge")).listen == proxy.listen
        await client.add_toxic("edge", LatencyAttributes(latency=80), stream="upstream")
        started = time.monotonic()
        await asyncio.to_thread(round_trip, proxy.listen, b"hi")
        assert time.monotonic() - started >= 0.08
        updated = await client.update_toxic("edge", "latency_upstream", {"jitter": 1})
        assert updated.attributes == LatencyAttributes(latency=80, jitter=1)
        assert [t.name for t in await client.list_toxics("edge")] == ["latency_upstream"]
        assert (await client.get_toxic("edge", "latency_upstream")) == updated
        await client.remove_toxic("edge", "latency_upstream")
        assert not (await client.disable_proxy("edge")).enabled
        assert (await client.enable_proxy("edge")).enabled
        moved = await client.update_proxy("edge", listen="127.0.0.1:0")
        assert moved.listen != "127.0.0.1:0"
        populated = await client.populate([ProxySpec(name="other", upstream=echo.address)])
        assert [p.name for p in populated] == ["other"]
        await client.delete_proxy("other")
        with pytest.raises(ToxiproxyNotFound):
            await client.get_proxy("other")
        await client.reset()
        await client.delete_proxy("edge")
        assert await client.list_proxies() == {}


def test_client_attribute_models_match_every_server_toxic_type() -> None:
    """The typed models and the server's schemas describe the same wire format (no drift)."""
    from chaos.faults.client.models import ATTRIBUTES_BY_TYPE
    from chaos.faults.toxics import TOXIC_TYPES
    from chaos.faults.toxics.datagram import DATAGRAM_TOXIC_TYPES

    assert set(TOXIC_TYPES) | set(DATAGRAM_TOXIC_TYPES) <= set(ATTRIBUTES_BY_TYPE)
    python_type = {"int": int, "int64": int, "float64": float}
    for name, server_toxic in TOXIC_TYPES.items():
        client_fields = ATTRIBUTES_BY_TYPE[name].model_fields
        assert list(client_fields) == [field for field, _ in server_toxic.fields], name
        for field, go in server_toxic.fields:
            assert client_fields[field].annotation is python_type[go], (name, field)
    for name, datagram_toxic in DATAGRAM_TOXIC_TYPES.items():  # a TCP type may have more fields
        client_fields = ATTRIBUTES_BY_TYPE[name].model_fields
        for field, go in datagram_toxic.fields:
            assert client_fields[field].annotation is python_type[go], (name, field)
