"""Cohorts: the audience split, at random but seeded, into a control and an experiment cohort.

Netflix's ChAP judges a fault by the difference between an experiment population (behind the
fault) and a control population of the same size and shape (behind an unfaulted copy of the
same path). A launch's arrival curve is the experiment, so the two cohorts must arrive alike:
the schedule's joins, in time order, are cut into as many consecutive blocks as each cohort has
listeners, and from every block one join goes to control and one to experiment (a seeded
choice). Both cohorts then have exactly ``size`` listeners, and at every instant their
cumulative arrivals differ by at most one. The joins no block gave a cohort (none at 50 %)
are the ``rest``: they take the experiment's path, so the stack sees the whole audience, but
neither cohort's numbers count them.

Pure: a schedule and a seed in, index sets out.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from enum import StrEnum

from chaos.workload.arrivals import Schedule


class Cohort(StrEnum):
    """The ``cohort`` label of listener metrics."""

    CONTROL = "control"
    EXPERIMENT = "experiment"
    REST = "rest"


CONTROL_SUFFIX = "~control"
"""A link's control proxies are named ``LINK~control`` (and ``PROXY~control`` per target)."""


def control_name(name: str) -> str:
    """The name of the control copy of a link or proxy."""
    return name + CONTROL_SUFFIX


def is_control(name: str) -> bool:
    return name.endswith(CONTROL_SUFFIX)


MAX_CONTROL = 0.5
"""Control and experiment are the same size, so control can be at most half the audience."""


@dataclass(frozen=True, slots=True)
class Split:
    """Which schedule indices belong to which cohort (the three sets partition the schedule)."""

    control: tuple[int, ...]
    experiment: tuple[int, ...]
    rest: tuple[int, ...]

    @property
    def size(self) -> int:
        """Listeners per judged cohort (control and experiment have as many)."""
        return len(self.control)

    def cohort_of(self, index: int) -> Cohort:
        if index in self._control:
            return Cohort.CONTROL
        if index in self._experiment:
            return Cohort.EXPERIMENT
        return Cohort.REST

    @property
    def _control(self) -> frozenset[int]:
        return frozenset(self.control)

    @property
    def _experiment(self) -> frozenset[int]:
        return frozenset(self.experiment)

    def labels(self, total: int) -> list[Cohort]:
        """The cohort of every index ``0..total-1``."""
        out = [Cohort.REST] * total
        for i in self.control:
            out[i] = Cohort.CONTROL
        for i in self.experiment:
            out[i] = Cohort.EXPERIMENT
        return out


def split_audience(schedule: Schedule, control: float, seed: int) -> Split:
    """Split ``schedule`` into cohorts: ``control`` (0 < share <= 0.5) of the joins go to the
    control cohort and as many to the experiment cohort, block by block in arrival order.

    Same schedule, share and seed: same split."""
    if not 0.0 < control <= MAX_CONTROL:
        raise ValueError(f"the control share must be above 0 and at most 50%, not {control:.1%}")
    total = len(schedule.joins)
    size = int(total * control + 1e-9)
    order = sorted(range(total), key=lambda i: (schedule.joins[i].at, i))
    rng = random.Random(f"{seed}:cohorts")
    chosen_control: list[int] = []
    chosen_experiment: list[int] = []
    for block in range(size):
        members = order[block * total // size : (block + 1) * total // size]
        first, second = rng.sample(members, 2)
        chosen_control.append(first)
        chosen_experiment.append(second)
    taken = set(chosen_control) | set(chosen_experiment)
    rest = tuple(i for i in range(total) if i not in taken)
    return Split(tuple(sorted(chosen_control)), tuple(sorted(chosen_experiment)), rest)


def dealt_cohort(position: int, control: float, seed: str) -> Cohort:
    """The cohort of the ``position``-th user (from 0) an engine that starts users one at a time
    in arrival order (Locust's workers) deals, for a control share ``control``: ``2 * control``
    of the users are judged, in pairs of consecutive judged users of which one is control and
    one experiment (a seeded choice per pair), the others are ``rest``. Without knowing any
    join time, both cohorts then follow the arrival curve: after any number of users their
    counts differ by at most one, and each is ``control`` of them within one."""
    judged = 2 * control
    before = math.floor(position * judged + 1e-9)
    if math.floor((position + 1) * judged + 1e-9) == before:
        return Cohort.REST
    pair, second = divmod(before, 2)
    control_first = random.Random(f"{seed}:cohorts:{pair}").random() < 0.5
    return Cohort.CONTROL if control_first != bool(second) else Cohort.EXPERIMENT


def cohort_schedule(schedule: Schedule, indices: tuple[int, ...], share: float) -> Schedule:
    """The joins at ``indices`` as a schedule of their own; each paced gate keeps ``share`` of
    its in-flight limit (at least one slot, or its listeners could never join)."""
    gates = tuple(max(1, round(limit * share)) for limit in schedule.gates)
    return Schedule(tuple(schedule.joins[i] for i in indices), gates)


def arrivals_by(schedule: Schedule, indices: tuple[int, ...], t: float) -> int:
    """How many of the joins at ``indices`` have arrived by ``t`` (the cohort's arrival curve)."""
    return sum(1 for i in indices if schedule.joins[i].at <= t)


# ------------------------------------------------------------------ per-listener samples

ATTEMPT_FIELDS = (
    "listener", "started", "ttfa", "join_attempts", "joins_ok", "stall_seconds",
    "played_seconds", "concealed_seconds", "stalls", "freezes",
)  # fmt: skip
"""One listener attempt as the swarm records it for differential SLOs: which listener (its
index in its swarm's schedule), when the attempt began (seconds from T0), its time to first
audio (-1: none), and what it counted (one attempt; joined or not; playout totals)."""

Attempt = tuple[int, float, float, int, int, float, float, float, int, int]

SAMPLED_QUANTILES = {"gameday_listener_time_to_first_audio_seconds": "ttfa"}
"""Quantile metrics a differential SLO can judge: the attempt field sampled per listener."""

SAMPLED_COUNTERS = {
    "gameday_listener_join_attempts_total": "join_attempts",
    "gameday_listener_joins_ok_total": "joins_ok",
    "gameday_listener_stall_seconds_total": "stall_seconds",
    "gameday_listener_played_seconds_total": "played_seconds",
    "gameday_listener_concealed_seconds_total": "concealed_seconds",
    "gameday_listener_stalls_total": "stalls",
    "gameday_listener_freezes_total": "freezes",
}
"""Counters a differential ratio can divide: the attempt field summed per listener."""
