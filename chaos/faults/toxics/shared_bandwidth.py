"""``shared_bandwidth``: one link capacity shared fairly by every connection of a proxy direction.

Toxiproxy's ``bandwidth`` limits each connection alone, so twenty competing connections get
twenty times the capacity (Toxiproxy #190, #613) and a flood never saturates anything. Here the
toxic entry — one per proxy and stream — owns one ``SharedLink``: every connection-link reserves
transmission slots of at most one quantum on the same clock. A link asks for its next slot only
after its current one began, so the slots of backlogged connections interleave round robin: each
of N busy connections gets 1/N of ``rate``, a light one gets all it asks for within about one
round, and the total never exceeds ``rate`` (plus one quantum). ``rate`` is in KB/s (1 KB = 1000
B) as for ``bandwidth``; 10 Mbit/s is 1250.

A round is N slots, so the quantum shrinks as connections get busy: 2 ms of link time split
between them, never below one MSS. A listener's frame then waits at most about max(2 ms,
N·MSS/rate) behind a flood of N flows (fq_codel's MTU quantum, in effect), where a fixed 2 ms
quantum made it wait N·2 ms (200 ms behind 100 flows: a stall); wake-ups stay bounded by
rate/MSS and by 500 per busy connection per second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import ClassVar

from chaos.faults.toxics.base import Chunk, Stub, Toxic, ToxicSchema, sleep_until

MIN_QUANTUM = 1448
"""One MSS: the smallest slot, so fairness is per segment at low rates."""
QUANTUM_SECONDS = 0.002
"""At high rates a slot is 2 ms of link time, to bound timer wake-ups to ~500/s per link."""


def quantum(rate_bytes: float, busy: int = 1) -> int:
    """The largest slot when ``busy`` connections have data to send."""
    return max(MIN_QUANTUM, int(rate_bytes * QUANTUM_SECONDS / max(1, busy)))


class SharedLink:
    """The link's transmission clock (pure: the caller passes the time)."""

    __slots__ = ("busy", "free_at", "rate")

    def __init__(self, rate_bytes: float) -> None:
        self.rate = rate_bytes
        self.free_at = 0.0
        self.busy = 0
        """Connections holding data to send now (the slots of one round)."""

    def reserve(self, nbytes: int, now: float) -> float:
        """Book ``nbytes`` of link time; return when they may go (an idle link has no credit)."""
        start = max(self.free_at, now)
        self.free_at = start + nbytes / self.rate
        return start


class SharedBandwidthToxic(Toxic):
    type_name: ClassVar[str] = "shared_bandwidth"
    go_struct: ClassVar[str] = "SharedBandwidthToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("rate", "int64"),)

    def __init__(self, attributes: Mapping[str, float]) -> None:
        super().__init__(attributes)
        self.link = SharedLink(max(self.attributes["rate"], 1) * 1000)

    def succeed(self, previous: ToxicSchema) -> None:
        """An update changes the rate of the same link: bookings already made stay made."""
        if isinstance(previous, SharedBandwidthToxic):
            previous.link.rate = self.link.rate
            self.link = previous.link

    def validate(self) -> str | None:
        rate = self.attributes["rate"]
        if rate <= 0:
            return f"attribute rate must be a positive number of KB/s (got {rate})"
        return None

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.receive()) is not None:
            data, link = chunk.data, self.link
            link.busy += 1
            try:
                while data:
                    stub.pending = Chunk(data, chunk.stamp)
                    piece = data[: quantum(link.rate, link.busy)]
                    await sleep_until(link.reserve(len(piece), time.monotonic()))
                    await stub.send(Chunk(piece, chunk.stamp))
                    data = data[len(piece) :]
            finally:
                link.busy -= 1
            stub.pending = None
        stub.close()
