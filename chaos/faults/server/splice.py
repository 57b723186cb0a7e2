"""Zero-copy forwarding with ``os.splice`` (Linux) for links that have no toxics.

Bytes move socket → pipe → socket inside the kernel; Python only sees counts. A pipe is borrowed
from a small pool while data is in flight and returned once it is drained, so an idle connection
holds no pipe (file descriptors are the scarce resource at 10,000 connections).
"""

from __future__ import annotations

import fcntl
import os

from chaos.faults.server.endpoint import Endpoint

PIPE_SIZE = 1 << 20
_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
_POOL_LIMIT = 64


def available() -> bool:
    return hasattr(os, "splice")


class PipePool:
    """Idle, empty pipes ready for the next transfer."""

    def __init__(self) -> None:
        self._idle: list[tuple[int, int]] = []
        self._size = PIPE_SIZE

    def acquire(self) -> tuple[int, int]:
        if self._idle:
            return self._idle.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, self._size)
        except OSError:
            self._size = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
        return r, w

    def release(self, pipe: tuple[int, int]) -> None:
        if len(self._idle) < _POOL_LIMIT:
            self._idle.append(pipe)
        else:
            os.close(pipe[0])
            os.close(pipe[1])

    def close(self) -> None:
        for r, w in self._idle:
            os.close(r)
            os.close(w)
        self._idle.clear()


class Transfer:
    """Counts of one link's spliced bytes, and what was read but not yet written when stopped."""

    __slots__ = ("leftover", "received", "sent", "write_failed")

    def __init__(self) -> None:
        self.received = 0
        self.sent = 0
        self.write_failed = False
        self.leftover = b""


async def pump(pool: PipePool, src: Endpoint, dst: Endpoint, transfer: Transfer) -> None:
    """Forward ``src`` to ``dst`` until ``src`` ends or fails, or ``dst`` fails.

    If cancelled while holding bytes in a pipe, those bytes end up in ``transfer.leftover`` so
    the caller can hand them to the toxic chain that takes over. Sockets are named by
    ``sock.fileno()`` at each call: once the other link has closed one it is -1 (EBADF), never a
    descriptor number the kernel has since given to another connection.
    """
    while True:
        pipe = pool.acquire()
        pending = 0
        try:
            try:
                pending = os.splice(src.sock.fileno(), pipe[1], PIPE_SIZE, flags=_FLAGS)
            except BlockingIOError:
                pending = -1
            except OSError:
                return
            if pending == 0:
                return
            if pending > 0:
                transfer.received += pending
                if not await _drain(pipe[0], dst, pending, transfer):
                    return
                pending = 0
        finally:
            if pending > 0:
                transfer.leftover = _read_all(pipe[0])
            pool.release(pipe)
        if pending < 0:
            try:
                await src.wait_readable()
            except OSError:
                return


def _read_all(pipe_r: int) -> bytes:
    """Empty a pipe (so it can go back to the pool) and return what it held."""
    parts: list[bytes] = []
    while True:
        try:
            part = os.read(pipe_r, PIPE_SIZE)
        except OSError:
            break
        if not part:
            break
        parts.append(part)
    return b"".join(parts)


async def _drain(pipe_r: int, dst: Endpoint, pending: int, transfer: Transfer) -> bool:
    """Write ``pending`` bytes from the pipe to ``dst``; False (and write_failed) on failure."""
    while pending:
        try:
            moved = os.splice(pipe_r, dst.sock.fileno(), pending, flags=_FLAGS)
        except BlockingIOError:
            try:
                await dst.wait_writable()
            except OSError:
                transfer.write_failed = True
                return False
            continue
        except OSError:
            transfer.write_failed = True
            return False
        pending -= moved
        transfer.sent += moved
    return True
