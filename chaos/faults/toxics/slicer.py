"""``slicer``: cut each chunk into pieces of about ``average_size`` ± ``size_variation`` bytes,
sent ``delay`` µs apart — the way real TCP segments a write."""

from __future__ import annotations

import random
from typing import ClassVar

from chaos.faults.toxics.base import Chunk, Stub, Toxic, sleep_seconds


def split(length: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Piece boundaries (ends) of a ``length``-byte chunk, by Toxiproxy's recursive halving.

    A span stays whole when it exceeds ``average`` by at most ``variation``; otherwise it is cut
    near its middle, offset by a uniform draw in [-variation, variation). Requires
    0 <= variation <= average: a cut then lands inside the span or at its start, where it
    leaves an empty piece (Toxiproxy writes it too) and the span is drawn again.
    """
    ends: list[int] = []
    spans = [(0, length)]
    while spans:
        start, end = spans.pop()
        if (end - start) - average <= variation:
            ends.append(end)
            continue
        mid = start + (end - start) // 2
        if variation > 0:
            mid += rng.randrange(2 * variation) - variation
        spans.append((mid, end))
        spans.append((start, mid))
    return ends


class SlicerToxic(Toxic):
    type_name: ClassVar[str] = "slicer"
    go_struct: ClassVar[str] = "SlicerToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (
        ("average_size", "int"),
        ("size_variation", "int"),
        ("delay", "int"),
    )

    def validate(self) -> str | None:
        average, variation = self.attributes["average_size"], self.attributes["size_variation"]
        if average <= 0:
            return (
                f"attribute average_size must be positive (got {average}); "
                "Toxiproxy recurses until it crashes on 0"
            )
        if not 0 <= variation <= average:
            return (
                f"attribute size_variation must be from 0 to average_size; Toxiproxy fails on "
                f"more (got {variation} with average_size {average})"
            )
        if self.attributes["delay"] < 0:
            return f"attribute delay must not be negative (got {self.attributes['delay']})"
        return None

    async def pipe(self, stub: Stub) -> None:
        average = self.attributes["average_size"]
        variation = self.attributes["size_variation"]
        delay = self.attributes["delay"] / 1_000_000
        while (chunk := await stub.receive()) is not None:
            stub.pending = chunk
            start = 0
            for end in split(len(chunk.data), average, variation, stub.rng):
                await stub.send(Chunk(chunk.data[start:end], chunk.stamp))
                start = end
                stub.pending = Chunk(chunk.data[start:], chunk.stamp)
                await sleep_seconds(delay)
            stub.pending = None
        stub.close()
