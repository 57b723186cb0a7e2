"""Which engine drives a run's listeners: the native swarm, or Locust's distributed engine.

The runner sees either through ``ListenerLoad``: a listener count, merged totals for the
``gameday_listener*`` metrics, stop, run, and whether the load was incomplete. Locust follows
the experiment's arrival curve as a load shape from the run's T0, with ``--locust-workers N``
local workers, or N workers started on other machines attaching to ``--locust-master-bind``.
Faults, metrics, SLOs and rollback stay with the runner either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from chaos.errors import InvalidInput
from chaos.experiment.experiment import Experiment
from chaos.experiment.stack import StackSpec
from chaos.experiment.workload import Paced
from chaos.runner.audience import CohortPlan, edge_names, listener_config
from chaos.slo.cohorts import CohortSamples
from chaos.workload.cohorts import Cohort
from chaos.workload.experiment import schedule
from chaos.workload.locust.engine import LocustEngine, MasterBind
from chaos.workload.locust.job import LocustJob
from chaos.workload.locust.shape import LoadShape
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import default_workers

#: Locust's users stay this long past the run's end, so the harness's last read of the
#: workers still sees them; the harness stops Locust right after it.
LINGER = 30.0


class Engine(StrEnum):
    NATIVE = "native"
    LOCUST = "locust"


class ListenerLoad(Protocol):
    @property
    def count(self) -> int: ...

    def stats(self) -> ListenerStats: ...

    def stop(self) -> None: ...

    async def ready(self) -> None:
        """The load generator started and able to meet T0 (a run waits for it, then fixes T0)."""

    def begin_at(self, t0: float) -> None:
        """The listeners' T0 on ``time.monotonic()``, once the run has fixed it."""

    async def run(self) -> object: ...

    def incomplete(self) -> str | None:
        """Why the experiment's audience was not all there (None: it was)."""

    def stats_by_cohort(self) -> dict[str, ListenerStats]:
        """Each cohort's merged totals (the ``cohort`` label; empty before any are known)."""

    def samples(self) -> CohortSamples:
        """Every attempt of each cohort, once the load has run (differential SLOs)."""


@dataclass(frozen=True)
class LoadOptions:
    """``locust_workers``: workers the master waits for (default: one per core, local);
    ``master_bind``: ``HOST:PORT`` where workers started elsewhere attach (none start here)."""

    engine: str = Engine.NATIVE
    locust_workers: int | None = None
    master_bind: str | None = None

    def check(self, experiment: Experiment, stack: StackSpec | None = None) -> None:
        """Refuse (exit 2) what the chosen engine cannot run on ``stack``, before anything
        starts."""
        where = "gameday run --load-engine"
        if self.engine not in tuple(Engine):
            raise InvalidInput(
                f"unknown load engine {self.engine!r}", where=where, fix="native or locust"
            )
        if self.engine != Engine.LOCUST:
            if self.locust_workers is not None or self.master_bind is not None:
                raise InvalidInput(
                    "--locust-workers and --locust-master-bind need --load-engine locust",
                    where=where,
                    fix="add --load-engine locust, or drop the Locust options",
                )
            return
        if self.locust_workers is not None and self.locust_workers < 1:
            raise InvalidInput(
                f"--locust-workers {self.locust_workers}", where=where, fix="give 1 or more"
            )
        if self.master_bind is not None:
            MasterBind.parse(self.master_bind)
            if self.locust_workers is None:
                raise InvalidInput(
                    "--locust-master-bind needs --locust-workers N: how many workers to wait for",
                    where=where,
                    fix="e.g. --locust-master-bind 0.0.0.0:5557 --locust-workers 8",
                )
        entry = stack.audience.listeners if stack is not None else None
        if stack is not None and entry is not None and entry.join is not None:
            raise InvalidInput(
                f"stack {stack.name}'s listeners join through {entry.join.link} first, which "
                "Locust users do not do yet",
                where="--load-engine locust",
                fix="run it with --load-engine native",
            )
        gated = [p for p in experiment.workload.listeners if isinstance(p, Paced)]
        if any(p.max_in_flight is not None for p in gated):
            raise InvalidInput(
                "a paced phase's max_in_flight has no equivalent in Locust (its users spawn at a "
                "rate, with no limit on joins in flight)",
                where="workload.listeners",
                fix="run it with --load-engine native, or drop max_in_flight and keep the rate",
            )


def locust_load(
    options: LoadOptions,
    experiment: Experiment,
    stack: StackSpec,
    dialled: list[str],
    *,
    seed: int,
    base_dir: Path,
    start_at: float | None,
    duration: float,
    logs: Path,
    interval: float,
    on_lost: Callable[[str], None] | None = None,
    cohorts: CohortPlan | None = None,
) -> LocustEngine:
    """The experiment's listeners as a Locust run: one listener config per target of the
    listeners' link (users dealt round-robin), the schedule as the master's shape. With
    ``cohorts``, one config per target and cohort (control's dial the control proxies); the
    workers deal each user a cohort as it starts, then one of its cohort's targets."""
    entry = stack.audience.listeners
    if entry is None or not dialled:
        raise InvalidInput("the stack says nowhere for listeners to connect", where=stack.name)
    whole = schedule(experiment.workload, seed, duration, base_dir)
    edges = edge_names(stack, entry.link, len(dialled))
    groups: list[tuple[str, list[str]]] = [("", dialled)]
    if cohorts is not None:
        groups = [
            (Cohort.CONTROL, cohorts.dialled),
            (Cohort.EXPERIMENT, dialled),
            (Cohort.REST, dialled),
        ]
    targets = [
        (str(cohort), listener_config(entry, address, experiment, edge))
        for cohort, addresses in groups
        for address, edge in zip(addresses, edges, strict=True)
    ]
    configs = tuple(config for _, config in targets)
    for config in configs:
        config.adapter()  # validates the URL before anything starts
    job = LocustJob(
        configs,
        LoadShape.of(whole, duration + LINGER),
        t0=None if start_at is None else time.time() + (start_at - time.monotonic()),
        seed=seed,
        snapshot_interval=interval,
        control=cohorts.control if cohorts is not None else None,
        cohorts=tuple(cohort for cohort, _ in targets) if cohorts is not None else (),
    )
    attached = options.master_bind is not None
    workers = options.locust_workers or default_workers()
    logs.mkdir(parents=True, exist_ok=True)
    return LocustEngine(
        job,
        listeners=len(whole.joins),
        workers=workers,
        local_workers=0 if attached else workers,
        bind=MasterBind.parse(options.master_bind) if options.master_bind else None,
        logs=logs,
        start_at=start_at,
        duration=duration,
        interval=interval,
        on_lost=on_lost,
    )
