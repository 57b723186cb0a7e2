"""The I/O edge of a listener: open a connection, pump its bytes into the sans-IO probe.

An ``Adapter`` is what differs between stream protocols. The HTTP adapter covers one long GET
(Icecast progressive audio, soundstage's chunked framed stream); the format is the probe's
``StreamDecoder``. The HLS adapter (``chaos.workload.hls``) implements ``open`` by following a
playlist and playing each segment through the same probe.

Connections use asyncio protocols, not streams: a callback per socket read is the cheapest thing
asyncio offers, and at 10,000 listeners per core the per-read cost is the budget. The loop's own
``create_connection`` (C in uvloop) costs half of a hand-made socket plus ``sock_connect``. Each
socket is bound to a source address spread over 127.0.0.0/8; every source address has its own
~28k ephemeral ports, so the kernel's port range does not cap a storm on one port.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, cast

from chaos.workload.http import Target
from chaos.workload.probe import Events, Probe, StreamDecoder

EventSink = Callable[[Events], None]
#: Source addresses 127.0.0.2 … 127.0.3.255; each brings its own ephemeral-port range.
_SOURCE_POOL = 1022


class Session(Protocol):
    def close(self) -> None: ...


class Adapter(Protocol):
    """How one listener attempt talks to the stack."""

    def decoder(self, ear: bool = False) -> StreamDecoder | None:
        """A fresh decoder for the body format this adapter expects; ``ear``: for an ear's
        listener, whose frames carry what they decode to (``chaos.audio.ear``). None when the
        adapter makes the probe's frames itself (HLS: one per segment)."""

    async def open(
        self, probe: Probe, sink: EventSink, source: str | None, listener: str = ""
    ) -> Session:
        """Connect and start feeding ``probe``; events it produces go to ``sink``.
        ``listener``: who is joining, the same across a listener's attempts (a join API
        keeps an admitted listener's place)."""


def spreads_sources(host: str) -> bool:
    """Source addresses are spread only towards an IPv4 loopback target (127.0.0.0/8)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.version == 4 and address.is_loopback


def source_address(listener: int) -> str:
    """The loopback source address of listener number ``listener``: 127.0.0.2 … 127.0.3.255."""
    n = 2 + listener % _SOURCE_POOL
    return f"127.0.{n >> 8}.{n & 255}"


def connect_failure(exc: BaseException) -> str:
    """A short metric label for why a connection attempt failed."""
    if isinstance(exc, TimeoutError):
        return "connect_timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRNOTAVAIL:
        return "no_source_port"
    if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
        return "fd_limit"
    return "connect_error"


class _ProbeProtocol(asyncio.Protocol):
    __slots__ = ("_loop", "_probe", "_request", "_sink", "transport")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, probe: Probe, sink: EventSink, request: bytes
    ) -> None:
        self._loop = loop
        self._probe = probe
        self._sink = sink
        self._request = request
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self._request)
        self._sink(self._probe.connected(self._loop.time()))

    def data_received(self, data: bytes) -> None:
        events = self._probe.feed(self._loop.time(), data)
        if events:
            self._sink(events)
            if self._probe.ended and self.transport is not None:
                self.transport.close()

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = "closed" if exc is None else connect_failure(exc)
        events = self._probe.closed(self._loop.time(), reason)
        if events:
            self._sink(events)


@dataclass(frozen=True, slots=True)
class HttpStreamAdapter:
    """One HTTP GET whose endless body is decoded by ``decoder_factory``'s decoder."""

    target: Target
    decoder_factory: Callable[[bool], StreamDecoder]

    def decoder(self, ear: bool = False) -> StreamDecoder:
        return self.decoder_factory(ear)

    async def open(
        self, probe: Probe, sink: EventSink, source: str | None, listener: str = ""
    ) -> Session:
        loop = asyncio.get_running_loop()
        request = self.target.request()
        transport, _ = await loop.create_connection(
            lambda: _ProbeProtocol(loop, probe, sink, request),
            self.target.host,
            self.target.port,
            local_addr=None if source is None else (source, 0),
        )
        return transport
