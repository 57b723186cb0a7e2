"""Datagram ``duplicate``: with ``probability``, a datagram is sent twice."""

from __future__ import annotations

import random
from typing import ClassVar

from chaos.faults.toxics.base import probability
from chaos.faults.toxics.datagram.base import Datagram, DatagramToxic


class DuplicateToxic(DatagramToxic):
    type_name: ClassVar[str] = "duplicate"
    go_struct: ClassVar[str] = "DuplicateToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("probability", "float64"),)

    def validate(self) -> str | None:
        return probability(self.ratios, "probability")

    def apply(self, datagram: Datagram, rng: random.Random, state: object) -> list[Datagram]:
        if rng.random() < self.ratios["probability"]:
            return [datagram, datagram]
        return [datagram]
