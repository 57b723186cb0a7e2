"""``noop``: passes data unchanged; also the hidden head of every chain and a toxic that lost
its toxicity roll."""

from __future__ import annotations

from typing import ClassVar

from chaos.faults.toxics.base import Stub, Toxic


class NoopToxic(Toxic):
    type_name: ClassVar[str] = "noop"
    go_struct: ClassVar[str] = "NoopToxic"

    async def pipe(self, stub: Stub) -> None:
        while (chunk := await stub.receive()) is not None:
            stub.pending = chunk
            await stub.send(chunk)
            stub.pending = None
        stub.close()


NOOP = NoopToxic({})
