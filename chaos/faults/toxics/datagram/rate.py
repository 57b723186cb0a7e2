"""Datagram ``rate``: a ``rate`` KB/s link with a ``queue`` ms buffer that tail-drops.

Datagrams are paced at the rate, all sessions of the proxy direction sharing it as one path;
one that would wait more than ``queue`` ms in the buffer is dropped, as a router's full queue
drops — UDP senders are not slowed down by anything else.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import ClassVar

from chaos.faults.toxics.base import negative
from chaos.faults.toxics.datagram.base import Datagram, DatagramToxic
from chaos.faults.toxics.shared_bandwidth import SharedLink

DEFAULT_QUEUE_MS = 200


class RateToxic(DatagramToxic):
    type_name: ClassVar[str] = "rate"
    go_struct: ClassVar[str] = "RateToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("rate", "int64"), ("queue", "int64"))
    defaults: ClassVar[dict[str, float]] = {"queue": DEFAULT_QUEUE_MS}

    def validate(self) -> str | None:
        if self.attributes["rate"] <= 0:
            return (
                f"attribute rate must be a positive number of KB/s (got {self.attributes['rate']})"
            )
        return negative(self.attributes, "queue")

    def new_state(self) -> object:
        return SharedLink(self.attributes["rate"] * 1000)

    def apply(self, datagram: Datagram, rng: random.Random, state: object) -> list[Datagram]:
        assert isinstance(state, SharedLink)
        state.rate = self.attributes["rate"] * 1000  # an update takes effect on the same queue
        if state.free_at - datagram.due > self.attributes["queue"] / 1000:
            return []
        return [replace(datagram, due=state.reserve(len(datagram.data), datagram.due))]
