"""The run's audience: the experiment's speakers and listeners, pointed at the running stack.

The stack spec's ``audience`` section says how people reach the stack (which link listeners
dial, the stream path, its format; which component plays a speaker), so the runner needs no
stack-specific code. Listeners are dealt round-robin over the link's proxies (one per target
replica), in one swarm on the run's T0, so a fault on the link reaches every listener whichever
edge it streams from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from chaos.errors import InvalidInput
from chaos.experiment.experiment import Experiment
from chaos.experiment.stack import ListenerEntry, StackSpec
from chaos.experiment.units import Scale
from chaos.experiment.workload import Curve, ear_settings
from chaos.slo.cohorts import CohortSamples
from chaos.stack.specfile import with_replicas
from chaos.workload.arrivals import Schedule
from chaos.workload.cohorts import Attempt, Cohort, cohort_schedule, split_audience
from chaos.workload.experiment import reconnect, schedule
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import (
    DEFAULT_EARS,
    EarSink,
    ListenerConfig,
    StreamFormat,
    Swarm,
    SwarmResult,
    mixed,
)


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


RunScale = float | Scale
"""``--scale``: the YAML's ``1:N`` form, or a bare multiplier of every counted phase."""


def scaled(experiment: Experiment, scale: RunScale) -> Experiment:
    """The experiment at ``--scale``.

    ``1:N``: one synthetic listener stands for N people, as the file's own ``scale`` says; every
    storm, ramp and paced count and every curve is re-expressed from the file's scale (1:1 when
    it states none) to 1:N. A bare multiplier F multiplies every storm, ramp and paced count
    (at least one listener each) and leaves a replayed curve at its own ``scale``.
    """
    if isinstance(scale, Scale):
        return _at_scale(experiment, scale)
    if scale == 1.0:
        return experiment
    phases = [
        p if isinstance(p, Curve) else p.model_copy(update={"count": _times(p.count, scale)})
        for p in experiment.workload.listeners
    ]
    workload = experiment.workload.model_copy(update={"listeners": phases})
    return experiment.model_copy(update={"workload": workload})


def _at_scale(experiment: Experiment, scale: Scale) -> Experiment:
    written = experiment.scale.people_per_probe if experiment.scale else Fraction(1)
    factor = written / scale.people_per_probe
    phases = []
    for phase in experiment.workload.listeners:
        if isinstance(phase, Curve):
            own = phase.scale.people_per_probe if phase.scale else Fraction(1)
            people = own / factor
            update: dict[str, object] = {"scale": Scale(people.denominator, people.numerator)}
        else:
            update = {"count": max(1, round(phase.count * factor))}
        phases.append(phase.model_copy(update=update))
    workload = experiment.workload.model_copy(update={"listeners": phases})
    return experiment.model_copy(update={"workload": workload, "scale": scale})


def scale_text(scale: RunScale) -> str:
    """How ``--scale`` is journalled and printed: `1:500`, or the multiplier (`0.5`)."""
    return str(scale) if isinstance(scale, Scale) else f"{scale:g}"


def _times(count: int, factor: float) -> int:
    return max(1, round(count * factor))


@dataclass(frozen=True)
class JoinPlan:
    """The join API's address (a proxy of the join link), and the edges it may name: the
    listeners' link proxies, as the API was told them."""

    address: str
    announced: list[str]
    names: list[str] = field(default_factory=list)
    """The replicas the announced edges are (`edge-1`…), in the same order."""


def listener_config(
    entry: ListenerEntry,
    address: str,
    experiment: Experiment,
    edge: str = "",
    *,
    join: JoinPlan | None = None,
    addresses: list[str] | None = None,
) -> ListenerConfig:
    """How a listener plays one target of the listeners' link (either load engine); ``edge``
    names the target in what its ears heard. With ``join``, a listener plays whichever of
    ``addresses`` (the link's proxies this listener dials) the API names."""
    ears = experiment.workload.ears if experiment.workload.ears is not None else entry.ears
    count, share = ear_settings(ears) if ears is not None else (DEFAULT_EARS, None)
    join_url: str | None = None
    announced: tuple[str, ...] = ()
    edge_urls: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    if join is not None and entry.join is not None:
        names = tuple(join.names)
        join_url = f"http://{join.address}{entry.join.path}"
        announced = tuple(f"http://{a}" for a in join.announced)
        edge_urls = tuple(f"http://{a}{entry.path}" for a in addresses or join.announced)
    return ListenerConfig(
        f"http://{address}{entry.path}",
        stream=StreamFormat(entry.format),
        bitrate=entry.bitrate,
        reconnect=reconnect(experiment.workload.reconnect),
        edge=edge,
        ears=count,
        ear_share=share,
        variant=str(entry.variant),
        low_latency=entry.low_latency,
        join_url=join_url,
        announced=announced,
        edge_urls=edge_urls,
        edge_names=names,
    )


def edge_names(stack: StackSpec, link: str, count: int) -> list[str]:
    """The replicas a link's targets are, by name (`edge-1`…, or `edge` alone): the `edge`
    label of what ears heard."""
    component = stack.links[link].component if link in stack.links else link
    return [component] if count == 1 else [f"{component}-{n}" for n in range(1, count + 1)]


@dataclass(frozen=True)
class CohortPlan:
    """``control`` of the audience goes through ``dialled`` (the link's control proxies)."""

    control: float
    dialled: list[str]


class Audience:
    """The listeners of one run: one swarm whose listeners dial the targets of the listeners'
    link, dealt round-robin, and when the audience is split, each cohort its own (the control
    cohort's listeners dial the control proxies). Each (cohort, target) is a crowd of the swarm
    (``chaos.workload.swarm.Crowds``), and every worker process carries its share of every
    crowd: what a loaded machine's scheduler does to a worker, it does to both cohorts alike,
    so the difference a differential SLO judges cancels it.

    ``start_at`` is the run's T0 on ``time.monotonic()``, so the listeners keep the run's
    clock (a run makes its audience ``ready`` first, then fixes T0 and calls ``begin_at``);
    None starts the swarm when its workers are (``duration`` seconds of listening, as the
    pytest plugin's fixture promises)."""

    def __init__(
        self,
        experiment: Experiment,
        stack: StackSpec,
        dialled: list[str],
        *,
        seed: int,
        base_dir: Path,
        start_at: float | None,
        duration: float,
        on_heard: EarSink | None = None,
        cohorts: CohortPlan | None = None,
        join_via: list[str] | None = None,
    ) -> None:
        """``join_via``: the join link's proxies, when the stack has a join API (listeners
        are dealt over them as over the edges)."""
        entry = stack.audience.listeners
        self.swarm: Swarm | None = None
        self.cohorts: list[Cohort | None] = []
        """The cohort of each of the swarm's crowds."""
        self.result: SwarmResult | None = None
        if entry is None or not experiment.workload.listeners:
            return
        if not dialled:
            raise InvalidInput(f"link {entry.link} has no target", where=f"stack {stack.name}")
        whole = schedule(experiment.workload, seed, duration, base_dir)
        groups: list[tuple[Cohort | None, Schedule, list[str]]] = [(None, whole, dialled)]
        if cohorts is not None:
            split = split_audience(whole, cohorts.control, seed)
            rest = max(0.0, 1.0 - 2 * cohorts.control)
            groups = [
                (Cohort.CONTROL, cohort_schedule(whole, split.control, cohorts.control),
                 cohorts.dialled),
                (Cohort.EXPERIMENT, cohort_schedule(whole, split.experiment, cohorts.control),
                 dialled),
                (Cohort.REST, cohort_schedule(whole, split.rest, rest), dialled),
            ]  # fmt: skip
        edges = edge_names(stack, entry.link, len(dialled))
        parts = [
            (cohort, part, address, edge, addresses)
            for cohort, group, addresses in groups
            if group.joins
            for part, address, edge in zip(
                split_schedule(group, len(addresses)), addresses, edges, strict=True
            )
            if part.joins
        ]
        if entry.join is not None and not join_via:
            raise InvalidInput(
                f"link {entry.join.link} has no target", where=f"stack {stack.name}: join"
            )
        crowds = []
        for n, (cohort, part, address, edge, addresses) in enumerate(parts):
            self.cohorts.append(cohort)
            join = JoinPlan(join_via[n % len(join_via)], dialled, edges) if join_via else None
            config = listener_config(
                entry, address, experiment, edge, join=join, addresses=addresses
            )
            crowds.append((part, config))
        listeners, dealt = mixed(crowds)
        self.swarm = Swarm(
            listeners,
            dealt,
            seed=seed,
            duration=duration,
            start_at=start_at,
            on_heard=on_heard,
            attempts=cohorts is not None,
        )

    @property
    def count(self) -> int:
        return len(self.swarm.schedule.joins) if self.swarm is not None else 0

    def stats(self) -> ListenerStats:
        return self.swarm.stats() if self.swarm is not None else ListenerStats()

    def stats_by_cohort(self) -> dict[str, ListenerStats]:
        """Each cohort's merged totals (the ``cohort`` label of listener metrics)."""
        out: dict[str, ListenerStats] = {}
        crowds = self.swarm.crowd_stats() if self.swarm is not None else []
        for cohort, stats in zip(self.cohorts, crowds, strict=True):
            key = str(cohort) if cohort is not None else "all"
            out[key] = out.get(key, ListenerStats()).merged(stats)
        return out

    def samples(self) -> CohortSamples:
        """Every attempt of the cohorts, once the swarm has run, with its listener's crowd."""
        attempts: dict[Cohort, list[tuple[int, Attempt]]] = {}
        if self.swarm is not None and self.result is not None:
            of = self.swarm.crowds.of
            for attempt in self.result.attempts:
                crowd = of[attempt[0]]
                cohort = self.cohorts[crowd]
                if cohort is not None:
                    attempts.setdefault(cohort, []).append((crowd, attempt))
        return CohortSamples(attempts)

    def stop(self) -> None:
        if self.swarm is not None:
            self.swarm.stop()

    def starts(self) -> list[dict[str, object]]:
        """When the swarm's workers were ready, in seconds from T0 (None: never), for each
        cohort and edge: joins due before then started late, all at once (the journal's
        ``workload.started``). Cohorts share the workers, so they are ready together."""
        swarm = self.swarm
        if swarm is None:
            return []
        ready = (
            None
            if swarm.ready_at is None or swarm.start_at is None
            else round(swarm.ready_at - swarm.start_at, 3)
        )
        return [
            {
                "cohort": str(cohort) if cohort is not None else None,
                "edge": swarm.crowds.configs[crowd].edge,
                "listeners": swarm.crowds.of.count(crowd),
                "ready": ready,
            }
            for crowd, cohort in enumerate(self.cohorts)
        ]

    def incomplete(self) -> str | None:
        """Never: the run makes the swarm ``ready`` before it fixes T0, so its listeners keep
        the run's clock, and a worker that dies fails the run at once (an infrastructure
        error) instead of leaving the audience short."""
        return None

    async def ready(self) -> None:
        """The swarm's workers spawned and ready to dial (``Swarm.ready``), so that the run
        fixes T0 only once its listeners can meet it."""
        if self.swarm is not None:
            await self.swarm.ready()

    def begin_at(self, t0: float) -> None:
        """The listeners' T0 (``time.monotonic()``), once the run has fixed it."""
        if self.swarm is not None:
            self.swarm.start_at = t0

    async def run(self) -> SwarmResult | None:
        if self.swarm is not None:
            self.result = await self.swarm.run()
        return self.result
