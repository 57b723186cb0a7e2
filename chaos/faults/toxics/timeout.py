"""``timeout``: drop all data; close the link after ``timeout`` ms without a new chunk.

Every arriving chunk restarts the timer; 0 means never close by itself. Removing the toxic closes
every connection it is attached to (Toxiproxy's Cleanup), even where its toxicity roll lost.
"""

from __future__ import annotations

import asyncio
from typing import ClassVar

from chaos.faults.toxics.base import MAX_SLEEP_SECONDS, Stub, Toxic, negative


class TimeoutToxic(Toxic):
    type_name: ClassVar[str] = "timeout"
    go_struct: ClassVar[str] = "TimeoutToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("timeout", "int64"),)
    closes_on_removal: ClassVar[bool] = True

    def validate(self) -> str | None:
        return negative(self.attributes, "timeout")

    async def pipe(self, stub: Stub) -> None:
        timeout = self.attributes["timeout"] / 1000
        while True:
            if timeout > 0:
                try:
                    async with asyncio.timeout(min(timeout, MAX_SLEEP_SECONDS)):
                        chunk = await stub.receive()
                except TimeoutError:
                    break
            else:
                chunk = await stub.receive()
            if chunk is None:
                break
        stub.close()
