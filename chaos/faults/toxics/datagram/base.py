"""The datagram toxic interface: a pure function from one datagram to what leaves, and when.

A UDP proxy has no byte stream to hold back, so a datagram toxic is not a chain stage but a step
``apply(datagram, rng, state) -> datagrams``: it may drop it (``[]``), delay it (a later
``due``), duplicate or alter it. The proxy folds every toxic of a direction over each datagram,
in creation order, and sends each result at its ``due`` time. Delays do not queue behind each
other, so jitter reorders datagrams, as on a real network.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from dataclasses import dataclass

from chaos.faults.toxics.base import ToxicSchema


@dataclass(frozen=True, slots=True)
class Datagram:
    data: bytes
    due: float
    """When it may be sent, in ``time.monotonic()`` seconds, the clock of the precise timer
    that sends it (its arrival until a toxic delays it)."""


class DatagramToxic(ToxicSchema):
    """A toxic of a UDP proxy; ``state`` (from ``new_state``) is per proxy and direction."""

    @abstractmethod
    def apply(self, datagram: Datagram, rng: random.Random, state: object) -> list[Datagram]:
        """What becomes of one datagram."""


def apply_all(
    steps: list[tuple[DatagramToxic, float, object]], datagram: Datagram, rng: random.Random
) -> list[Datagram]:
    """Fold (toxic, toxicity, state) steps over one datagram; each toxic acts with probability
    ``toxicity`` per datagram (the datagram analogue of Toxiproxy's per-connection roll)."""
    out = [datagram]
    for toxic, toxicity, state in steps:
        acting = rng.random() < toxicity
        out = [r for d in out for r in (toxic.apply(d, rng, state) if acting else [d])]
    return out
