"""``slow_close``: data passes; when the source ends, wait ``delay`` ms before closing."""

from __future__ import annotations

from typing import ClassVar

from chaos.faults.toxics.base import Stub, Toxic, negative, sleep_seconds


class SlowCloseToxic(Toxic):
    type_name: ClassVar[str] = "slow_close"
    go_struct: ClassVar[str] = "SlowCloseToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("delay", "int64"),)

    def validate(self) -> str | None:
        return negative(self.attributes, "delay")

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.receive()) is not None:
            stub.pending = chunk
            await stub.send(chunk)
            stub.pending = None
        await sleep_seconds(self.attributes["delay"] / 1000)
        stub.close()
