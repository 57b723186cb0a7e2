"""Fast, deterministic judges for the search tests: pure functions of the schedule."""

from __future__ import annotations

import random

from chaos.search.schedule import Schedule
from chaos.search.space import SearchSpace
from chaos.search.vote import Run

SPACE = SearchSpace(
    links=("listener->edge", "speaker->ingest", "client->api"),
    kinds=("latency", "loss", "down"),
    window=60,
    max_faults=3,
)


def planted(schedule: Schedule) -> bool:
    """The planted weakness: latency above 300 ms on one link while loss above 2 % is on
    another (the two faults overlap in time)."""
    slow = [f for f in schedule.faults if f.kind == "latency" and f.magnitude > 300]
    lossy = [f for f in schedule.faults if f.kind == "loss" and f.magnitude > 20]
    return any(a.link != b.link and a.overlaps(b) for a in slow for b in lossy)


def planted_judge(schedule: Schedule, seed: int, timeout: float) -> Run:
    return Run(planted(schedule), 0.0, "planted")


def stable_judge(schedule: Schedule, seed: int, timeout: float) -> Run:
    return Run(False, 0.0)


def noisy_judge(flip: float) -> object:
    """The planted weakness seen through noise: each run's verdict is wrong with ``flip``
    probability, drawn from the run's seed (so the search stays reproducible)."""

    def judge(schedule: Schedule, seed: int, timeout: float) -> Run:
        wrong = random.Random(seed).random() < flip
        return Run(planted(schedule) != wrong, 0.0)

    return judge
