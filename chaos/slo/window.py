"""Windows: which stretch of the run an objective is judged on.

A window is bound to the run's own timeline (a phase, a named fault or workload item, or the
whole run) and optionally slides inside it, so "p95 below 5s during storm" and "any 30s window
during storm" are both answered from the same recorded history. Times are wall-clock seconds,
the clock Prometheus stamps samples with.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from chaos.errors import InvalidInput


@dataclass(frozen=True, order=True, slots=True)
class Interval:
    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"interval ends ({self.end}) before it starts ({self.start})")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Timeline:
    """When each named thing happened in a run: phases, faults, workload items."""

    run: Interval
    named: Mapping[str, Interval] = field(default_factory=dict)


class Anchor(enum.Enum):
    DURING = "during"
    AFTER = "after"
    BASELINE = "baseline"
    RUN = "run"


@dataclass(frozen=True, slots=True)
class WindowSpec:
    anchor: Anchor = Anchor.RUN
    target: str | None = None
    """The phase, fault or workload item ``during``/``after`` refer to."""
    sliding: float | None = None
    """Width of a window that slides inside the anchored interval; the worst one counts."""
    step: float = 1.0

    def __post_init__(self) -> None:
        needs_target = self.anchor in (Anchor.DURING, Anchor.AFTER)
        if needs_target != (self.target is not None):
            raise ValueError(
                f"window '{self.anchor.value}' {'needs' if needs_target else 'takes no'} target"
            )
        if self.sliding is not None and self.sliding <= 0:
            raise ValueError("a sliding window needs a positive width")
        if self.step <= 0:
            raise ValueError("a sliding window needs a positive step")

    def describe(self) -> str:
        where = f"{self.anchor.value} {self.target}" if self.target else self.anchor.value
        return f"any {self.sliding:g}s window {where}" if self.sliding else where


def resolve(spec: WindowSpec, timeline: Timeline) -> Interval:
    """The interval ``spec`` is anchored to in this run; unknown names are the user's error."""
    if spec.anchor is Anchor.RUN:
        return timeline.run
    name = "baseline" if spec.anchor is Anchor.BASELINE else spec.target
    assert name is not None
    bound = timeline.named.get(name)
    if bound is None:
        known = ", ".join(sorted(timeline.named)) or "none"
        raise InvalidInput(
            f"window '{spec.describe()}' names {name!r}, which this run does not have",
            fix=f"use one of the run's phases, faults or workload items: {known}",
        )
    if spec.anchor is Anchor.AFTER:
        return Interval(bound.end, max(bound.end, timeline.run.end))
    return bound


def sliding_windows(interval: Interval, width: float, step: float) -> Iterator[Interval]:
    """Windows of ``width`` ending every ``step`` inside ``interval``, the last one flush with
    its end; an interval shorter than ``width`` is judged as one window."""
    if interval.duration <= width:
        yield interval
        return
    end = interval.start + width
    while end < interval.end:
        yield Interval(end - width, end)
        end += step
    yield Interval(interval.end - width, interval.end)
