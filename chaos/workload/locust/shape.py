"""An experiment's arrival curve as a Locust load shape: how many users at each moment.

Locust has no per-user arrival times; its master asks a ``LoadTestShape`` once a second for a
user count and a spawn rate, and deals the users out to its workers. Each tick aims at the
count the schedule reaches one tick later, at the rate that gets there by then, so the curve is
followed linearly at Locust's one-second resolution (a storm spread over less than a second
arrives over one). Leaves (sessions, churn, a falling incident curve) lower the count; Locust
then stops that many users. Pure: the shape is computed from the seeded schedule.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass

from chaos.workload.arrivals import Schedule

#: Seconds between the Locust master's shape ticks (fixed by Locust).
TICK = 1.0
#: Arrivals and leaves are rounded up to this grid: finer than a tick is lost on Locust anyway,
#: and the shape travels in a command-line option, so a storm of millions must stay small.
GRID = 0.25


@dataclass(frozen=True, slots=True)
class LoadShape:
    """``steps``: (time from T0, users present from then on), times strictly increasing;
    before the first step nobody is present. ``end``: seconds from T0 when the test stops."""

    steps: tuple[tuple[float, int], ...]
    end: float

    def __post_init__(self) -> None:
        times = [t for t, _ in self.steps]
        if any(b <= a for a, b in itertools.pairwise(times)):
            raise ValueError("shape step times must increase")
        if any(n < 0 for _, n in self.steps):
            raise ValueError("a shape cannot have fewer than 0 users")

    @classmethod
    def of(cls, schedule: Schedule, end: float) -> LoadShape:
        """Users present over time: +1 at each join, -1 at each leave, each moment rounded up
        to the ``GRID`` (at most a quarter of a second late)."""
        moments = sorted(
            [(_on_grid(j.at), 1) for j in schedule.joins]
            + [(_on_grid(j.leave), -1) for j in schedule.joins if j.leave is not None]
        )
        steps: list[tuple[float, int]] = []
        present = 0
        for t, step in moments:
            present += step
            if steps and steps[-1][0] == t:
                steps[-1] = (t, present)
            else:
                steps.append((t, present))
        return cls(tuple(s for i, s in enumerate(steps) if i == 0 or s[1] != steps[i - 1][1]), end)

    @property
    def peak(self) -> int:
        return max((n for _, n in self.steps), default=0)

    def users_at(self, t: float) -> int:
        """Users present at ``t`` seconds from T0 (steps at exactly ``t`` included)."""
        i = bisect.bisect_right(self.steps, (t, float("inf")))
        return self.steps[i - 1][1] if i else 0

    def tick(self, elapsed: float) -> tuple[int, float] | None:
        """What the master should run at ``elapsed`` seconds from T0: (users, spawn rate per
        second), or None once the test is over."""
        if elapsed >= self.end:
            return None
        target = self.users_at(elapsed + TICK)
        change = abs(target - self.users_at(elapsed))
        return target, max(1.0, change / TICK)


def _on_grid(t: float) -> float:
    return math.ceil(round(t / GRID, 9)) * GRID
