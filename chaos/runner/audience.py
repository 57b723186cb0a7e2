"""The run's audience: the experiment's speakers and listeners, pointed at the running stack.

The stack spec's ``audience`` section says how people reach the stack (which link listeners
dial, the stream path, its format; which component plays a speaker), so the runner needs no
stack-specific code. Listeners are dealt round-robin over the link's proxies (one per target
replica), one swarm per target sharing the run's T0, so a fault on the link reaches every
listener whichever edge it streams from.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from chaos.errors import InvalidInput
from chaos.experiment.experiment import Experiment
from chaos.experiment.stack import ListenerEntry, StackSpec
from chaos.experiment.workload import Curve
from chaos.stack.specfile import with_replicas
from chaos.workload.arrivals import Schedule
from chaos.workload.experiment import reconnect, schedule
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm, SwarmResult, default_workers


def audience_problems(experiment: Experiment, stack: StackSpec) -> list[str]:
    """What the stack spec lacks to host the experiment's workload (empty when nothing)."""
    problems = []
    if experiment.workload.listeners and stack.audience.listeners is None:
        problems.append(
            f"stack {stack.name!r} does not say where listeners connect; add "
            "`audience: {listeners: {link: LINK, path: /stream}}` to its spec"
        )
    return problems


def stack_for(experiment: Experiment, stack: StackSpec) -> StackSpec:
    """The stack spec with one replica of the speaker component per experiment speaker."""
    component = stack.audience.speakers
    if component is None:
        return stack
    return with_replicas(stack, {component: len(experiment.workload.speakers)})


def split_schedule(whole: Schedule, parts: int) -> list[Schedule]:
    """Deal joins round-robin into ``parts`` schedules; each paced gate's limit is shared
    (every part keeps at least one slot, or its listeners could never join)."""
    shares: list[list[int]] = [[] for _ in range(parts)]
    for index in range(len(whole.joins)):
        shares[index % parts].append(index)
    out = []
    for part, indices in enumerate(shares):
        gates = tuple(
            max(1, limit // parts + (1 if part < limit % parts else 0)) for limit in whole.gates
        )
        out.append(Schedule(tuple(whole.joins[i] for i in indices), gates))
    return out


def scaled(experiment: Experiment, factor: float) -> Experiment:
    """``--scale F``: every storm, ramp and paced phase's count multiplied (at least one
    listener each); a replayed curve keeps its own ``scale``."""
    if factor == 1.0:
        return experiment
    phases = [
        p if isinstance(p, Curve) else p.model_copy(update={"count": _times(p.count, factor)})
        for p in experiment.workload.listeners
    ]
    workload = experiment.workload.model_copy(update={"listeners": phases})
    return experiment.model_copy(update={"workload": workload})


def _times(count: int, factor: float) -> int:
    return max(1, round(count * factor))


def listener_config(entry: ListenerEntry, address: str, experiment: Experiment) -> ListenerConfig:
    """How a listener plays one target of the listeners' link (either load engine)."""
    return ListenerConfig(
        f"http://{address}{entry.path}",
        stream=StreamFormat(entry.format),
        bitrate=entry.bitrate,
        reconnect=reconnect(experiment.workload.reconnect),
    )


class Audience:
    """The listeners of one run: one swarm per target of the listeners' link."""

    def __init__(
        self,
        experiment: Experiment,
        stack: StackSpec,
        dialled: list[str],
        *,
        seed: int,
        base_dir: Path,
        start_at: float,
        duration: float,
    ) -> None:
        entry = stack.audience.listeners
        if entry is None or not experiment.workload.listeners:
            self.swarms: list[Swarm] = []
            return
        if not dialled:
            raise InvalidInput(f"link {entry.link} has no target", where=f"stack {stack.name}")
        whole = schedule(experiment.workload, seed, duration, base_dir)
        workers = max(1, default_workers() // len(dialled))
        self.swarms = [
            Swarm(
                part,
                listener_config(entry, address, experiment),
                seed=seed + n,
                duration=duration,
                workers=workers,
                start_at=start_at,
            )
            for n, (part, address) in enumerate(
                zip(split_schedule(whole, len(dialled)), dialled, strict=True)
            )
            if part.joins
        ]

    @property
    def count(self) -> int:
        return sum(len(s.schedule.joins) for s in self.swarms)

    def stats(self) -> ListenerStats:
        total = ListenerStats()
        for swarm in self.swarms:
            total = total.merged(swarm.stats())
        return total

    def stop(self) -> None:
        for swarm in self.swarms:
            swarm.stop()

    def incomplete(self) -> str | None:
        """Never: a swarm worker that dies fails the run at once (an infrastructure error)."""
        return None

    async def run(self) -> list[SwarmResult]:
        return list(await asyncio.gather(*(s.run() for s in self.swarms)))
