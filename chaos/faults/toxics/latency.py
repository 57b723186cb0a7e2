"""``latency``: every chunk is released at its arrival time plus latency ± jitter.

The deadline is measured from arrival, not from when the toxic got the chunk, so chunks queued
behind a long delay are pipelined (FIFO) instead of adding up: ten writes 20 ms apart with
latency 200 all arrive about 380 ms after the first.
"""

from __future__ import annotations

import random
import time
from typing import ClassVar

from chaos.faults.toxics.base import Stub, Toxic, negative, sleep_until


def delay_ms(latency: int, jitter: int, rng: random.Random) -> int:
    """Toxiproxy's draw: uniform integer ms in [latency - jitter, latency + jitter - 1]."""
    if jitter > 0:
        return latency + rng.randrange(2 * jitter) - jitter
    return latency


def wait_seconds(delay: int, stamp: float, now: float) -> float:
    """How long to hold a chunk that arrived at ``stamp`` (≤ 0: already late, send now)."""
    return delay / 1000 - (now - stamp)


class LatencyToxic(Toxic):
    type_name: ClassVar[str] = "latency"
    go_struct: ClassVar[str] = "LatencyToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("latency", "int64"), ("jitter", "int64"))
    buffer_size: ClassVar[int] = 1024

    def validate(self) -> str | None:
        return negative(self.attributes, "latency", "jitter")

    async def pipe(self, stub: Stub) -> None:
        latency, jitter = self.attributes["latency"], self.attributes["jitter"]
        while (chunk := await stub.receive()) is not None:
            stub.pending = chunk
            wait = wait_seconds(delay_ms(latency, jitter, stub.rng), chunk.stamp, time.monotonic())
            await sleep_until(time.monotonic() + wait)
            # Like Toxiproxy, the stamp moves by the wait so a later latency toxic adds its own.
            chunk.stamp += wait
            await stub.send(chunk)
            stub.pending = None
        stub.close()
