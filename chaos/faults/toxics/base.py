"""The one small interface every toxic implements, and what a toxic sees of its link.

A toxic type is a class: its attribute schema (for Go-compatible decoding and JSON field order),
a ``validate`` that names values Toxiproxy would crash or stall on, and ``pipe`` — the coroutine
that moves chunks from the stub's input to its output, as Toxiproxy's ``Pipe(*ToxicStub)``.
``pipe`` is interrupted by cancellation; whatever it still holds is kept in ``stub.pending`` and
the stub forwards it at once, so an update or removal never drops data on the floor.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Protocol

from chaos.faults import timer
from chaos.faults.timer import MAX_SLEEP_SECONDS as MAX_SLEEP_SECONDS


@dataclass(slots=True)
class Chunk:
    """One read from a socket (at most 32 KiB) and when it arrived (monotonic seconds)."""

    data: bytes
    stamp: float


class Stub(Protocol):
    """What ``pipe`` may use: the channel ends, the pending slot, randomness, per-link state."""

    pending: Chunk | None
    state: object
    rng: random.Random

    async def receive(self) -> Chunk | None:
        """The next chunk, or None once the source ended (the input channel was closed)."""

    async def send(self, chunk: Chunk) -> None:
        """Pass a chunk on (waits while the next stage is full)."""

    def close(self) -> None:
        """End the link from here: the output closes and the writer closes its socket."""


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline`` — never return before it.

    On the loop's precise timer (``chaos.faults.timer``: a ``timerfd`` woken by the kernel at
    the deadline, tens of microseconds late), not its own: uvloop's timers are whole
    milliseconds counted from a clock cached at the start of the loop iteration, so they fire up
    to a millisecond early or late, and a chunk released early or late is a latency error.
    """
    await timer.sleep_until(deadline)


async def sleep_seconds(seconds: float) -> None:
    """Sleep, clamped to what an event loop can schedule; non-positive returns at once."""
    if seconds > 0:
        await asyncio.sleep(min(seconds, MAX_SLEEP_SECONDS))


class ToxicSchema(ABC):
    """A configured toxic of one type, whatever it runs on (a byte stream or datagrams).

    Integer attributes (Toxiproxy's ``int``/``int64`` fields) are in ``attributes``; probabilities
    of our extension types (Go ``float64`` fields) in ``ratios``, so the standard toxics keep
    plain integer arithmetic. ``values()`` is both, in the type's field order, as the API shows.
    """

    type_name: ClassVar[str]
    go_struct: ClassVar[str]
    """The Go struct name, which appears in Toxiproxy's decode error messages."""
    fields: ClassVar[tuple[tuple[str, str], ...]] = ()
    """(JSON name, Go type) per attribute, in the order Toxiproxy emits them."""
    defaults: ClassVar[dict[str, float]] = {}
    """Values of attributes a create body leaves out (Toxiproxy's types all default to 0)."""

    def __init__(self, attributes: Mapping[str, float]) -> None:
        self.attributes: dict[str, int] = {
            name: int(attributes.get(name, 0)) for name, go in self.fields if go != "float64"
        }
        self.ratios: dict[str, float] = {
            name: float(attributes.get(name, 0.0)) for name, go in self.fields if go == "float64"
        }

    def values(self) -> dict[str, float]:
        """Every attribute in field order: what the API echoes and what an update merges over."""
        return {
            name: self.ratios[name] if go == "float64" else self.attributes[name]
            for name, go in self.fields
        }

    def succeed(self, previous: ToxicSchema) -> None:  # noqa: B027 - most toxics keep nothing
        """Take over what must outlive an update from the instance this one replaces."""

    def validate(self) -> str | None:
        """Why these attribute values are refused (Toxiproxy would crash or stall), or None."""
        return None

    def new_state(self) -> object:
        """Per connection-link (or per datagram direction) state that survives updates."""
        return None


class Toxic(ToxicSchema):
    """A toxic on a TCP byte stream: a stage of a link's chain, as in Toxiproxy."""

    buffer_size: ClassVar[int] = 1
    """Chunks buffered in front of the stub (Toxiproxy: 1024 for latency, else unbuffered)."""
    closes_on_removal: ClassVar[bool] = False
    """Removing the toxic closes every connection it is attached to (timeout's Cleanup)."""
    resets_peer: ClassVar[bool] = False
    """Sockets of links that have it at accept get SO_LINGER 0, so its close is a TCP RST."""

    @abstractmethod
    async def pipe(self, stub: Stub) -> None:
        """Move chunks from input to output until the input ends or the link is closed."""


def probability(ratios: Mapping[str, float], *names: str) -> str | None:
    """The shared check for probabilities: fractions from 0 to 1 (0.05 is 5 %)."""
    for name in names:
        value = ratios[name]
        if not 0 <= value <= 1:
            return f"attribute {name} must be a probability from 0 to 1 (got {value:g})"
    return None


def negative(attributes: dict[str, int], *names: str) -> str | None:
    """The shared check for attributes that are durations or sizes and so cannot be negative."""
    for name in names:
        if attributes[name] < 0:
            return f"attribute {name} must not be negative (got {attributes[name]})"
    return None
