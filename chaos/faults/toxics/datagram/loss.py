"""Datagram ``loss``: drop datagrams, independently or in Gilbert–Elliott bursts.

The same attributes and loss process as the TCP ``loss`` toxic (``probability``, or ``p``,
``r``, ``h``, ``k``), but a lost datagram is simply gone: UDP does not retransmit.
"""

from __future__ import annotations

import random
from typing import ClassVar

from chaos.faults.toxics.base import probability
from chaos.faults.toxics.datagram.base import Datagram, DatagramToxic
from chaos.faults.toxics.loss import LossModel, LossState, lost


class DatagramLossToxic(DatagramToxic):
    type_name: ClassVar[str] = "loss"
    go_struct: ClassVar[str] = "DatagramLossToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (
        ("probability", "float64"),
        ("p", "float64"),
        ("r", "float64"),
        ("h", "float64"),
        ("k", "float64"),
    )
    defaults: ClassVar[dict[str, float]] = {"h": 1.0}

    def validate(self) -> str | None:
        problem = probability(self.ratios, *self.ratios)
        if problem is None and self.ratios["p"] > 0 and self.ratios["r"] == 0:
            return "attribute r must be above 0 when p is: the bad state would never end"
        return problem

    def new_state(self) -> object:
        return LossState()

    def apply(self, datagram: Datagram, rng: random.Random, state: object) -> list[Datagram]:
        assert isinstance(state, LossState)
        return [] if lost(LossModel(**self.ratios), state, rng) else [datagram]
