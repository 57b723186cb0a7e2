"""When things happen in a run: the windows that SLOs are bound to, by name.

Times are seconds relative to T0 (the scheduled start); the baseline lies before it. Every
listener phase has a name — its own `name`, else its arrival kind (`storm`) when it is the only
phase of that kind, else `storm-2` (the second storm) — and a phase can also be addressed by its
arrival kind whenever that is unambiguous. Faults are addressed by their names; `baseline`,
`method`, `recovery` and `run` are the run's own windows.

A fault's window is its `at` to its end. A listener phase's window runs from its start until
the next phase starts (or the method ends), and never ends before its last arrival: a storm of
2000 joins within 2 s is judged on what those listeners hear next, not only in those 2 s.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from chaos.experiment.base import RESERVED_WINDOWS
from chaos.experiment.experiment import Experiment
from chaos.experiment.faults import Fault
from chaos.experiment.units import Duration
from chaos.experiment.workload import Phase


@dataclass(frozen=True)
class Window:
    """[start, end] in seconds from T0."""

    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


class UnknownWindow(LookupError):
    """A `during`/`after` name that names nothing, or more than one thing."""


def phase_names(phases: Sequence[Phase]) -> list[str]:
    """The name of each listener phase, in order (see the module docstring)."""
    per_kind = Counter(phase.arrival for phase in phases)
    seen: Counter[str] = Counter()
    names = []
    for phase in phases:
        seen[phase.arrival] += 1
        if phase.name is not None:
            names.append(phase.name)
        elif per_kind[phase.arrival] == 1:
            names.append(phase.arrival)
        else:
            names.append(f"{phase.arrival}-{seen[phase.arrival]}")
    return names


@dataclass(frozen=True)
class Timeline:
    baseline: Duration
    method_end: Duration
    run_end: Duration
    phases: dict[str, Phase]
    faults: dict[str, Fault]
    aliases: dict[str, str]

    @classmethod
    def of(cls, experiment: Experiment) -> Timeline:
        listeners = experiment.workload.listeners
        phases = dict(zip(phase_names(listeners), listeners, strict=True))
        faults = {fault.name: fault for fault in experiment.faults}
        ends = [phase.end or phase.start for phase in listeners]
        ends += [fault.end for fault in experiment.faults]
        method_end = max(ends, default=Duration(0))
        run_end = experiment.duration or method_end + experiment.recovery
        kinds = Counter(phase.arrival for phase in listeners)
        aliases: dict[str, str] = {
            phase.arrival: name
            for name, phase in phases.items()
            if kinds[phase.arrival] == 1 and phase.arrival not in phases
        }
        return cls(experiment.baseline, min(method_end, run_end), run_end, phases, faults, aliases)

    @property
    def names(self) -> list[str]:
        """Every name a `during` or `after` may use."""
        return [*RESERVED_WINDOWS, *self.phases, *self.faults, *self.aliases]

    def span(self, name: str) -> Window:
        """The window a phase, fault or run window name covers."""
        fixed = {
            "baseline": Window(-self.baseline.seconds, 0.0),
            "method": Window(0.0, self.method_end.seconds),
            "recovery": Window(self.method_end.seconds, self.run_end.seconds),
            "run": Window(-self.baseline.seconds, self.run_end.seconds),
        }
        if name in fixed:
            return fixed[name]
        name = self.aliases.get(name, name)
        if name not in self.phases and name not in self.faults:
            several = [n for n, p in self.phases.items() if p.arrival == name]
            if several:
                raise UnknownWindow(
                    f"{name!r} matches several listener phases ({', '.join(several)}); "
                    "use one of those names"
                )
        if name in self.phases and name in self.faults:
            raise UnknownWindow(f"{name!r} names both a listener phase and a fault; rename one")
        if name in self.phases:
            return self._phase_span(self.phases[name])
        if name in self.faults:
            fault = self.faults[name]
            return Window(fault.at.seconds, fault.end.seconds)
        raise UnknownWindow(name)

    def _phase_span(self, phase: Phase) -> Window:
        later = [p.start for p in self.phases.values() if p.start > phase.start]
        last = self.method_end if phase.end is not None else self.run_end
        until = min(later, default=last)
        return Window(phase.start.seconds, max(phase.end or phase.start, until).seconds)

    def window(self, binding: tuple[str, str]) -> Window:
        """The window of an SLO binding: (`during`, NAME) or (`after`, NAME)."""
        relation, name = binding
        span = self.span(name)
        if relation == "after":
            return Window(span.end, self.run_end.seconds)
        return span
