"""Admission control for joins: a token bucket on the join rate and least-loaded edge choice.

Sans-IO (times are passed in), so the api's refusal behaviour can be tested exactly. A refused
join is told when to come back (``Retry-After``), which is what keeps a well-behaved client
swarm from turning a storm into a retry storm.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    def __init__(self, rate: float, burst: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1, got {rate}, {burst}")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last: float | None = None

    def take(self, now: float) -> float:
        """Take a token: 0.0 if granted, otherwise the seconds until one will be available."""
        if self._last is not None:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now if self._last is None else max(self._last, now)
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    """HTTP Retry-After is whole seconds; never tell a client 0 when it was refused."""
    return str(max(1, math.ceil(seconds)))


PollOutcome = Literal["answered", "slow", "refused"]
SLOW_POLLS_DOWN = 3
"""Late polls in a row after which an edge counts as down (1.5 s at the api's 0.5 s interval)."""


@dataclass(slots=True)
class EdgeLoad:
    """What the api knows about one edge: its last report plus joins it sent there since."""

    link: str
    """Address a listener dials (maybe a fault proxy)."""
    capacity: int
    reported: int = 0
    healthy: bool = True
    recent: deque[float] = field(default_factory=deque)
    slow_polls: int = 0
    """Polls in a row that got no answer in time (a refusal counts at once; see ``polled``)."""

    def polled(self, outcome: PollOutcome) -> None:
        """Judge the edge by its latest poll. A refused or broken answer means down now; an
        answer that is only late means down after ``SLOW_POLLS_DOWN`` in a row, so a starved
        machine's one slow poll does not take a live edge out of rotation (and out of
        ``edge_up``), as health checkers' failure thresholds do."""
        if outcome == "answered":
            self.healthy, self.slow_polls = True, 0
        elif outcome == "slow":
            self.slow_polls += 1
            self.healthy = self.healthy and self.slow_polls < SLOW_POLLS_DOWN
        else:
            self.healthy = False

    def load(self, now: float, window: float) -> int:
        """Listeners it has, counting joins sent there within ``window`` s as still arriving."""
        while self.recent and self.recent[0] < now - window:
            self.recent.popleft()
        return self.reported + len(self.recent)


def pick_edge(edges: list[EdgeLoad], now: float, window: float = 2.0) -> int | None:
    """Index of the healthy edge with the lowest fill ratio and room left, or None if all full."""
    best: int | None = None
    best_ratio = math.inf
    for index, edge in enumerate(edges):
        if not edge.healthy:
            continue
        load = edge.load(now, window)
        if load >= edge.capacity:
            continue
        ratio = load / edge.capacity
        if ratio < best_ratio:
            best, best_ratio = index, ratio
    if best is not None:
        edges[best].recent.append(now)
    return best
