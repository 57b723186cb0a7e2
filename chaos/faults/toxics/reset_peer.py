"""``reset_peer``: on the first chunk or EOF, wait ``timeout`` ms, drop the data and close.

The close is a TCP RST only for connections that had the toxic when they were accepted (their
sockets got SO_LINGER 0 then); added to a live connection it closes with a normal FIN.
"""

from __future__ import annotations

from typing import ClassVar

from chaos.faults.toxics.base import Stub, Toxic, negative, sleep_seconds


class ResetPeerToxic(Toxic):
    type_name: ClassVar[str] = "reset_peer"
    go_struct: ClassVar[str] = "ResetToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("timeout", "int64"),)
    resets_peer: ClassVar[bool] = True

    def validate(self) -> str | None:
        return negative(self.attributes, "timeout")

    async def pipe(self, stub: Stub) -> None:
        await stub.receive()
        await sleep_seconds(self.attributes["timeout"] / 1000)
        stub.close()
