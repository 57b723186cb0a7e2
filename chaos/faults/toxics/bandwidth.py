"""``bandwidth``: limit a link to ``rate`` KB/s (1 KB = 1000 B).

Each chunk costs ``len / rate`` ms; the timer's overshoot is carried into the next chunk's sleep,
which is what keeps the long-run rate within a fraction of a percent. Chunks longer than 100 ms
worth of data are emitted in 100 ms slices so a slow link still trickles.
"""

from __future__ import annotations

import time
from typing import ClassVar

from chaos.faults.toxics.base import Chunk, Stub, Toxic, sleep_seconds

SLICE_NS = 100_000_000


def cost_ns(length: int, rate: int) -> int:
    """Nanoseconds ``length`` bytes take at ``rate`` KB/s (integer, as Go's Duration math)."""
    return length * 1_000_000 // rate


def full_slices(length: int, rate: int) -> int:
    """How many ``rate * 100``-byte slices go out 100 ms apart before the final send."""
    return max(length - 1, 0) // (rate * 100)


class BandwidthToxic(Toxic):
    type_name: ClassVar[str] = "bandwidth"
    go_struct: ClassVar[str] = "BandwidthToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("rate", "int64"),)

    def validate(self) -> str | None:
        rate = self.attributes["rate"]
        if rate <= 0:
            return (
                f"attribute rate must be a positive number of KB/s (got {rate}); "
                "Toxiproxy stalls the link on 0 and crashes on negative rates"
            )
        return None

    async def pipe(self, stub: Stub) -> None:
        rate = self.attributes["rate"]
        per_slice = rate * 100
        sleep_ns = 0
        while (chunk := await stub.receive()) is not None:
            stub.pending = chunk
            sleep_ns += cost_ns(len(chunk.data), rate)
            for _ in range(full_slices(len(chunk.data), rate)):
                await sleep_seconds(SLICE_NS / 1e9)
                piece = Chunk(chunk.data[:per_slice], chunk.stamp)
                await stub.send(piece)
                chunk.data = chunk.data[per_slice:]
                sleep_ns -= SLICE_NS
            started = time.monotonic_ns()
            await sleep_seconds(sleep_ns / 1e9)
            sleep_ns -= time.monotonic_ns() - started
            await stub.send(chunk)
            stub.pending = None
        stub.close()
