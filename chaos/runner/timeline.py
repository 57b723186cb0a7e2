"""The resolved timeline of a run: every fault operation and workload phase at its offset.

Pure: an experiment becomes one ordered list of steps relative to T0 (the scheduled start),
which the runner executes and ``gameday run --dry-run`` prints. At one instant, removals come
before applications, so a fault that ends when another begins on the same link never overlaps
it, and phase starts come last (listeners arrive into the network as it now is).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.experiment import describe
from chaos.experiment.experiment import Experiment
from chaos.experiment.faults import Fault, RestartFault
from chaos.experiment.timeline import Timeline, phase_names
from chaos.report.clock import since_t0


class Action(enum.Enum):
    REMOVE = "remove"
    APPLY = "apply"
    PHASE = "phase"
    RECOVERY = "recovery"
    END = "end"


_ORDER = {Action.REMOVE: 0, Action.APPLY: 1, Action.PHASE: 2, Action.RECOVERY: 3, Action.END: 4}


@dataclass(frozen=True, slots=True)
class Step:
    at: float
    """Seconds from T0."""
    action: Action
    name: str
    fault: Fault | None = None

    def describe(self) -> str:
        """``apply slow-edge: latency 150ms ± 40ms, downstream on listener->edge for 30s``:
        fault parameters as the file wrote them."""
        if self.fault is not None and self.action is Action.REMOVE:
            return f"end {self.name} ({self.fault.kind})"
        if self.fault is not None:
            return f"apply {self.name}: {describe.fault(self.fault.kind, fault_params(self.fault))}"
        if self.action is Action.PHASE:
            return f"listeners: phase {self.name!r} starts"
        if self.action is Action.RECOVERY:
            return "recovery: faults and arrivals are over"
        return "run ends"


@dataclass(frozen=True, slots=True)
class ResolvedTimeline:
    baseline: float
    """Seconds of steady state before T0."""
    steps: tuple[Step, ...]
    method_end: float
    run_end: float

    @property
    def total(self) -> float:
        """Wall time of the run from the baseline's start to its end."""
        return self.baseline + self.run_end

    def lines(self) -> list[str]:
        """The timeline as a person reads it (``--dry-run``), in T0 time as the file is."""
        start = since_t0(-self.baseline, decimals=1)
        rows = [f"{start:>9}  baseline: steady state, steady-state SLOs checked"]
        rows += [f"{since_t0(step.at, decimals=1):>9}  {step.describe()}" for step in self.steps]
        return rows

    def next_after(self, now: float) -> Step | None:
        """The first step after ``now`` (seconds from T0), what the live view shows next."""
        return next((step for step in self.steps if step.at > now), None)


def fault_params(fault: Fault) -> dict[str, object]:
    """The fault exactly as written (canonical units), for the journal and the dry run."""
    return dict(fault.model_dump(mode="json", by_alias=True, exclude_defaults=False))


def resolve(experiment: Experiment) -> ResolvedTimeline:
    timeline = Timeline.of(experiment)
    steps: list[Step] = []
    for fault in experiment.faults:
        steps.append(Step(fault.at.seconds, Action.APPLY, fault.name, fault))
        if not isinstance(fault, RestartFault):
            steps.append(Step(fault.end.seconds, Action.REMOVE, fault.name, fault))
    listeners = experiment.workload.listeners
    for name, phase in zip(phase_names(listeners), listeners, strict=True):
        steps.append(Step(phase.start.seconds, Action.PHASE, name))
    method_end, run_end = timeline.method_end.seconds, timeline.run_end.seconds
    if run_end > method_end:
        steps.append(Step(method_end, Action.RECOVERY, "recovery"))
    steps.append(Step(run_end, Action.END, "end"))
    steps.sort(key=lambda s: (s.at, _ORDER[s.action]))
    return ResolvedTimeline(experiment.baseline.seconds, tuple(steps), method_end, run_end)
