"""Datagram ``corrupt``: with ``probability``, one random bit of a datagram is flipped.

What a bad link does to a payload its checksum did not catch, e.g. RTP media with UDP checksums
off; the receiver's decoder has to cope.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import ClassVar

from chaos.faults.toxics.base import probability
from chaos.faults.toxics.datagram.base import Datagram, DatagramToxic


def flip_bit(data: bytes, bit: int) -> bytes:
    corrupted = bytearray(data)
    corrupted[bit // 8] ^= 1 << (bit % 8)
    return bytes(corrupted)


class CorruptToxic(DatagramToxic):
    type_name: ClassVar[str] = "corrupt"
    go_struct: ClassVar[str] = "CorruptToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (("probability", "float64"),)

    def validate(self) -> str | None:
        return probability(self.ratios, "probability")

    def apply(self, datagram: Datagram, rng: random.Random, state: object) -> list[Datagram]:
        if datagram.data and rng.random() < self.ratios["probability"]:
            bit = rng.randrange(len(datagram.data) * 8)
            return [replace(datagram, data=flip_bit(datagram.data, bit))]
        return [datagram]
