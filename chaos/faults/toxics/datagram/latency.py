"""Datagram ``latency``: each datagram is delayed by ``latency`` ± ``jitter`` ms on its own.

Unlike the TCP toxic there is no FIFO: a datagram drawn a short delay overtakes one drawn a
long delay, which is how jitter reorders packets on a real path.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import ClassVar

from chaos.faults.toxics.base import negative
from chaos.faults.toxics.datagram.base import Datagram, DatagramToxic
from chaos.faults.toxics.latency import delay_ms


class DatagramLatencyToxic(DatagramToxic):
    type_name: ClassVar[str] = "latency"
    go_struct: ClassVar[str] = "DatagramLatencyToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("latency", "int64"), ("jitter", "int64"))

    def validate(self) -> str | None:
        return negative(self.attributes, "latency", "jitter")

    def apply(self, datagram: Datagram, rng: random.Random, state: object) -> list[Datagram]:
        """The TCP toxic's draw; a negative one (jitter above latency) sends at once, as there."""
        delay = delay_ms(self.attributes["latency"], self.attributes["jitter"], rng)
        return [replace(datagram, due=datagram.due + max(delay, 0) / 1000)]
