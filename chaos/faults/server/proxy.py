"""One proxy: its listener, the upstream it dials per client, its toxics and connections.

Start/stop/update follow Toxiproxy's rules: a change of listen or upstream stops the proxy —
closing the listener and every open connection — and starts it again if it stays enabled; the
toxics survive. ``listen`` shows the real bound address once started.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
from collections.abc import Coroutine
from dataclasses import dataclass

from chaos.faults.server import addr
from chaos.faults.server.chain import Configured
from chaos.faults.server.collection import ToxicCollection
from chaos.faults.server.endpoint import Endpoint
from chaos.faults.server.errors import internal
from chaos.faults.server.link import Connection, Link
from chaos.faults.server.metrics import ServerMetrics
from chaos.faults.server.splice import PipePool

log = logging.getLogger(__name__)

ACCEPT_BURST = 64
"""Connections accepted in a row before the accept loop lets other tasks run."""


@dataclass
class Runtime:
    """What every proxy of one server shares: randomness, the pipe pool, metrics."""

    rng: random.Random
    pipes: PipePool | None
    metrics: ServerMetrics


class Proxy:
    def __init__(self, runtime: Runtime, name: str, listen: str, upstream: str) -> None:
        self.runtime = runtime
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics = ToxicCollection()
        self.connections: set[Connection] = set()
        self._listener: Endpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the Owner interface of its connections ---

    @property
    def rng(self) -> random.Random:
        return self.runtime.rng

    @property
    def pipes(self) -> PipePool | None:
        return self.runtime.pipes

    def link_started(self, link: Link) -> list[Configured]:
        self.toxics.links[link.direction].add(link)
        return list(self.toxics.chains[link.direction])

    def link_finished(self, link: Link) -> None:
        self.toxics.links[link.direction].discard(link)
        labels = (str(link.direction), self.name, self.listen, self.upstream)
        t = link.transfer
        self.runtime.metrics.link_finished(labels, t.received, t.sent, t.write_failed)

    def connection_closed(self, conn: Connection) -> None:
        self.connections.discard(conn)

    # --- lifecycle ---

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},
            "toxics": [entry.to_json() for entry in self.toxics.entries()],
        }

    async def start(self) -> None:
        """Bind and accept; on failure the proxy stays disabled and the error is a 500."""
        if self.enabled:
            return
        try:
            sock = await addr.listen(self.listen)
        except addr.AddrError as exc:
            raise internal(str(exc)) from None
        self.listen = addr.bound_address(sock)
        loop = asyncio.get_running_loop()
        self._listener = Endpoint(sock, loop)
        self.enabled = True
        self._spawn(self._accept(self._listener))

    def stop(self) -> None:
        """Close the listener and every connection (a FIN, or RST where reset_peer armed it)."""
        self.enabled = False
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for task in list(self._tasks):
            task.cancel()
        for conn in list(self.connections):
            conn.close()

    async def differs(self, listen: str, upstream: str) -> bool:
        """Toxiproxy's test: resolved new listen differs from the current, or upstream does."""
        try:
            resolved = await addr.resolve(listen)
        except addr.AddrError as exc:
            raise internal(str(exc)) from None
        return str(resolved) != self.listen or upstream != self.upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        if await self.differs(listen, upstream):
            self.stop()
            self.listen = listen
            self.upstream = upstream
        if enabled != self.enabled:
            if enabled:
                await self.start()
            else:
                self.stop()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _accept(self, listener: Endpoint) -> None:
        accepted = 0
        while True:
            try:
                client, _ = listener.sock.accept()
            except BlockingIOError:
                try:
                    await listener.wait_readable()
                except OSError:
                    return
                continue
            except OSError as exc:
                if listener.closed:
                    return
                if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    log.warning("proxy %s cannot accept: %s; retrying", self.name, exc)
                    await asyncio.sleep(0.1)
                continue
            self._spawn(self._connect(client))
            accepted += 1
            if accepted % ACCEPT_BURST == 0:
                await asyncio.sleep(0)  # a join storm must not starve traffic already flowing

    async def _connect(self, client_sock: socket.socket) -> None:
        """Dial the upstream for one client; if that fails, close the client with no data."""
        loop = asyncio.get_running_loop()
        client = Endpoint(client_sock, loop)
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        upstream: Endpoint | None = None
        try:
            upstream = await self._dial(loop)
        except OSError as exc:
            log.debug("proxy %s: dial %s failed: %s", self.name, self.upstream, exc)
        except asyncio.CancelledError:
            client.close()
            raise
        if upstream is None:
            client.close()
            return
        conn = Connection(self, client, upstream)
        self.connections.add(conn)
        conn.start()

    async def _dial(self, loop: asyncio.AbstractEventLoop) -> Endpoint:
        target = await addr.resolve(self.upstream)
        ips = [target.ip] if target.ip is not None else [None]
        last: OSError = OSError("no address")
        for ip in ips:
            family = socket.AF_INET6 if ip is not None and ip.version == 6 else socket.AF_INET
            host = str(ip) if ip is not None else "127.0.0.1"
            endpoint = Endpoint(socket.socket(family, socket.SOCK_STREAM), loop)
            try:
                endpoint.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                err = endpoint.sock.connect_ex((host, target.port))
                if err == errno.EINPROGRESS:
                    await endpoint.wait_writable()
                    err = endpoint.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, errno.errorcode.get(err, str(err)))
                return endpoint
            except OSError as exc:
                endpoint.close()
                last = exc
            except asyncio.CancelledError:
                endpoint.close()
                raise
        raise last
