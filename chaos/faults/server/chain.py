"""The toxic chain of one link: stubs joined by channels, rewired while data flows.

This mirrors Toxiproxy's ``ToxicLink``: a hidden noop stub heads the chain so every toxic has a
predecessor; each stub runs its toxic — or a noop, decided by one toxicity roll per (re)start —
as a task. Interrupting a stub (cancelling its task) makes it forward what it holds at once;
adding, updating and removing a toxic interrupt exactly the stubs Toxiproxy interrupts, so the
re-roll and ordering guarantees are the same.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from typing import Protocol

from chaos.faults.toxics import NOOP, Chunk, Toxic

log = logging.getLogger(__name__)


class Channel:
    """A bounded FIFO of chunks with Go channel semantics for ``close`` (then ``None``)."""

    __slots__ = ("_capacity", "_getters", "_items", "_putters", "closed")

    def __init__(self, capacity: int) -> None:
        self._items: deque[Chunk] = deque()
        self._capacity = max(capacity, 1)
        self._getters: list[asyncio.Future[None]] = []
        self._putters: list[asyncio.Future[None]] = []
        self.closed = False

    @staticmethod
    def _wake(waiters: list[asyncio.Future[None]]) -> None:
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)
        waiters.clear()

    async def _wait(self, waiters: list[asyncio.Future[None]]) -> None:
        fut = asyncio.get_running_loop().create_future()
        waiters.append(fut)
        try:
            await fut
        finally:
            if fut in waiters:
                waiters.remove(fut)

    async def get(self) -> Chunk | None:
        while not self._items:
            if self.closed:
                return None
            await self._wait(self._getters)
        self._wake(self._putters)
        return self._items.popleft()

    async def put(self, chunk: Chunk) -> None:
        while len(self._items) >= self._capacity and not self.closed:
            await self._wait(self._putters)
        self.force(chunk)

    def force(self, chunk: Chunk) -> None:
        """Append past the capacity: for data that must not wait (an interrupted stub's)."""
        self._items.append(chunk)
        self._wake(self._getters)

    def drain(self) -> list[Chunk]:
        items = list(self._items)
        self._items.clear()
        self._wake(self._putters)
        return items

    def close(self) -> None:
        self.closed = True
        self._wake(self._getters)
        self._wake(self._putters)


class Configured(Protocol):
    """What a chain needs of a toxic entry: its behaviour and its toxicity."""

    @property
    def toxic(self) -> Toxic: ...

    @property
    def toxicity(self) -> float: ...


class _Head:
    toxic: Toxic = NOOP
    toxicity: float = 1.0


HEAD: Configured = _Head()


class ToxicStub:
    """One toxic's place in one link: its channels, held chunk, state and running task."""

    __slots__ = ("closed", "entry", "input", "output", "pending", "rng", "state", "task")

    def __init__(self, entry: Configured, input: Channel, output: Channel, rng: random.Random):
        self.entry = entry
        self.input = input
        self.output = output
        self.rng = rng
        self.pending: Chunk | None = None
        self.state: object = entry.toxic.new_state()
        self.closed = False
        self.task: asyncio.Task[None] | None = None

    async def receive(self) -> Chunk | None:
        return await self.input.get()

    async def send(self, chunk: Chunk) -> None:
        await self.output.put(chunk)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.output.close()

    def start(self) -> None:
        """Roll the toxicity once for this run, then run the toxic or a noop."""
        acting = self.rng.random() < self.entry.toxicity
        self.task = asyncio.get_running_loop().create_task(
            self._run(self.entry.toxic if acting else NOOP)
        )

    async def _run(self, toxic: Toxic) -> None:
        try:
            await toxic.pipe(self)
        except asyncio.CancelledError:
            # Interrupted: pass on what we hold, at once, ahead of anything newer.
            if self.pending is not None and not self.closed:
                self.output.force(self.pending)
            self.pending = None
        except Exception:  # a toxic bug must end this link, not the server
            log.exception("toxic %s failed; closing its link", type(toxic).__name__)
            self.close()

    async def interrupt(self) -> bool:
        """Stop the running toxic; False if the stub had already closed (the link is ending)."""
        if self.closed or self.task is None:
            return False
        self.task.cancel()
        await asyncio.wait({self.task})
        return not self.closed


class Chain:
    """The stubs of one link, from the hidden head to the writer's channel (``sink``)."""

    __slots__ = ("head_input", "rng", "sink", "stubs")

    def __init__(self, entries: list[Configured], rng: random.Random) -> None:
        self.rng = rng
        self.head_input = Channel(1)
        self.sink = Channel(1)
        chain = [HEAD, *entries]
        inputs = [self.head_input] + [Channel(entry.toxic.buffer_size) for entry in entries]
        outputs = [*inputs[1:], self.sink]
        self.stubs = [
            ToxicStub(entry, i, o, rng) for entry, i, o in zip(chain, inputs, outputs, strict=True)
        ]

    def start(self) -> None:
        for stub in self.stubs:
            stub.start()

    def _index(self, entry: Configured) -> int | None:
        for index, stub in enumerate(self.stubs):
            if stub.entry is entry:
                return index
        return None

    async def add(self, entry: Configured) -> None:
        last = self.stubs[-1]
        stub = ToxicStub(entry, Channel(entry.toxic.buffer_size), last.output, self.rng)
        self.stubs.append(stub)
        if await last.interrupt():
            last.output = stub.input
            stub.start()
            last.start()
        else:
            stub.closed = True

    async def update(self, entry: Configured) -> None:
        index = self._index(entry)
        if index is not None and await self.stubs[index].interrupt():
            self.stubs[index].start()

    async def remove(self, entry: Configured) -> None:
        index = self._index(entry)
        if index is None:
            return
        stub = self.stubs[index]
        if not await stub.interrupt():
            return
        if entry.toxic.closes_on_removal:
            stub.close()
            return
        previous = self.stubs[index - 1]
        restart = await previous.interrupt()
        for chunk in stub.input.drain():
            stub.output.force(chunk)
        if stub.input.closed:
            stub.close()
            return
        previous.output = stub.output
        del self.stubs[index]
        if restart:
            previous.start()

    def abort(self) -> None:
        """Stop every stub at once (the connection is being torn down)."""
        for stub in self.stubs:
            stub.closed = True
            if stub.task is not None:
                stub.task.cancel()
