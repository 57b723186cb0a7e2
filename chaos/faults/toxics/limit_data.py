"""``limit_data``: forward ``bytes`` bytes per connection-link, truncating the chunk that
crosses the limit, then close. The count survives updates of the toxic."""

from __future__ import annotations

from typing import ClassVar

from chaos.faults.toxics.base import Chunk, Stub, Toxic, negative


class Transmitted:
    """Bytes this link has forwarded through the toxic so far."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


def allowance(limit: int, transmitted: int, length: int) -> int:
    """How many bytes of a ``length``-byte chunk may still pass."""
    return min(length, max(limit - transmitted, 0))


class LimitDataToxic(Toxic):
    type_name: ClassVar[str] = "limit_data"
    go_struct: ClassVar[str] = "LimitDataToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("bytes", "int64"),)

    def validate(self) -> str | None:
        return negative(self.attributes, "bytes")

    def new_state(self) -> object:
        return Transmitted()

    async def pipe(self, stub: Stub) -> None:
        limit = self.attributes["bytes"]
        state = stub.state
        assert isinstance(state, Transmitted)
        while (chunk := await stub.receive()) is not None:
            allowed = allowance(limit, state.count, len(chunk.data))
            if allowed > 0:
                piece = Chunk(chunk.data[:allowed], chunk.stamp)
                stub.pending = piece
                await stub.send(piece)
                stub.pending = None
                state.count += allowed
            if limit - state.count <= 0:
                break
        stub.close()
