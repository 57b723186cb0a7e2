"""``loss`` on a TCP link: a lost segment stalls the stream for a retransmission timeout.

TCP never hands the application a gap: a lost segment is sent again after the retransmission
timeout (RTO), doubled on each further loss of the same segment, and everything behind it waits
(head-of-line blocking). Dropping bytes, as Toxiproxy users try with ``limit_data`` or
``timeout``, tests nothing real (Toxiproxy #87, #100, #578). So this toxic cuts each chunk into
``mss``-byte segments, decides per transmission whether it is lost — independently with
``probability``, or bursty with a Gilbert–Elliott chain (``p`` good→bad, ``r`` bad→good, loss
``h`` in the bad state and ``k`` in the good one) when ``p`` > 0 — and releases every byte, in
order, no earlier than its segment's arrival plus its stalls.

The chain steps once per transmission. While a segment waits for its retransmission the sender
keeps sending (TCP's window), so the chain also steps once per segment slot of the timeout, at
the link's recent segment rate: a burst of a few segments is usually over by the time the
retransmission goes out, as on a real path, instead of swallowing retransmission after
retransmission.

The decisions are pure functions of the link's random source (seeded per link by the server) so
the same seed and the same traffic stall the same segments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

from chaos.faults.toxics.base import Chunk, Stub, Toxic, negative, probability, sleep_until

DEFAULT_RTO_MS = 200
"""Linux's minimum RTO, which is what a loopback or LAN path sees."""
MAX_RTO_MS = 120_000
"""Linux's TCP_RTO_MAX: the backoff stops doubling here."""
DEFAULT_MSS = 1448
"""An Ethernet MSS with TCP timestamps (1500 - 20 IP - 32 TCP)."""


@dataclass(slots=True)
class LossModel:
    """The loss process: Gilbert–Elliott when ``p`` > 0, else independent with ``probability``."""

    probability: float = 0.0
    p: float = 0.0
    r: float = 0.0
    h: float = 1.0
    k: float = 0.0

    @property
    def bursty(self) -> bool:
        return self.p > 0

    def mean_loss(self) -> float:
        """The long-run fraction of transmissions lost."""
        if not self.bursty:
            return self.probability
        return (self.p * self.h + self.r * self.k) / (self.p + self.r)


MAX_SLOTS_PER_TIMEOUT = 10_000
"""Bounds the chain steps a timeout costs (a fast link and a long backoff)."""


@dataclass(slots=True)
class LossState:
    """Per connection-link, surviving updates of the toxic: the chain's state, the time before
    which nothing may be released (a stalled segment holds back everything behind it), and the
    link's recent time per segment (for the chain steps during a timeout)."""

    bad: bool = False
    floor: float = 0.0
    segment_ms: float = 1.0
    last_stamp: float | None = None

    def observe(self, stamp: float, count: int) -> None:
        """Track the segment rate: an average over the last few chunks' arrivals."""
        if self.last_stamp is not None and stamp > self.last_stamp:
            sample = (stamp - self.last_stamp) * 1000 / count
            self.segment_ms = max(0.8 * self.segment_ms + 0.2 * sample, 1e-3)
        self.last_stamp = stamp


def step(model: LossModel, state: LossState, rng: random.Random) -> None:
    """One segment slot of the Gilbert–Elliott chain (nothing to do for independent loss)."""
    if model.bursty:
        state.bad = rng.random() >= model.r if state.bad else rng.random() < model.p


def lost(model: LossModel, state: LossState, rng: random.Random) -> bool:
    """One transmission: step the chain (bursty) and draw whether it is lost."""
    if not model.bursty:
        return rng.random() < model.probability
    step(model, state, rng)
    return rng.random() < (model.h if state.bad else model.k)


def stall_ms(model: LossModel, state: LossState, rng: random.Random, rto_ms: int) -> int:
    """How long one segment is held: the sum of the timeouts of its lost transmissions."""
    stall, timeout = 0, rto_ms
    while lost(model, state, rng):
        stall += timeout
        for _ in range(min(int(timeout / state.segment_ms), MAX_SLOTS_PER_TIMEOUT)):
            step(model, state, rng)
        timeout = min(timeout * 2, MAX_RTO_MS)
    return stall


def release_schedule(
    length: int, mss: int, stamp: float, stalls: list[int], floor: float
) -> list[tuple[int, float]]:
    """(end offset, release time) of the pieces of one chunk, in order.

    Segment ``i`` (``stalls[i]`` ms) may go at ``stamp + stall`` but never before anything ahead
    of it; consecutive segments with the same release time form one piece.
    """
    pieces: list[tuple[int, float]] = []
    for index, stall in enumerate(stalls):
        floor = max(floor, stamp + stall / 1000)
        end = min((index + 1) * mss, length)
        if pieces and pieces[-1][1] == floor:
            pieces[-1] = (end, floor)
        else:
            pieces.append((end, floor))
    return pieces


def segments(length: int, mss: int) -> int:
    return -(-length // mss)


class LossToxic(Toxic):
    type_name: ClassVar[str] = "loss"
    go_struct: ClassVar[str] = "LossToxic"
    fields: ClassVar[tuple[tuple[str, str], ...]] = (
        ("probability", "float64"),
        ("p", "float64"),
        ("r", "float64"),
        ("h", "float64"),
        ("k", "float64"),
        ("rto", "int64"),
        ("mss", "int64"),
    )
    defaults: ClassVar[dict[str, float]] = {"h": 1.0, "rto": DEFAULT_RTO_MS, "mss": DEFAULT_MSS}
    buffer_size: ClassVar[int] = 1024

    @property
    def model(self) -> LossModel:
        return LossModel(**self.ratios)

    def validate(self) -> str | None:
        problem = probability(self.ratios, "probability", "p", "r", "h", "k")
        problem = problem or negative(self.attributes, "rto", "mss")
        if problem:
            return problem
        model = self.model
        if self.attributes["mss"] == 0 or self.attributes["rto"] == 0:
            return "attributes rto (ms) and mss (bytes) must be positive"
        if model.bursty and model.r == 0:
            return "attribute r must be above 0 when p is: the bad state would never end"
        if (model.k if model.bursty else model.probability) == 1:
            return "a loss probability of 1 in the good state loses every retransmission forever"
        return None

    def new_state(self) -> object:
        return LossState()

    async def pipe(self, stub: Stub) -> None:
        model, rto, mss = self.model, self.attributes["rto"], self.attributes["mss"]
        state = stub.state
        assert isinstance(state, LossState)
        while (chunk := await stub.receive()) is not None:
            stub.pending = chunk
            count = segments(len(chunk.data), mss)
            state.observe(chunk.stamp, count)
            stalls = [stall_ms(model, state, stub.rng, rto) for _ in range(count)]
            schedule = release_schedule(len(chunk.data), mss, chunk.stamp, stalls, state.floor)
            start = 0
            for end, release in schedule:
                stub.pending = Chunk(chunk.data[start:], chunk.stamp)
                await sleep_until(release)
                state.floor = release
                await stub.send(Chunk(chunk.data[start:end], chunk.stamp))
                start = end
            stub.pending = None
        stub.close()
