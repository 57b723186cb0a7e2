"""A proxied connection: two links (client→upstream and upstream→client) and their ends.

A link with no toxics forwards with ``os.splice`` (zero copy); the first toxic attached to it
switches it, without losing bytes in flight, to the chunk path: a reader task cutting the source
into chunks of up to 32 KiB, the toxic chain, and a writer task. When a link's writer is done it
closes its destination socket — a full close, as Toxiproxy does, so half-close is not propagated
— which ends the other link's reader; once both writers are done the connection is gone.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine
from enum import StrEnum
from typing import Protocol

from chaos.faults.server.chain import Chain, Configured
from chaos.faults.server.endpoint import Endpoint
from chaos.faults.server.splice import PipePool, Transfer, pump
from chaos.faults.toxics import Chunk

READ_SIZE = 32 * 1024
"""Toxiproxy's chunk size (io.Copy's buffer): what each toxic sees as one chunk."""


class Direction(StrEnum):
    UPSTREAM = "upstream"
    DOWNSTREAM = "downstream"


class Owner(Protocol):
    """The proxy side of a connection: toxics to attach, randomness, and bookkeeping hooks."""

    def link_rng(self, link: Link) -> random.Random:
        """The link's own random source (toxicity rolls and every toxic's draws)."""

    @property
    def pipes(self) -> PipePool | None: ...

    def link_started(self, link: Link) -> list[Configured]:
        """Register a live link; return the toxics of its direction to attach now."""

    def link_finished(self, link: Link) -> None:
        """Unregister a link and account its bytes."""

    def connection_closed(self, conn: Connection) -> None:
        """Forget a connection whose links are both done."""


HANDOVER = Chunk(b"", 0.0)
"""Put in a sink behind the last chunk when a link returns to splicing: its writer stops there."""


class Link:
    """One direction of one connection."""

    __slots__ = (
        "_rng",
        "chain",
        "conn",
        "direction",
        "done",
        "dst",
        "reader",
        "src",
        "tasks",
        "transfer",
        "writer",
    )

    def __init__(self, conn: Connection, direction: Direction, src: Endpoint, dst: Endpoint):
        self.conn = conn
        self.direction = direction
        self.src = src
        self.dst = dst
        self.chain: Chain | None = None
        self._rng: random.Random | None = None
        self.transfer = Transfer()
        self.reader: asyncio.Task[None] | None = None
        self.writer: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.done = False

    @property
    def rng(self) -> random.Random:
        """Made on first use: an idle connection without toxics never needs one (memory)."""
        if self._rng is None:
            self._rng = self.conn.owner.link_rng(self)
        return self._rng

    def _spawn(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def start(self, entries: list[Configured]) -> None:
        if any(entry.toxic.resets_peer for entry in entries):
            self.src.reset_on_close()
            self.dst.reset_on_close()
        pipes = self.conn.owner.pipes
        if entries or pipes is None:
            self._start_chain(entries, b"")
        else:
            self.reader = self._spawn(self._splice(pipes, None))

    def _start_chain(self, entries: list[Configured], leftover: bytes) -> None:
        """Chunk path; its writer starts after any earlier writer has flushed (byte order)."""
        self.chain = Chain(entries, self.rng)
        if leftover:
            self.chain.head_input.force(Chunk(leftover, time.monotonic()))
        self.chain.start()
        self.reader = self._spawn(self._read(self.chain))
        self.writer = self._spawn(self._write(self.chain, self.writer))

    @staticmethod
    async def _after(previous: asyncio.Task[None] | None) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait({previous})

    async def _splice(self, pipes: PipePool, previous: asyncio.Task[None] | None) -> None:
        try:
            await self._after(previous)
            if self.done:
                return
            await pump(pipes, self.src, self.dst, self.transfer)
        except asyncio.CancelledError:
            return  # a switch to the chain path or a teardown; whoever cancelled carries on
        except OSError:  # no pipe to be had (descriptor limit): copy through the chunk path
            self._start_chain([], b"")
            return
        self._writer_done()

    async def _read(self, chain: Chain) -> None:
        try:
            while data := await self.src.recv(READ_SIZE):
                self.transfer.received += len(data)
                chunk = Chunk(data, time.monotonic())
                try:
                    await chain.head_input.put(chunk)
                except asyncio.CancelledError:
                    chain.head_input.force(chunk)  # read, so it must still be delivered
                    raise
        except OSError:
            pass  # reset, or the other link closed our source: the same as end of stream
        chain.head_input.close()

    async def _write(self, chain: Chain, previous: asyncio.Task[None] | None) -> None:
        try:
            await self._after(previous)
            while (chunk := await chain.sink.get()) is not None:
                if chunk is HANDOVER:
                    return
                await self.dst.send_all(chunk.data)
                self.transfer.sent += len(chunk.data)
        except OSError:
            self.transfer.write_failed = True
        self._writer_done()

    def _writer_done(self) -> None:
        self.done = True
        self.dst.close()
        self.conn.link_done()

    async def add_toxic(self, entry: Configured) -> None:
        if self.done:
            return
        if self.chain is not None:
            await self.chain.add(entry)
            return
        reader = self.reader
        assert reader is not None
        reader.cancel()
        await asyncio.wait({reader})
        if self.done or self.conn.closed:
            return
        leftover, self.transfer.leftover = self.transfer.leftover, b""
        self._start_chain([entry], leftover)

    async def update_toxic(self, entry: Configured) -> None:
        if self.chain is not None and not self.done:
            await self.chain.update(entry)

    async def remove_toxic(self, entry: Configured) -> None:
        if self.chain is None or self.done:
            return
        await self.chain.remove(entry)
        if len(self.chain.stubs) == 1:
            await self._return_to_splice(self.chain)

    async def _return_to_splice(self, chain: Chain) -> None:
        """No toxics left: go back to zero-copy forwarding once the chain has drained.

        Nothing here waits on the network: the old writer flushes what is queued on its own
        and the splice pump starts after it, so a stalled client cannot stall the API.
        """
        pipes, reader = self.conn.owner.pipes, self.reader
        if pipes is None or reader is None or reader.done() or self.done:
            return  # the source already ended; the chain finishes the link
        reader.cancel()
        await asyncio.wait({reader})
        if self.done or not await chain.stubs[0].interrupt():
            return
        for chunk in chain.head_input.drain():
            chain.sink.force(chunk)
        chain.sink.force(HANDOVER)
        self.chain = None
        self.reader = self._spawn(self._splice(pipes, self.writer))

    def abort(self) -> None:
        self.done = True
        for task in list(self.tasks):
            task.cancel()
        if self.chain is not None:
            self.chain.abort()


class Connection:
    """A client socket, its upstream socket, and the two links between them."""

    __slots__ = ("client", "closed", "down", "ordinal", "owner", "up", "upstream")

    def __init__(self, owner: Owner, client: Endpoint, upstream: Endpoint, ordinal: int) -> None:
        self.owner = owner
        self.ordinal = ordinal
        self.client = client
        self.upstream = upstream
        self.closed = False
        self.up = Link(self, Direction.UPSTREAM, client, upstream)
        self.down = Link(self, Direction.DOWNSTREAM, upstream, client)

    def start(self) -> None:
        for link in (self.up, self.down):
            link.start(self.owner.link_started(link))

    def link_done(self) -> None:
        if self.up.done and self.down.done:
            self.close()

    def close(self) -> None:
        """Close both sockets (FIN, or RST where reset_peer set SO_LINGER 0) and stop all tasks."""
        if self.closed:
            return
        self.closed = True
        self.client.close()
        self.upstream.close()
        for link in (self.up, self.down):
            link.abort()
            self.owner.link_finished(link)
        self.owner.connection_closed(self)
