"""A fault schedule as the search sees it: few faults, each a link, a kind, one magnitude.

Magnitudes are integers in a fine unit (milliseconds, tenths of a percent) so hypothesis
shrinks them towards the smallest value that still breaks an SLO, and times are whole seconds
from T0 so a shrunk schedule reads the way a person would write it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Knob:
    """One searchable fault kind: its magnitude's range and how it is written in YAML."""

    kind: str
    low: int
    high: int
    unit: str
    """The magnitude's unit: `ms` (a duration) or `permille` (written as a percentage)."""

    def render(self, magnitude: int) -> Any:
        if self.unit == "ms":
            return f"{magnitude}ms"
        if self.unit == "permille":
            whole, tenth = divmod(magnitude, 10)
            return f"{whole}.{tenth}%" if tenth else f"{whole}%"
        return True  # an outage has no magnitude

    def describe(self, magnitude: int) -> str:
        return self.kind if self.unit == "none" else f"{self.kind} {self.render(magnitude)}"


KNOBS: dict[str, Knob] = {
    "latency": Knob("latency", 1, 5000, "ms"),
    "loss": Knob("loss", 1, 1000, "permille"),
    "down": Knob("down", 0, 0, "none"),
}
"""The fault kinds the search generates, in the order a shrunk schedule prefers them."""


@dataclass(frozen=True, order=True)
class FaultSpec:
    link: str
    kind: str
    magnitude: int
    at: int
    """Seconds from T0."""
    for_: int
    """Seconds the fault lasts (at least 1)."""

    @property
    def end(self) -> int:
        return self.at + self.for_

    def overlaps(self, other: FaultSpec) -> bool:
        return self.at < other.end and other.at < self.end

    def describe(self) -> str:
        return (
            f"{KNOBS[self.kind].describe(self.magnitude)} on {self.link} "
            f"at {self.at}s for {self.for_}s"
        )

    def to_yaml(self, name: str) -> dict[str, Any]:
        """The fault as an experiment file writes it (`{name, at, for, link, latency: …}`)."""
        return {
            "name": name,
            "at": f"{self.at}s",
            "for": f"{self.for_}s",
            "link": self.link,
            self.kind: KNOBS[self.kind].render(self.magnitude),
        }


@dataclass(frozen=True)
class StormVariation:
    """The launch storm varied: `count` listeners arriving over `spread` seconds."""

    count: int
    spread: int

    def describe(self) -> str:
        return f"storm of {self.count} over {self.spread}s"


@dataclass(frozen=True)
class Schedule:
    faults: tuple[FaultSpec, ...]
    storm: StormVariation | None = None

    @property
    def key(self) -> tuple[object, ...]:
        """The verdict cache's key: the same faults in any order are the same schedule."""
        return (tuple(sorted(self.faults)), self.storm)

    @property
    def empty(self) -> bool:
        """No fault and the experiment's own storm: the run the experiment is without faults."""
        return not self.faults and self.storm is None

    def names(self) -> list[str]:
        """`search-1-latency`, …: unique fault names for the written experiment."""
        return [f"search-{i}-{f.kind.replace('_', '-')}" for i, f in enumerate(self.faults, 1)]

    def describe(self) -> str:
        parts = [f.describe() for f in self.faults] or ["no faults"]
        if self.storm is not None:
            parts.append(self.storm.describe())
        return "; ".join(parts)
