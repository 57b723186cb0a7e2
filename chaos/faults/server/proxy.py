"""A TCP proxy: its listener, the upstream it dials per client, and its connections."""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import socket
from collections.abc import Coroutine, Mapping
from typing import ClassVar

from chaos.faults.server import addr
from chaos.faults.server.accept import accept_forever
from chaos.faults.server.chain import Configured
from chaos.faults.server.collection import StreamToxics
from chaos.faults.server.endpoint import Endpoint
from chaos.faults.server.errors import internal
from chaos.faults.server.extensions import ProxyExtensions
from chaos.faults.server.flood_ingress import FloodIngress
from chaos.faults.server.link import Connection, Link
from chaos.faults.server.proxy_base import ProxyBase
from chaos.faults.server.runtime import Runtime
from chaos.faults.server.splice import PipePool
from chaos.faults.toxics import TOXIC_TYPES, ToxicSchema

log = logging.getLogger(__name__)


class Proxy(ProxyBase):
    """A TCP proxy (Toxiproxy's only kind)."""

    toxic_types: ClassVar[Mapping[str, type[ToxicSchema]]] = TOXIC_TYPES
    toxics: StreamToxics

    def __init__(
        self, runtime: Runtime, name: str, listen: str, upstream: str, ext: ProxyExtensions
    ) -> None:
        super().__init__(runtime, name, listen, upstream, ext)
        self.connections: set[Connection] = set()
        self._listener: Endpoint | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.flood = FloodIngress(self._flood_client)
        self._flood_ordinal = 0

    def _toxics(self) -> StreamToxics:
        return StreamToxics()

    # --- the Owner interface of its connections ---

    def link_rng(self, link: Link) -> random.Random:
        return self.runtime.rng_for(self.name, str(link.direction), link.conn.ordinal)

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

    async def start(self) -> None:
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
        self._spawn(
            accept_forever(
                self._listener, lambda sock: self._spawn(self._connect(sock)), f"proxy {self.name}"
            )
        )

    async def flood_ingress(self) -> str:
        """The flood ingress's address, listening from the first ask until the proxy is
        deleted (docs/proxy-extensions.md); on the listen address's host, any free port."""
        if self.flood.listen is not None:
            return self.flood.listen
        host, _ = addr.split_host_port(self.listen)
        try:
            return await self.flood.start(f"[{host}]:0" if ":" in host else f"{host}:0")
        except addr.AddrError as exc:
            raise internal(str(exc)) from None

    def _flood_client(self, client: Endpoint, junk: Endpoint) -> None:
        """A flood connection: this proxy's toxics, junk upstream, a negative ordinal; none
        while the proxy is disabled (a link that is down carries no flood either)."""
        if not self.enabled:
            client.close()
            junk.close()
            return
        self._flood_ordinal -= 1
        conn = Connection(self, client, junk, self._flood_ordinal)
        self.connections.add(conn)
        conn.start()

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

    def close(self) -> None:
        self.stop()
        self.flood.stop()

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
        conn = Connection(self, client, upstream, self.runtime.next_ordinal(self.name))
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
