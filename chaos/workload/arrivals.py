"""When listeners arrive and leave: arrival curves expanded into a seeded schedule of joins.

A launch fails at the start, so the shape of the arrivals is the experiment: everyone at T0
(a storm, with the spread a push notification gives), a linear ramp, a paced trickle that keeps
at most N joins in flight (the cure for a tiny listen backlog), or the audience curve of a real
incident replayed from CSV. Every random choice comes from ``random.Random(seed)``, so the same
seed gives the same arrival times, and the schedule is computed before any socket opens.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from chaos.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Join:
    """One listener session: joins at ``at`` and leaves at ``leave`` (None: stays to the end).

    ``gate`` indexes ``Schedule.gates``; joins that share a gate keep at most that many
    connection attempts in flight.
    """

    at: float
    leave: float | None = None
    gate: int | None = None


@dataclass(frozen=True, slots=True)
class Schedule:
    joins: tuple[Join, ...]
    gates: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Storm:
    """``count`` listeners at ``at``, spread uniformly over ``spread`` seconds (0: all at once)."""

    count: int
    at: float = 0.0
    spread: float = 0.0

    def times(self, rng: random.Random) -> list[float]:
        return sorted(self.at + rng.uniform(0.0, self.spread) for _ in range(self.count))


@dataclass(frozen=True, slots=True)
class Ramp:
    """``count`` listeners at a constant rate from ``start`` to ``end``, one per equal slot."""

    count: int
    start: float
    end: float

    def times(self, rng: random.Random) -> list[float]:
        step = (self.end - self.start) / self.count if self.count else 0.0
        return [self.start + (i + rng.random()) * step for i in range(self.count)]


@dataclass(frozen=True, slots=True)
class Paced:
    """``count`` listeners from ``at``, ``rate`` per second (None: all ready at once), with at
    most ``max_in_flight`` connecting at a time (None: no limit)."""

    count: int
    max_in_flight: int | None = None
    at: float = 0.0
    rate: float | None = None

    def times(self, rng: random.Random) -> list[float]:
        if self.rate is None:
            return [self.at] * self.count
        return [self.at + i / self.rate for i in range(self.count)]


@dataclass(frozen=True, slots=True)
class Curve:
    """An audience curve: listeners present at each time, linear in between (incident replay).

    Rises become joins as the curve reaches each whole listener; falls become leaves of
    listeners picked at random among those present.
    """

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        if not self.points:
            raise ValueError("a curve needs at least one (time, listeners) point")
        for (t0, _), (t1, _) in zip(self.points, self.points[1:], strict=False):
            if t1 < t0:
                raise ValueError(f"curve times must not decrease ({t0} then {t1})")
        if any(n < 0 for _, n in self.points):
            raise ValueError("curve listener counts must be >= 0")

    def sessions(self, rng: random.Random) -> list[Join]:
        arrivals: list[float] = []
        leaves: dict[int, float] = {}
        present: list[int] = []  # indexes into `arrivals` of listeners still there
        t_prev, n_prev = self.points[0][0], 0.0
        for t, n in self.points:
            for at, rising in _crossings(t_prev, n_prev, t, n):
                if rising:
                    present.append(len(arrivals))
                    arrivals.append(at)
                else:
                    leaves[present.pop(rng.randrange(len(present)))] = at
            t_prev, n_prev = t, n
        return [Join(at=at, leave=leaves.get(i)) for i, at in enumerate(arrivals)]


def _crossings(t0: float, n0: float, t1: float, n1: float) -> Iterable[tuple[float, bool]]:
    """Moments in (t0, t1] where the audience, floor(curve), grows (True) or shrinks (False).

    A listener joins when the curve reaches the next whole count and leaves when it reaches the
    count below, so at every point of the curve exactly floor(listeners) are present.
    """
    if n1 > n0:
        for k in range(math.floor(n0) + 1, math.floor(n1) + 1):
            yield _between(t0, t1, (k - n0) / (n1 - n0)), True
    elif n1 < n0:
        for m in range(math.floor(n0) - 1, math.floor(n1) - 1, -1):
            yield _between(t0, t1, (n0 - m) / (n0 - n1)), False


def _between(t0: float, t1: float, frac: float) -> float:
    """t0 + frac·(t1 − t0) within (t0, t1]: exactly t1 from frac 1 on (no float overshoot past
    the point), and never t0 itself, where the count is still the point's (a step of a few
    subnormal seconds rounds the product to nothing)."""
    if frac >= 1.0:
        return t1
    return min(t1, max(t0 + frac * (t1 - t0), math.nextafter(t0, math.inf)))


Phase = Storm | Ramp | Paced | Curve


@dataclass(frozen=True, slots=True)
class Sessions:
    """How long listeners stay: ``length`` seconds, or exponentially distributed with that mean.

    None (the default everywhere) means until the run ends.
    """

    length: float
    exponential: bool = False

    def __post_init__(self) -> None:
        if self.length <= 0:
            raise ValueError(f"session length must be > 0, got {self.length}")

    def draw(self, rng: random.Random) -> float:
        return rng.expovariate(1.0 / self.length) if self.exponential else self.length


@dataclass(frozen=True, slots=True)
class Churn:
    """Every ``every`` seconds, ``share`` of the listeners present leave at a random moment of
    the next period and come back ``think`` seconds later: a busy join path at steady state."""

    share: float
    every: float
    think: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.share <= 1:
            raise ValueError(f"churn share must be within 0..1, got {self.share}")
        if self.every <= 0:
            raise ValueError(f"churn period must be > 0, got {self.every}")
        if self.think < 0:
            raise ValueError(f"think time must be >= 0, got {self.think}")


def build_schedule(
    phases: Sequence[Phase],
    seed: int,
    sessions: Sessions | None = None,
    churn: Churn | None = None,
    until: float | None = None,
) -> Schedule:
    """Expand the phases into joins sorted by time; leaves and churn stop at ``until``."""
    if churn is not None and until is None:
        raise ValueError("churn needs `until`, the end of the run, to know when to stop")
    rng = random.Random(seed)
    joins: list[Join] = []
    gates: list[int] = []
    for phase in phases:
        if isinstance(phase, Curve):
            joins.extend(phase.sessions(rng))
            continue
        if phase.count < 0:
            raise ValueError(f"listener count must be >= 0, got {phase.count}")
        gate = None
        if isinstance(phase, Paced):
            if phase.rate is not None and phase.rate <= 0:
                raise ValueError(f"paced rate must be > 0, got {phase.rate}")
            if phase.max_in_flight is not None:
                if phase.max_in_flight < 1:
                    raise ValueError(f"max_in_flight must be >= 1, got {phase.max_in_flight}")
                gate = len(gates)
                gates.append(phase.max_in_flight)
        joins.extend(Join(at=t, gate=gate) for t in phase.times(rng))
    if sessions is not None:
        joins = [_with_session(j, sessions, rng, until) for j in joins]
    if churn is not None and churn.share > 0:
        assert until is not None
        joins = _churn(joins, churn, rng, until)
    joins.sort(key=lambda j: j.at)
    return Schedule(joins=tuple(joins), gates=tuple(gates))


def _with_session(join: Join, sessions: Sessions, rng: random.Random, until: float | None) -> Join:
    if join.leave is not None:  # a curve already says when this one leaves
        return join
    leave = join.at + sessions.draw(rng)
    return join if until is not None and leave >= until else replace(join, leave=leave)


def _churn(joins: list[Join], churn: Churn, rng: random.Random, until: float) -> list[Join]:
    """Split sessions: a churned listener leaves within the period and rejoins after ``think``."""
    sessions = sorted(joins, key=lambda j: j.at)
    live = list(range(len(sessions)))  # sessions not yet over, pruned as time passes
    t = churn.every
    while t < until:
        live = [i for i in live if t < (sessions[i].leave or math.inf)]
        present = [i for i in live if sessions[i].at <= t]
        for i in rng.sample(present, round(churn.share * len(present))):
            join = sessions[i]
            leave = t + rng.uniform(0.0, churn.every)
            if leave >= until or (join.leave is not None and leave >= join.leave):
                continue
            sessions[i] = replace(join, leave=leave)
            back = leave + churn.think
            if back < until and (join.leave is None or back < join.leave):
                live.append(len(sessions))
                sessions.append(Join(at=back, leave=join.leave, gate=join.gate))
        t += churn.every
    return sessions


def load_curve(path: Path) -> Curve:
    """Read ``time,listeners`` rows (seconds, count; a header row is allowed) from a CSV file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InvalidInput(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} at line {line}, column {column}",
            where=f"{path}:{line}:{column}",
            fix="save the CSV as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
        ) from None
    except OSError as exc:
        raise InvalidInput(
            f"cannot read the arrival curve: {exc.strerror}",
            where=str(path),
            fix="give the path of a CSV file with rows `time,listeners`",
        ) from exc
    points: list[tuple[float, float]] = []
    header_allowed = True
    for lineno, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#"):
            continue
        where = f"{path}:{lineno}"
        first_row, header_allowed = header_allowed, False
        if len(cells) != 2:
            raise InvalidInput(
                f"expected 2 columns (time, listeners), found {len(cells)}",
                where=where,
                fix="write each row as `seconds,listeners`, e.g. `30,12000`",
            )
        try:
            t, n = float(cells[0]), float(cells[1])
        except ValueError:
            if first_row:
                continue  # a header row
            raise InvalidInput(
                f"not a number: {row!r}",
                where=where,
                fix="times are seconds from the start and listeners a count, e.g. `30,12000`",
            ) from None
        if not (math.isfinite(t) and math.isfinite(n)) or t < 0 or n < 0:
            raise InvalidInput(
                f"time and listeners must be finite and >= 0, got {t}, {n}", where=where
            )
        if points and t < points[-1][0]:
            raise InvalidInput(
                f"time {t} is before the previous row's {points[-1][0]}",
                where=where,
                fix="sort the rows by time",
            )
        points.append((t, n))
    if not points:
        raise InvalidInput(
            "the arrival curve has no rows",
            where=str(path),
            fix="add rows `seconds,listeners`, e.g. `0,0` and `60,5000`",
        )
    return Curve(points=tuple(points))
