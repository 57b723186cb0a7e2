"""The resolved timeline of a run: every fault operation and workload phase at its offset.

Pure: an experiment becomes one ordered list of steps relative to T0 (the scheduled start),
which the runner executes and ``gameday run --dry-run`` prints. At one instant, removals come
before applications, so a fault that ends when another begins on the same link never overlaps
it, and phase starts come last (listeners arrive into the network as it now is).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.experiment.experiment import Experiment
from chaos.experiment.faults import Fault, RestartFault
from chaos.experiment.timeline import Timeline, phase_names


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
        if self.fault is not None and self.action is Action.REMOVE:
            return f"end    {self.fault.kind} fault {self.name!r}"
        if self.fault is not None:
            params = fault_params(self.fault)
            skip = (
                ("name", "at", "toxicity") if params.get("toxicity") == "100%" else ("name", "at")
            )
            detail = " ".join(f"{k}={v}" for k, v in params.items() if k not in skip)
            return f"apply  {self.fault.kind} fault {self.name!r} ({detail})"
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
        """The timeline as a person reads it (``--dry-run``)."""
        rows = [f"{-self.baseline:>+9.1f}s  baseline: steady state, steady-state SLOs checked"]
        rows += [f"{step.at:>+9.1f}s  {step.describe()}" for step in self.steps]
        return rows


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
