"""Where the search may look: which links, which fault kinds, how long, how many faults.

Derived from the experiment itself (its stack's links, the kinds of fault it already uses, its
length) so `gameday search EXPERIMENT` needs no extra grammar; CLI options narrow or widen it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos.errors import InvalidInput
from chaos.experiment.experiment import Experiment
from chaos.experiment.stack import StackSpec
from chaos.experiment.timeline import Timeline
from chaos.search.schedule import KNOBS, Knob

DEFAULT_KINDS = ("latency", "loss")


@dataclass(frozen=True)
class SearchSpace:
    links: tuple[str, ...]
    kinds: tuple[str, ...]
    window: int
    """Faults start and end within this many seconds from T0."""
    max_faults: int = 3
    storm: tuple[int, int] | None = None
    """Bounds of the launch storm's listener count to vary, or None to keep the workload."""
    max_spread: int = 10
    knobs: dict[str, Knob] = field(default_factory=lambda: dict(KNOBS))
    streams: frozenset[str] = frozenset()
    """TCP links: loss is no fault there (TCP retransmits), so the search puts none on them."""

    def __post_init__(self) -> None:
        if not self.links:
            raise InvalidInput("the search space has no links", fix="give --link LINK")
        unknown = [k for k in self.kinds if k not in KNOBS]
        if unknown or not self.kinds:
            raise InvalidInput(
                f"fault kinds {unknown or 'none'} cannot be searched",
                fix=f"give --kind with one of {', '.join(KNOBS)}",
            )
        if not self.pairs:
            raise InvalidInput(
                f"no searchable fault: {', '.join(self.kinds)} on {', '.join(self.links)}",
                fix="loss needs a UDP link; add --kind latency or a UDP --link",
            )
        if self.window < 1:
            raise InvalidInput(f"search window {self.window}s", fix="give a window of 1s or more")
        if not 1 <= self.max_faults <= 10:
            raise InvalidInput(f"--max-faults {self.max_faults}", fix="give 1 to 10")

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every (link, kind) a fault may take, links first: the shrinker prefers the first."""
        return tuple(
            (link, kind)
            for link in self.links
            for kind in self.kinds
            if not (kind == "loss" and link in self.streams)
        )

    @classmethod
    def of(
        cls,
        experiment: Experiment,
        stack: StackSpec,
        *,
        links: tuple[str, ...] = (),
        kinds: tuple[str, ...] = (),
        max_faults: int = 3,
        vary_storm: bool = False,
    ) -> SearchSpace:
        """The experiment's own search space: every link its faults touch (else every link of
        the stack), the searchable kinds it uses (else latency and loss), its method's length."""
        for link in links:
            if link not in stack.links:
                raise InvalidInput(
                    f"--link {link}: the stack {stack.name} has no such link",
                    fix=f"give one of {', '.join(stack.links)}",
                )
        touched = tuple(dict.fromkeys(getattr(f, "link", None) for f in experiment.faults))
        chosen = links or tuple(x for x in touched if isinstance(x, str)) or tuple(stack.links)
        used = tuple(dict.fromkeys(f.kind for f in experiment.faults if f.kind in KNOBS))
        timeline = Timeline.of(experiment)
        window = int(timeline.method_end.seconds) or 30
        storm = None
        if vary_storm:
            counts = [p.count for p in experiment.workload.listeners if p.arrival == "storm"]
            if not counts:
                raise InvalidInput(
                    "--vary-storm: the workload has no `arrival: storm` phase",
                    fix="add a storm phase, or search the faults only",
                )
            storm = (1, max(counts) * 2)
        streams = frozenset(name for name, link in stack.links.items() if link.protocol == "tcp")
        return cls(
            chosen, kinds or used or DEFAULT_KINDS, window, max_faults, storm, streams=streams
        )
