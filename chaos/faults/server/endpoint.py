"""A non-blocking socket the event loop watches only while someone waits on it.

Data-path code uses raw sockets (``os.splice`` needs file descriptors, and a transport's buffers
would cost memory per idle connection). The one rule that keeps this safe: a descriptor is
unregistered from the loop *before* it is closed, synchronously, so a recycled descriptor number
can never receive another socket's events. ``close`` wakes any waiter with
``ConnectionAbortedError``, which is how the other direction of a connection learns that its
source is gone.
"""

from __future__ import annotations

import asyncio
import socket
import struct


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class Endpoint:
    __slots__ = ("_read_waiter", "_write_waiter", "closed", "fd", "loop", "sock")

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.loop = loop
        self.closed = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._write_waiter: asyncio.Future[None] | None = None

    async def wait_readable(self) -> None:
        if self.closed:
            raise ConnectionAbortedError("socket closed")
        fut = self.loop.create_future()
        self._read_waiter = fut
        self.loop.add_reader(self.fd, _wake, fut)
        try:
            await fut
        finally:
            if not self.closed:
                self.loop.remove_reader(self.fd)
            self._read_waiter = None

    async def wait_writable(self) -> None:
        if self.closed:
            raise ConnectionAbortedError("socket closed")
        fut = self.loop.create_future()
        self._write_waiter = fut
        self.loop.add_writer(self.fd, _wake, fut)
        try:
            await fut
        finally:
            if not self.closed:
                self.loop.remove_writer(self.fd)
            self._write_waiter = None

    async def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes; ``b""`` at end of stream. Raises OSError on reset or close."""
        while True:
            try:
                return self.sock.recv(size)
            except BlockingIOError:
                await self.wait_readable()

    async def send_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = self.sock.send(view)
            except BlockingIOError:
                await self.wait_writable()
                continue
            view = view[sent:]

    def reset_on_close(self) -> None:
        """SO_LINGER 0: closing sends a TCP RST instead of a FIN (reset_peer's effect)."""
        if not self.closed:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for waiter, remove in (
            (self._read_waiter, self.loop.remove_reader),
            (self._write_waiter, self.loop.remove_writer),
        ):
            if waiter is not None:
                remove(self.fd)
                if not waiter.done():
                    waiter.set_exception(ConnectionAbortedError("socket closed"))
        self.sock.close()
