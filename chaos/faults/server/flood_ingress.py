"""A proxy's flood ingress: connections whose "upstream" is junk made inside the link.

A flood that fills the server-to-client direction of a link needs someone to send bytes that
way, and the stack's own servers only send what their protocol says (an edge streams audio to a
listener it admitted). So the proxy can serve a second, loopback-facing listener: a connection
accepted there is a connection *of this proxy*, with the same toxics on the same directions —
among them the ``shared_bandwidth`` budget the listeners' streams draw on — whose upstream end is
a local socket pair fed with incompressible junk. The junk is written only as fast as the link
takes it (the pair's buffers push back through the toxic chain), so a flood costs what the link
carries, and the harness paces how much it pulls. Flood connections draw their randomness from
negative ordinals, so they never shift the draws of the link's real connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable

from chaos.faults.server import addr
from chaos.faults.server.accept import accept_forever
from chaos.faults.server.endpoint import Endpoint

JUNK_SIZE = 64 * 1024


class JunkSource:
    """The upstream end of one flood connection: pours junk, discards what the client sends."""

    def __init__(
        self,
        sock: socket.socket,
        junk: bytes,
        loop: asyncio.AbstractEventLoop,
        on_close: Callable[[JunkSource], None],
    ) -> None:
        self.end = Endpoint(sock, loop)
        self._junk = junk
        self._on_close = on_close
        self.tasks = [loop.create_task(self._pour()), loop.create_task(self._discard())]

    async def _pour(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                await self.end.send_all(self._junk)
        self.close()

    async def _discard(self) -> None:
        with contextlib.suppress(OSError):
            while await self.end.recv(JUNK_SIZE):
                pass
        self.close()

    def close(self) -> None:
        if not self.end.closed:
            self.end.close()
            self._on_close(self)
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()


class FloodIngress:
    """The listener; ``on_client`` makes each accepted socket a connection of the proxy."""

    def __init__(self, on_client: Callable[[Endpoint, Endpoint], None]) -> None:
        self._on_client = on_client
        self._junk = os.urandom(JUNK_SIZE)
        self._listener: Endpoint | None = None
        self._task: asyncio.Task[None] | None = None
        self.sources: set[JunkSource] = set()
        self.listen: str | None = None
        """Where it listens once asked for (it keeps listening while its proxy is disabled)."""

    async def start(self, host_port: str) -> str:
        """Listen on ``host_port`` (port 0: any free one); the address bound."""
        if self._listener is not None:
            return self.listen or host_port
        sock = await addr.listen(host_port)
        loop = asyncio.get_running_loop()
        self._listener = Endpoint(sock, loop)
        self.listen = addr.bound_address(sock)
        self._task = loop.create_task(
            accept_forever(self._listener, self._accepted, f"flood ingress {self.listen}")
        )
        return self.listen

    def stop(self) -> None:
        """Close the listener and every junk source (their connections end with them)."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        for source in list(self.sources):
            source.close()

    def _accepted(self, client: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        near, far = socket.socketpair()
        self.sources.add(JunkSource(far, self._junk, loop, self.sources.discard))
        self._on_client(Endpoint(client, loop), Endpoint(near, loop))
