"""A UDP proxy (a gameday extension; Toxiproxy is TCP only, #39): for RTP-like speaker ingest.

One socket listens; each client address gets a session — its own socket connected to the
upstream, so replies find their way back — which ends after ``SESSION_IDLE_SECONDS`` without a
datagram either way (as a NAT forgets a mapping). Every datagram is folded through the toxics of
its direction (``chaos.faults.toxics.datagram``) as they are configured at that moment, and each
result is sent at its due time on the loop's precise timer (``chaos.faults.timer``, the one the
stream toxics sleep on): never early, tens of microseconds late rather than the loop's whole
milliseconds, every datagram due at one wake-up sent in it, in due order. Randomness comes from
one source per direction, derived from the server's seed, and toxic state (a burst, a queue) is
per direction, shared by all sessions as one network path.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from chaos.faults import timer
from chaos.faults.server import addr
from chaos.faults.server.collection import ToxicCollection, ToxicEntry
from chaos.faults.server.errors import internal
from chaos.faults.server.link import Direction
from chaos.faults.server.proxy_base import ProxyBase
from chaos.faults.toxics import ToxicSchema
from chaos.faults.toxics.datagram import DATAGRAM_TOXIC_TYPES, Datagram, DatagramToxic, apply_all

log = logging.getLogger(__name__)

SESSION_IDLE_SECONDS = 60.0
SOCKET_BUFFER = 4 << 20
"""Receive buffer of the listening socket (the kernel caps it at net.core.rmem_max): a burst
of datagrams must wait for the event loop, not be dropped by the kernel as our own loss."""
Address = tuple[Any, ...]


def deliver(datagrams: list[Datagram], send: Callable[[bytes], None]) -> None:
    """Send each datagram at its due time (``time.monotonic()``), never before it.

    One already due goes at once, unless one due no later still waits in the timer (a wake-up
    the loop has not run yet, on a busy machine): then it waits behind that one, so datagrams
    leave in due order and a session's stream is never reordered by the proxy's own lateness.
    """
    precise = timer.timer_for(asyncio.get_running_loop())
    for datagram in datagrams:
        if datagram.due <= time.monotonic() and datagram.due < precise.next_deadline():
            send(datagram.data)
        else:
            precise.call_at(datagram.due, send, datagram.data)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, proxy: UdpProxy) -> None:
        self.proxy = proxy

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.proxy.from_client(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("udp proxy %s: %s", self.proxy.name, exc)


class _Session(asyncio.DatagramProtocol):
    """One client's mapping: a socket connected to the upstream."""

    def __init__(self, proxy: UdpProxy, client: Address) -> None:
        self.proxy = proxy
        self.client = client
        self.transport: asyncio.DatagramTransport | None = None
        self.backlog: list[bytes] = []
        """Datagrams that arrived while the upstream socket was being opened."""
        self.last_seen = asyncio.get_running_loop().time()

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.last_seen = asyncio.get_running_loop().time()
        self.proxy.from_upstream(data, self)

    def error_received(self, exc: Exception) -> None:
        # An ICMP "port unreachable" from the upstream: UDP carries on, as the client would.
        log.debug("udp proxy %s upstream: %s", self.proxy.name, exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class UdpProxy(ProxyBase):
    toxic_types: ClassVar[Mapping[str, type[ToxicSchema]]] = DATAGRAM_TOXIC_TYPES
    toxics: ToxicCollection[DatagramToxic]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: dict[Address, _Session] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self._states: dict[ToxicEntry[DatagramToxic], object] = {}
        self._rngs: dict[Direction, random.Random] = {}
        self._generation = -1
        self._sweeper: asyncio.TimerHandle | None = None

    def _toxics(self) -> ToxicCollection[DatagramToxic]:
        return ToxicCollection(DatagramToxic)  # type: ignore[type-abstract]  # isinstance only

    async def start(self) -> None:
        if self.enabled:
            return
        try:
            target = await addr.resolve(self.listen)
            v6 = target.ip is not None and target.ip.version == 6
            sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
            try:
                sock.bind((str(target.ip) if target.ip is not None else "", target.port))
            except OSError as exc:
                sock.close()
                raise addr.AddrError(f"listen udp {self.listen}: bind: {exc.strerror}") from None
        except addr.AddrError as exc:
            raise internal(str(exc)) from None
        self.listen = addr.bound_address(sock)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Listener(self), sock=sock)
        self._transport = transport
        self.enabled = True
        self._sweeper = loop.call_later(SESSION_IDLE_SECONDS, self._sweep)

    def stop(self) -> None:
        self.enabled = False
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for session in self.sessions.values():
            session.close()
        self.sessions.clear()

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        for client, session in list(self.sessions.items()):
            if now - session.last_seen >= SESSION_IDLE_SECONDS:
                session.close()
                del self.sessions[client]
        self._sweeper = loop.call_later(SESSION_IDLE_SECONDS / 4, self._sweep)

    # --- the data path ---

    def _rng(self, direction: Direction) -> random.Random:
        """One source per direction; a reseed of the server starts them over."""
        if self._generation != self.runtime.generation:
            self._generation = self.runtime.generation
            self._rngs = {d: self.runtime.rng_for(self.name, str(d), "udp") for d in Direction}
        return self._rngs[direction]

    def _labels(self, direction: Direction) -> tuple[str, str, str, str]:
        return (str(direction), self.name, self.listen, self.upstream)

    def _toxicate(self, direction: Direction, data: bytes) -> list[Datagram]:
        self.runtime.metrics.datagram(self._labels(direction), len(data), 0)
        configured = self.toxics.entries()
        if len(self._states) > len(configured):  # forget the state of removed toxics
            self._states = {e: s for e, s in self._states.items() if e in configured}
        steps: list[tuple[DatagramToxic, float, object]] = []
        for entry in self.toxics.chains[direction]:
            if entry not in self._states:
                self._states[entry] = entry.toxic.new_state()
            steps.append((entry.toxic, entry.toxicity, self._states[entry]))
        return apply_all(steps, Datagram(data, time.monotonic()), self._rng(direction))

    def from_client(self, data: bytes, client: Address) -> None:
        session = self.sessions.get(client)
        if session is None:
            session = self.sessions[client] = _Session(self, client)
            asyncio.get_running_loop().create_task(self._open(session))
        session.last_seen = asyncio.get_running_loop().time()

        labels = self._labels(Direction.UPSTREAM)

        def send(payload: bytes) -> None:
            if session.transport is None:
                session.backlog.append(payload)
            elif not session.transport.is_closing():
                session.transport.sendto(payload)
            else:
                return
            self.runtime.metrics.datagram(labels, 0, len(payload))

        deliver(self._toxicate(Direction.UPSTREAM, data), send)

    def from_upstream(self, data: bytes, session: _Session) -> None:
        listener = self._transport
        labels = self._labels(Direction.DOWNSTREAM)

        def send(payload: bytes) -> None:
            if listener is not None and not listener.is_closing():
                listener.sendto(payload, session.client)
                self.runtime.metrics.datagram(labels, 0, len(payload))

        deliver(self._toxicate(Direction.DOWNSTREAM, data), send)

    async def _open(self, session: _Session) -> None:
        loop = asyncio.get_running_loop()
        try:
            target = await addr.resolve(self.upstream)
            host = str(target.ip) if target.ip is not None else "127.0.0.1"
            transport, _ = await loop.create_datagram_endpoint(
                lambda: session, remote_addr=(host, target.port)
            )
        except OSError as exc:
            log.debug("udp proxy %s: upstream %s: %s", self.name, self.upstream, exc)
            self.sessions.pop(session.client, None)
            return
        session.transport = transport
        if self.sessions.get(session.client) is not session:  # stopped meanwhile
            session.close()
            return
        for payload in session.backlog:
            session.transport.sendto(payload)
        session.backlog.clear()
