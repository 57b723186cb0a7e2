"""`gameday run`: one game day, DESIGN.md's nine steps, with a rollback that always runs.

Order: check that the fault proxy can make every fault (nothing starts otherwise) → sweep what
killed runs left on it → create one proxy per link target and start the stack behind them →
scrape metrics and check every SLO's metric exists → baseline (the audience's swarm starts,
the stack must be healthy by T0, steady-state SLOs must hold) → the fault timeline, the
workload and the guards, concurrently → recovery → rollback → evaluate → verdict, JUnit,
journal. Whatever ends the run (the end, a guard, an error, SIGINT/SIGTERM), ``finally``
rolls back before anything else is torn down; a SIGKILLed run is covered by the next run's
sweep and ``gameday rollback``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from rich.console import Console

from chaos.errors import ExitCode, GamedayError, InfrastructureError, InvalidInput
from chaos.experiment import describe
from chaos.experiment.experiment import Cohorts, Experiment
from chaos.experiment.faults import (
    Fault,
    FeedbackFault,
    FloodFault,
    KillFault,
    PartitionFault,
    PauseFault,
    RestartFault,
    target_of,
)
from chaos.experiment.loader import LoadedExperiment
from chaos.experiment.stack import StackSpec
from chaos.experiment.timeline import Timeline
from chaos.experiment.units import Ratio
from chaos.faults.client import AsyncToxiproxyClient, ServerInfo
from chaos.faults.client.errors import ToxiproxyTimeout, ToxiproxyUnreachable
from chaos.faults.client.protocol import FLAG, ChosenUrl
from chaos.faults.feedback import FeedbackLoop, target_in
from chaos.metrics.backend import choose_prometheus
from chaos.report.clock import utc
from chaos.report.experiment import EXPERIMENT_KIND, experiment_record
from chaos.report.failures import FAILURES_KIND, failure_rows_of, failures_record
from chaos.report.journal import JournalWriter, new_run_id
from chaos.report.summary import SLO_KIND, VERDICT_KIND
from chaos.report.timeseries import FAULT_PROXY_JOB, PROXIES_KIND
from chaos.runner.audience import (
    Audience,
    CohortPlan,
    RunScale,
    audience_problems,
    scaled,
    stack_for,
)
from chaos.runner.exits import COMPONENT_EXIT_KIND, ComponentExit, ExitWatch
from chaos.runner.faults import FaultDriver, replicas_of
from chaos.runner.guards import GuardWatch, Trip
from chaos.runner.infrastructure import (
    INFRASTRUCTURE_KIND,
    HarnessFailed,
    HarnessFailure,
    Part,
    part_of,
)
from chaos.runner.interrupts import Interrupts
from chaos.runner.junit import failure_message, junit_xml
from chaos.runner.link_proxies import LinkProxy, plan_link_proxies, set_up
from chaos.runner.load_engine import Engine, ListenerLoad, LoadOptions, locust_load
from chaos.runner.metrics import BaselineUnhealthy, RunMetrics
from chaos.runner.on_air import OnAirCollector
from chaos.runner.owners import Host, Registry, liveness, own_record, process_running
from chaos.runner.proxy_process import ProxyProcess
from chaos.runner.run_tag import tag
from chaos.runner.sweep import sweep
from chaos.runner.timeline import Action, ResolvedTimeline, fault_params, resolve
from chaos.runner.toxics import check_runnable, check_supported, flood_plan
from chaos.runner.verdict import Verdict, decide
from chaos.runner.view import FaultNow, LiveView, Snapshot
from chaos.slo.adapt import objectives_from_experiment, timeline_at
from chaos.slo.cohorts import evaluate_differential
from chaos.slo.display import formats
from chaos.slo.evaluate import SloResult, Status, evaluate_all
from chaos.slo.live import live_state
from chaos.slo.objective import Context, Objective, Quantile, Selector
from chaos.slo.window import Anchor, Interval
from chaos.slo.window import Timeline as WallTimeline
from chaos.stack import state
from chaos.stack.backend import KernelFaults, StackBackend, make_backend, proxy_host
from chaos.stack.capabilities import COMPONENT_KINDS, KERNEL_KINDS, PROXY_KINDS, check_kinds
from chaos.stack.local import RunningStack
from chaos.stack.plan import StackPlan
from chaos.workload.cohorts import ATTEMPT_FIELDS, MAX_CONTROL, Cohort, control_name, is_control
from chaos.workload.metrics import CohortCollector, ListenerCollector
from chaos.workload.stats import ListenerStats

BACKEND_KINDS = PROXY_KINDS | COMPONENT_KINDS | KERNEL_KINDS
"""Fault capabilities a stack backend is asked about; feedback and floods are the harness's."""

GUARD_EVERY = 1.0
"""Seconds between guard checks (the scrape interval: no new data comes faster)."""

PROXY_CHECK_EVERY = 1.0
"""Seconds between looks at the fault proxy (is the embedded child alive, does the API answer)."""

PROXY_PROBE_TIMEOUT = 2.0
"""Seconds one look at the fault proxy's API may take (it answers in milliseconds)."""

PROXY_SILENCE = 6.0
"""Seconds without any answer after which the fault proxy counts as hung (SIGSTOPped, wedged):
three missed looks in a row, so a slow answer on a loaded machine is not taken for a hang."""

EXIT_STATUS_WAIT = 5.0
"""Seconds to wait for an embedded proxy's exit status once its API refuses: the report says
how it ended (``killed by SIGKILL``), not only that it is gone."""

ROLLBACK_TIMEOUT_WHEN_LOST = 2.0
"""Seconds each rollback call may take once the fault proxy is known lost (still tried)."""

METRICS_GONE_AFTER = 5.0
"""Seconds a metrics endpoint may refuse connections before it counts as gone (never for a
replica a kill, pause, restart or partition fault touched, or one that exited by itself)."""

COHORT_SAMPLES_KIND = "cohort.samples"
"""Journal kind of one cohort's listener attempts (what differential SLOs bootstrapped over)."""

RECENT = 10.0
"""Seconds the live view's "p95 time to first audio now" looks back."""


RECENT_TTFA = Quantile(Selector.of("gameday_listener_time_to_first_audio_seconds"), 0.95)


@dataclass(frozen=True)
class RunOptions:
    seed: int | None = None
    scale: RunScale = 1.0
    """``--scale``: ``1:N`` (a Scale) or the older bare multiplier of counted phases."""
    junit: Path | None = None
    report: Path | None = None
    toxiproxy: str | None = None
    """A Toxiproxy (or `gameday proxy serve`) API URL; None starts the embedded server."""
    toxiproxy_source: str = FLAG
    """What named ``toxiproxy`` (``--toxiproxy``, ``TOXIPROXY_URL``, the recorded run), for
    its errors."""
    prometheus: str | None = None
    keep_stack: bool = False
    out: Path | None = None
    backend: str = "local"
    """How the stack runs: `local` processes, `netns` namespaces or `docker` containers."""
    scrape_interval: float = 1.0
    load: LoadOptions = field(default_factory=LoadOptions)
    """Which engine drives the listeners (`native` swarm or `locust`) and its options."""
    control: Ratio | None = None
    """``--control 50%``: split the audience into cohorts (overrides the file's ``cohorts``)."""
    health_timeout: float | None = None
    """Seconds the stack may take to become ready (``--health-timeout``; None: the backend's)."""
    images: dict[str, str] = field(default_factory=dict)
    """``--image COMPONENT=IMAGE``: the user's own images on the Docker backend."""

    def pointed_at(self, chosen: ChosenUrl | None) -> RunOptions:
        """These options with the fault proxy a command was pointed at (None: the embedded)."""
        if chosen is None:
            return replace(self, toxiproxy=None)
        return replace(self, toxiproxy=chosen.url, toxiproxy_source=chosen.source)


@dataclass
class RunOutcome:
    verdict: Verdict
    run_id: str
    run_dir: Path
    results: list[SloResult] = field(default_factory=list)
    message: str | None = None
    rollback_seconds: float | None = None
    problems: list[str] = field(default_factory=list)
    failures: list[HarnessFailure] = field(default_factory=list)
    """Harness-side failures (the verdict is ``infrastructure`` when there is any)."""
    exits: list[ComponentExit] = field(default_factory=list)
    """Stack components that exited by themselves (the stack's doing; the SLOs judge it)."""

    @property
    def exit_code(self) -> ExitCode:
        return self.verdict.exit_code

    @property
    def journal(self) -> Path:
        return self.run_dir / "journal.jsonl"


class Aborted(Exception):
    """A guard tripped with ``on_abort: immediate``: the run ends now."""

    def __init__(self, trip: Trip) -> None:
        super().__init__(trip.describe())
        self.trip = trip


def plan_for(loaded: LoadedExperiment, scale: RunScale, backend: str = "local") -> ResolvedTimeline:
    """The timeline ``gameday run --dry-run`` prints, once every fault is one this runner and
    ``backend`` can make (what a dry run can know without starting anything or probing)."""
    check_kinds(backend, backend_kinds(loaded.experiment))
    check_runnable(loaded.experiment.faults, loaded.stack)
    return resolve(scaled(loaded.experiment, scale))


def with_control(experiment: Experiment, control: Ratio | None) -> Experiment:
    """``--control 50%``: the experiment with its audience split into cohorts."""
    if control is None:
        return experiment
    if not 0.0 < control.fraction <= MAX_CONTROL:
        raise InvalidInput(
            f"the control cohort must be above 0% and at most 50% of the audience (control "
            f"and experiment are the same size), not {control}",
            where="--control",
            fix="e.g. --control 50%",
        )
    cohorts = Cohorts(control=control)
    return experiment.model_copy(update={"cohorts": cohorts})


def _on_link(fault: Fault, link: str) -> bool:
    """A toxic on ``link`` (what only the experiment cohort's proxies carry)."""
    return not isinstance(fault, FloodFault) and getattr(fault, "link", None) == link


def backend_kinds(experiment: Experiment) -> tuple[str, ...]:
    """The fault capabilities the experiment asks of its stack backend."""
    return tuple(sorted({f.capability for f in experiment.faults} & BACKEND_KINDS))


def _first_error(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The exception a TaskGroup failure stands for: ours first, else the first one."""
    flat: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            flat.append(exc)

    walk(group)
    for wanted in (Aborted, GamedayError):
        for exc in flat:
            if isinstance(exc, wanted):
                return exc
    return flat[0]


class GameDay:
    """One run of one experiment. ``await GameDay(...).execute()`` never raises for expected
    failures: it returns the outcome with its verdict, after rolling back."""

    def __init__(self, loaded: LoadedExperiment, options: RunOptions, console: Console) -> None:
        self.loaded = loaded
        self.options = options
        self.console = console
        self.experiment = with_control(scaled(loaded.experiment, options.scale), options.control)
        self.control = self.experiment.cohorts.control.fraction if self.experiment.cohorts else None
        self.seed = (
            options.seed
            if options.seed is not None
            else self.experiment.seed
            if self.experiment.seed is not None
            else random.SystemRandom().randrange(2**63)
        )
        self.timeline = resolve(self.experiment)
        self.slos = objectives_from_experiment(self.experiment)
        self.stack_spec: StackSpec = stack_for(self.experiment, loaded.stack)
        self.prometheus = choose_prometheus(options.prometheus, os.environ)
        self.run_id = new_run_id()
        self.run_dir = (options.out or Path("runs") / self.run_id).resolve()
        self.journal = JournalWriter(
            self.run_dir / "journal.jsonl",
            run_id=self.run_id,
            seed=self.seed,
            meta={
                "title": self.experiment.title,
                "experiment": str(loaded.path),
                "stack": self.stack_spec.name,
                "scale": options.scale if isinstance(options.scale, float) else str(options.scale),
                "toxiproxy": options.toxiproxy or "embedded",
                # The Prometheus used, from --prometheus or PROMETHEUS_URL, as for the fault
                # proxy: a replay without either uses what the run did.
                "prometheus": None if self.prometheus is None else self.prometheus.given,
                "load_engine": options.load.engine,
            },
        )
        self.journal.write(EXPERIMENT_KIND, **experiment_record(self.experiment))
        self.snapshot = Snapshot(
            self.experiment.title,
            run_id=self.run_id,
            end=self.timeline.run_end,
            formats=formats(self.experiment),
        )
        self.view = LiveView(console, self.snapshot, now=self._now)
        self.guards = GuardWatch(self.experiment.abort)
        self.registry = CollectorRegistry()
        self.registry.register(
            ListenerCollector(self._listener_stats)
            if self.control is None
            else CohortCollector(self._cohort_stats)
        )
        self.on_air_wall: float | None = None
        """When the first ear heard the host (wall clock): T0 + the on-air delay."""
        self.registry.register(OnAirCollector(self._on_air_delay))
        self.control_dialled: list[str] = []
        """What the control cohort dials: the listener link's control proxies."""
        self.embedded: ProxyProcess | None = None
        self.client: AsyncToxiproxyClient | None = None
        self.server: ServerInfo | None = None
        self.backend: StackBackend | None = None
        self.stack: RunningStack | None = None
        self.driver: FaultDriver | None = None
        self.exit_watch: ExitWatch | None = None
        self.exits: list[ComponentExit] = []
        self.audience: ListenerLoad | None = None
        self.metrics: RunMetrics | None = None
        self.created_proxies: list[str] = []
        """Proxies this run created on the fault proxy: the only ones it may delete."""
        self.owners = Registry()
        """Who owns what on a shared fault proxy (this run's record, for later sweeps)."""
        self.resources = contextlib.AsyncExitStack()
        self.started_mono = time.monotonic()
        self.fault_ends = {
            f.name: f.end.seconds for f in self.experiment.faults if not isinstance(f, RestartFault)
        }
        self.t0_mono: float | None = None
        self.t0_wall: float | None = None
        self.end_wall: float | None = None
        self.aborted_by: Trip | None = None
        self.failures: list[HarnessFailure] = []
        """Harness-side failures so far: any one makes the verdict ``infrastructure``."""
        self._stuck_problems: set[str] = set()
        self._metrics_refused_since: dict[str, float] = {}
        self._disturbed: set[str] = set()
        """Replicas a component fault touched: their metrics going silent is the fault's doing."""
        self.recovering = False
        """A guard tripped with ``on_abort: recover``: faults are off, the workload goes on."""

    def _now(self) -> float:
        """Seconds from T0 (negative before it); before T0 is scheduled, from the start."""
        origin = self.t0_mono if self.t0_mono is not None else self.started_mono
        return time.monotonic() - origin

    # ----------------------------------------------------------------- the run, top down

    async def execute(self) -> RunOutcome:
        task = asyncio.current_task()
        assert task is not None
        outcome = RunOutcome(Verdict.PASS, self.run_id, self.run_dir)
        error: ExitCode | None = None
        with Interrupts(task, self.view.event) as interrupts, self.view:
            try:
                try:
                    await self._session()
                finally:
                    interrupts.protect()
                    outcome.rollback_seconds, outcome.problems = await self._teardown()
            except asyncio.CancelledError:
                if interrupts.received is None:
                    raise
                outcome.message = f"interrupted by {interrupts.received.name}; rolled back"
            except GamedayError as exc:
                error = exc.exit_code
                outcome.message = exc.render()
                self._failed_with(exc)
            except Aborted:
                pass  # recorded when the guard tripped; the SLOs are still evaluated below
            interrupted = interrupts.received is not None
            try:
                async with self.resources:
                    if not interrupted and error is None:
                        outcome.results = await self._evaluate()
            except GamedayError as exc:
                error = exc.exit_code
                outcome.message = exc.render()
                self._failed_with(exc)
        if self.aborted_by is not None and outcome.message is None:
            outcome.message = self.aborted_by.describe()
        if isinstance(self.audience, Audience) and self.audience.swarm is not None:
            self.journal.write("workload.started", swarms=self.audience.starts())
        incomplete = self.audience.incomplete() if self.audience is not None else None
        if incomplete is not None:
            self.journal.write("workload.incomplete", reason=incomplete)
            if not any(f.part is Part.LOAD for f in self.failures):
                self._harness_failed(Part.LOAD, incomplete)
        if self.failures and outcome.message is None:
            outcome.message = "the run could not judge the stack: " + "; ".join(
                f.describe() for f in self.failures
            )
        outcome.verdict = decide(
            outcome.results,
            interrupted=interrupts.received is not None,
            error=error,
            aborted_by=self.aborted_by.guard if self.aborted_by else None,
            infrastructure=self.failures,
        )
        outcome.failures = list(self.failures)
        outcome.exits = list(self.exits)
        self._finish(outcome)
        return outcome

    async def _session(self) -> None:
        await self._connect_proxy()
        await self._start_stack()
        await self._start_metrics()
        await self._ready_audience()
        self._schedule_audience()
        try:
            async with asyncio.TaskGroup() as tasks:
                assert self.metrics is not None and self.audience is not None
                scraping = tasks.create_task(self.metrics.scraper.run())
                tasks.create_task(self.audience.run())
                watching = tasks.create_task(self._watch())
                lease_ms = self._lease_ms()
                renewing = tasks.create_task(
                    self._renew_leases(lease_ms) if lease_ms else asyncio.sleep(0)
                )
                guarding_proxy = tasks.create_task(self._watch_proxy())
                assert self.exit_watch is not None
                watching_exits = tasks.create_task(self.exit_watch.run(self._component_exited))
                await self._baseline()
                await self._method()
                scraping.cancel()
                watching.cancel()
                renewing.cancel()
                guarding_proxy.cancel()
                watching_exits.cancel()
        except BaseExceptionGroup as group:
            raise _first_error(group) from None

    # ----------------------------------------------------------------- steps 1-3

    async def _connect_proxy(self) -> None:
        self.backend = make_backend(
            self.options.backend,
            self.stack_spec,
            self.run_dir,
            self.run_id,
            tied=not self.options.keep_stack,
            fault_kinds=backend_kinds(self.experiment),
            params=self.experiment.stack_params,
            health_timeout=self.options.health_timeout,
            images=self.options.images,
        )
        url = self.options.toxiproxy
        if url is None and hasattr(self.backend, "start_proxy"):
            url = await self.backend.start_proxy()  # the stack cannot reach our loopback
        elif url is None:
            log = self.run_dir / "logs" / "fault-proxy.log"
            self.embedded = await ProxyProcess(log, seed=self.seed).start()
            url = self.embedded.url
        self.client = AsyncToxiproxyClient(url)
        try:
            self.server = server = await self.client.server_info()
        except ToxiproxyUnreachable as exc:
            if self.options.toxiproxy is None:
                raise
            raise exc.named_by(self.options.toxiproxy_source) from None
        self.journal.write(
            "proxy",
            url=self.client.url,
            flavor=server.flavor,
            version=server.version,
            features=sorted(server.features),
            pid=self.embedded.pid if self.embedded is not None else None,
        )
        check_supported(
            self.experiment.faults,
            self.stack_spec,
            server.features,
            self.client.url,
            kernel=isinstance(self.backend, KernelFaults),
        )
        problems = audience_problems(self.experiment, self.stack_spec)
        if problems:
            raise InvalidInput("\n  ".join(problems), where=str(self.loaded.stack_path))
        await self._sweep()

    async def _sweep(self) -> None:
        """Remove only what provably dead runs of this stack left (chaos.runner.sweep), then
        record this run as the owner of what it will make, so a later sweep can tell."""
        assert self.client is not None
        here = Host.here()
        swept = await self.client.run(
            sweep(
                self.client.api,
                run_id=self.run_id,
                stack=self.stack_spec.name,
                lookup=self.owners.records,
                status=lambda record: liveness(record, here, process_running),
            )
        )
        self.journal.write(
            "sweep",
            removed=[f"{r.name} on {r.proxy}" for r in swept.removed],
            deleted=list(swept.deleted),
            enabled=list(swept.enabled),
            dead_runs=list(swept.dead),
            kept=dict(swept.kept),
        )
        for line in swept.lines():
            self.view.event(line)
        for run_id in swept.dead:
            self.owners.remove(run_id)
        self._record_owner()

    def _record_owner(self) -> None:
        assert self.client is not None
        self.owners.write(
            own_record(self.run_id, self.stack_spec.name, self.client.url, self.created_proxies)
        )

    def _proxied(self, link: str) -> bool:
        udp = self.stack_spec.links[link].protocol == "udp"
        return not udp or (self.server is not None and self.server.supports("udp"))

    async def _start_stack(self) -> None:
        assert self.client is not None
        self.journal.phase("stack")
        self.snapshot.phase = "stack"
        backend = self.backend
        assert backend is not None
        plan = backend.plan()
        self.snapshot.waiting_for = ["the fault proxy's links"]
        backend.on_waiting = self._waiting_for
        links = [link for link in plan.links if self._proxied(link)]
        tags = self.server is not None and self.server.supports("tags")
        planned = plan_link_proxies(
            self.stack_spec,
            plan,
            links,
            self.run_id,
            host=proxy_host(backend),
            tags=tags,
            shared=self.options.toxiproxy is not None,
        )
        planned += self._control_proxies(planned, plan)
        made = await self.client.run(
            set_up(self.client.api, planned, where=str(self.loaded.stack_path))
        )
        self.created_proxies = made.created
        self._record_owner()  # before anything else can fail: a killed run's proxies are known
        for note in made.notes:
            self.view.event(note)
        self.control_dialled = [made.proxies[p.key].listen for p in planned if is_control(p.key)]
        self.journal.write(
            PROXIES_KIND, names={key: proxy.name for key, proxy in sorted(made.proxies.items())}
        )
        self.driver = FaultDriver(
            self.client,
            backend,
            self.stack_spec,
            {link: [made.proxies[key].name for key in plan.proxy_names(link)] for link in links},
            self.run_id,
            self.journal,
            lease_ms=self._lease_ms(),
        )
        self.driver.on_end = self._fault_ended
        self.stack = stack = await backend.start(
            {key: proxy.listen for key, proxy in made.proxies.items() if not is_control(key)}
        )
        self.exit_watch = ExitWatch(lambda: stack.processes, stack.logs, self._now)
        self.driver.feedback = self._feedback_loops(self.stack)
        self.driver.dialled = self.stack.dialled
        self.driver.flood_lease = self.experiment.rollback.lease.seconds
        faults = self.experiment.faults
        for fault in faults:
            flood = flood_plan(fault, faults) if isinstance(fault, FloodFault) else None
            if flood is not None:
                self.driver.flood_plans[fault.name] = flood
        self.journal.write(
            "stack.up",
            processes=[{"name": p.name, "pid": p.pid} for p in self.stack.processes],
            dialled=self.stack.dialled,
            direct=sorted(set(plan.links) - set(links)),
            metrics=self.stack.metrics,
        )

    def _control_proxies(self, planned: list[LinkProxy], plan: StackPlan) -> list[LinkProxy]:
        """With cohorts: a copy of each proxy of the listeners' link (``LINK~control``) that no
        fault ever touches (the fault driver does not know them); journalled with the faults
        that hit both cohorts anyway (components, floods, other links)."""
        entry = self.stack_spec.audience.listeners
        if self.control is None or entry is None:
            return []
        names = set(plan.proxy_names(entry.link))
        shared = self.options.toxiproxy is not None
        controls = []
        for p in planned:
            if p.key not in names or p.spec is None:
                continue
            key = control_name(p.key)
            name = tag(key, self.run_id) if shared else key
            controls.append(
                LinkProxy(key, p.link, name, p.upstream, p.spec.model_copy(update={"name": name}))
            )
        if not controls:
            raise InvalidInput(
                f"cohorts need the listeners' link {entry.link} behind the fault proxy",
                where=str(self.loaded.stack_path),
            )
        everyone = [f.name for f in self.experiment.faults if not _on_link(f, entry.link)]
        self.journal.write(
            "cohorts",
            control=self.control,
            link=entry.link,
            control_proxies=[c.name for c in controls],
            everyone=everyone,
        )
        for name in everyone:
            self.view.event(f"fault {name} hits both cohorts (not on {entry.link})")
        return controls

    def _waiting_for(self, names: list[str]) -> None:
        """Start-up is waiting for these replicas to be healthy: say so, not just a clock."""
        self.snapshot.waiting_for = [f"{name} to be healthy" for name in names]
        self.view.refresh()

    def _lease_ms(self) -> int | None:
        """The faults' lease when the server has leases (else rollback relies on the sweep)."""
        if self.server is None or not self.server.supports("leases"):
            return None
        return max(1, round(self.experiment.rollback.lease.seconds * 1000))

    async def _renew_leases(self, lease_ms: int) -> None:
        """Renew every leased fault of the run in one call, every third of the lease, so two
        missed renewals still leave it covered and a SIGKILLed run's faults end within one."""
        assert self.client is not None
        while True:
            await asyncio.sleep(lease_ms / 3000)
            try:
                await self.client.renew_leases(self.run_id, lease_ms)
            except GamedayError as exc:  # the next renewal may get through; the lease is 3x
                self.journal.write("lease.renew_failed", error=exc.render())
                self.view.event(f"lease renewal failed: {exc.what}")

    def _feedback_loops(self, stack: RunningStack) -> dict[str, FeedbackLoop]:
        """One loop per feedback fault, made now so its gameday_feedback_* metrics exist
        (and SLOs on them pass the name check) before it closes."""
        entry = self.stack_spec.audience.listeners
        faults = [f for f in self.experiment.faults if isinstance(f, FeedbackFault)]
        if faults and entry is None:
            raise InvalidInput(
                "a feedback fault listens to the room, and the stack spec does not say where "
                "listeners connect",
                where=str(self.loaded.stack_path),
                fix="add `audience: {listeners: {link: LINK, path: /stream}}` to the spec",
            )
        speaker_links = [link for link in self.stack_spec.links if link.startswith("speaker->")]
        loops = {}
        for fault in faults:
            assert entry is not None
            target = target_in(
                stack,
                fault.feedback.speaker,
                entry.path,
                component=self.stack_spec.audience.speakers or "speaker",
                listener_link=entry.link,
                ingest_link=speaker_links[0] if speaker_links else "speaker->ingest",
                stream_format=entry.format,
            )
            loops[fault.name] = FeedbackLoop(
                fault.name,
                fault.feedback,
                target,
                self.registry,
                lease=self.experiment.rollback.lease.seconds,
            )
        return loops

    async def _start_metrics(self) -> None:
        assert self.stack is not None
        self.metrics = RunMetrics(
            {**self.stack.metrics, **await self._proxy_metrics()},
            self.registry,
            self.journal,
            interval=self.options.scrape_interval,
            prometheus=self.prometheus,
            resources=self.resources,
        )
        await self.metrics.start(self.slos, self.experiment.abort, self.run_dir / "logs")
        for note in self.metrics.unmatched:
            self.view.event(f"no series matches yet: {note}")

    async def _proxy_metrics(self) -> dict[str, str]:
        """The fault proxy's /metrics when it serves one (ours always does; a real Toxiproxy
        only with -proxy-metrics): nothing is lost without it but the report's throughput. Its
        health is ``_watch_proxy``'s to judge, not a component endpoint's."""
        assert self.client is not None
        url = f"{self.client.url}/metrics"
        try:
            async with httpx.AsyncClient(timeout=PROXY_PROBE_TIMEOUT) as http:
                answered = (await http.get(url)).status_code == httpx.codes.OK
        except httpx.HTTPError:
            answered = False
        if not answered:
            self.journal.write("proxy.metrics", url=url, scraped=False)
            return {}
        return {FAULT_PROXY_JOB: url}

    def _listener_stats(self) -> ListenerStats:
        return self.audience.stats() if self.audience is not None else ListenerStats()

    def _cohort_stats(self) -> dict[str, ListenerStats]:
        known = self.audience.stats_by_cohort() if self.audience is not None else {}
        return known or {str(c): ListenerStats() for c in (Cohort.CONTROL, Cohort.EXPERIMENT)}

    # ----------------------------------------------------------------- steps 5-7

    async def _until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _ready_audience(self) -> None:
        """The load generator started and ready before T0 is fixed (the native swarm's workers
        spawned, or every Locust worker connected to its master): on a loaded machine that
        takes seconds, and a T0 they cannot meet would judge an audience that arrived late (or,
        past the run's end, none)."""
        assert self.stack is not None
        entry = self.stack_spec.audience.listeners
        listeners = entry is not None and self.experiment.workload.listeners
        dialled = self.stack.dialled.get(entry.link, []) if entry is not None else []
        audience: ListenerLoad
        if self.options.load.engine == Engine.LOCUST and listeners:
            assert entry is not None
            audience = locust_load(
                self.options.load,
                self.experiment,
                self.stack_spec,
                dialled,
                seed=self.seed,
                base_dir=self.loaded.path.parent,
                start_at=None,
                duration=self.timeline.run_end,
                logs=self.run_dir / "logs",
                interval=self.options.scrape_interval,
                on_lost=self._load_lost,
                cohorts=self._cohort_plan(),
            )
        else:
            audience = Audience(
                self.experiment,
                self.stack_spec,
                dialled,
                seed=self.seed,
                base_dir=self.loaded.path.parent,
                start_at=None,
                duration=self.timeline.run_end,
                on_heard=self._heard,
                cohorts=self._cohort_plan(),
                join_via=self.stack.dialled.get(entry.join.link) if entry and entry.join else None,
            )
        self.audience = audience
        if audience.count:
            self.snapshot.waiting_for = ["the listeners' load generator to be ready"]
            await audience.ready()

    def _schedule_audience(self) -> None:
        """Fix T0 one baseline from now, and the listeners' arrivals relative to it."""
        assert self.stack is not None
        baseline = self.timeline.baseline
        self.t0_mono = time.monotonic() + baseline
        self.t0_wall = time.time() + baseline
        self.snapshot.t0_wall = self.t0_wall
        self.snapshot.waiting_for = []
        self.view.event(f"run {self.run_id}: T0 is {utc(self.t0_wall)}, {baseline:g}s from now")
        assert self.audience is not None
        self.audience.begin_at(self.t0_mono)

    def _cohort_plan(self) -> CohortPlan | None:
        return CohortPlan(self.control, self.control_dialled) if self.control is not None else None

    def _heard(self, records: list[dict[str, Any]]) -> None:
        """What ears heard (howls and silences, each onset and end) goes into the journal."""
        for record in records:
            event = record.pop("event")
            self.journal.write(f"ear.{event}", **record)
            if event == "howl":
                self.view.event(f"{record['edge']}: listener {record['listener']} hears howling")
            elif event == "on_air":
                # Less the load generator's lateness in starting that listener: not the stack's.
                heard = float(record["heard_at"]) - float(record.get("late_seconds", 0.0))
                first = self.on_air_wall is None
                if first or heard < (self.on_air_wall or heard):
                    self.on_air_wall = heard
                delay = self._on_air_delay()
                if first and delay is not None:
                    self.view.event(f"on air: listeners hear the host {delay:.2f}s after T0")

    def _on_air_delay(self) -> float | None:
        if self.on_air_wall is None or self.t0_wall is None:
            return None
        return self.on_air_wall - self.t0_wall

    def _load_lost(self, what: str) -> None:
        """Part of the load is gone: journal it and say so now (a harness-side failure)."""
        self.journal.write("workload.lost", what=what)
        self._harness_failed(Part.LOAD, f"{what}: the load is incomplete")

    async def _baseline(self) -> None:
        assert self.t0_mono is not None
        self.journal.phase(
            "baseline",
            t0=self.t0_wall,
            t0_mono=self.t0_mono,
            seconds=self.timeline.baseline,
            listeners=self.audience.count if self.audience else 0,
        )
        self.snapshot.phase = "baseline"
        await self._until(self.t0_mono)
        self._steady_state()

    def _steady_state(self) -> None:
        """Before T0: every metrics endpoint answers and every baseline SLO holds."""
        assert self.metrics is not None and self.t0_wall is not None
        baseline_start = self.t0_wall - max(self.timeline.baseline, 3 * self.metrics.interval)
        self.metrics.check_up(self.run_dir / "logs", answered_since=baseline_start)
        baseline = [
            s for s in self.slos if isinstance(s, Objective) and s.window.anchor is Anchor.BASELINE
        ]
        results = evaluate_all(baseline, self._wall_timeline(), Context(self.metrics.store.range))
        bad = [r for r in results if r.status is not Status.PASS]
        self.journal.write(
            "steady_state", healthy=not bad, slos={r.name: r.status.value for r in results}
        )
        if bad:
            raise BaselineUnhealthy(
                "the stack is not in a steady state before any fault: "
                + "; ".join(f"{r.name}: {failure_message(r, self.t0_wall)}" for r in bad),
                where="baseline",
                fix="fix the stack (or the baseline SLO) first; no fault was applied",
            )

    def _wall_timeline(self) -> WallTimeline:
        assert self.t0_wall is not None
        return timeline_at(Timeline.of(self.experiment), self.t0_wall)

    async def _method(self) -> None:
        assert self.t0_mono is not None and self.driver is not None
        self.journal.phase("method")
        self.snapshot.phase = "method"
        for step in self.timeline.steps:
            await self._until(self.t0_mono + step.at)
            if step.action is Action.APPLY and step.fault is not None:
                if self.recovering:
                    continue
                self.view.event(step.describe())
                await self._apply(step.fault)
            elif step.action is Action.REMOVE and step.fault is not None:
                if step.fault.name in self.driver.active:
                    await self.driver.remove(step.fault)  # _fault_ended says how it went
            elif step.action is Action.PHASE:
                self.journal.write("workload.phase", name=step.name)
                self.view.event(step.describe())
            elif step.action is Action.RECOVERY:
                self.journal.phase("recovery")
                self.snapshot.phase = "recovery"
        self.end_wall = time.time()

    async def _apply(self, fault: Fault) -> None:
        """Apply one fault; one that cannot be applied ends the run (what was applied of it
        is rolled back): the experiment as written cannot be judged any more."""
        assert self.driver is not None
        if isinstance(fault, KillFault | PauseFault | RestartFault | PartitionFault):
            self._disturbed.update(replicas_of(target_of(fault), self.stack_spec))
        try:
            await self.driver.apply(fault)
        except InvalidInput:
            raise
        except (GamedayError, OSError) as exc:
            what = exc.what if isinstance(exc, GamedayError) else str(exc)
            part = Part.FAULT_PROXY if isinstance(exc, ToxiproxyUnreachable) else Part.FAULT
            failure = f"could not apply {fault.kind} fault {fault.name!r}: {what}"
            raise self._fatal(part, failure) from None

    def _fault_ended(self, fault: Fault, problems: list[str]) -> None:
        """The console line for a fault's end: "end" only when it was undone cleanly."""
        if not problems:
            self.view.event(f"end {fault.name} ({fault.kind})")
            return
        self._stuck_problems.update(problems)
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        self.view.event(f"NOT ENDED {fault.name} ({fault.kind}): {problems[0]}{more}")
        self._harness_failed(
            Part.FAULT, f"{fault.kind} fault {fault.name!r} could not be removed: {problems[0]}"
        )

    def _harness_failed(self, part: Part, what: str) -> HarnessFailure:
        """Record one harness-side failure: journal, console, and (through the verdict)
        summary.md and JUnit."""
        failure = HarnessFailure(part, what)
        if failure in self.failures:
            return failure
        self.failures.append(failure)
        self.journal.write(INFRASTRUCTURE_KIND, **failure.to_record())
        self.view.event(f"infrastructure failure, {failure.describe()}")
        return failure

    def _fatal(self, part: Part, what: str, *, fix: str | None = None) -> HarnessFailed:
        """A harness-side failure that ends the run: recorded now, raised by the caller."""
        return HarnessFailed(self._harness_failed(part, what), fix=fix)

    def _failed_with(self, exc: GamedayError) -> None:
        """An infrastructure error that ended the run, as a harness-side failure (once)."""
        if isinstance(exc, InfrastructureError) and not isinstance(exc, HarnessFailed):
            self._harness_failed(part_of(exc), exc.what)

    async def _watch_proxy(self) -> None:
        """The fault proxy must live and answer for the whole run: an embedded child that
        exited, a server that refuses connections, or one that has not answered for
        ``PROXY_SILENCE`` s (SIGSTOPped, wedged) ends the run as an infrastructure failure,
        because no fault can be applied or removed any more."""
        assert self.client is not None
        url = self.client.url
        embedded = self.embedded
        async with AsyncToxiproxyClient(url, timeout=PROXY_PROBE_TIMEOUT) as probe:
            answered = time.monotonic()
            while True:
                await asyncio.sleep(PROXY_CHECK_EVERY)
                if embedded is not None and (ended := embedded.exit()) is not None:
                    raise self._lost_embedded(embedded, ended)
                try:
                    await probe.version()
                except ToxiproxyTimeout:
                    silent = time.monotonic() - answered
                    if silent > PROXY_SILENCE:
                        raise self._lost_proxy(
                            f"the fault proxy at {url} has not answered for {silent:.0f}s "
                            "(stopped or hung)"
                        ) from None
                except ToxiproxyUnreachable as exc:
                    if embedded is not None and (
                        ended := await embedded.exit_within(EXIT_STATUS_WAIT)
                    ):
                        raise self._lost_embedded(embedded, ended) from None
                    raise self._lost_proxy(
                        f"the fault proxy at {url} is gone: {exc.reason}"
                    ) from None
                else:
                    answered = time.monotonic()

    def _lost_embedded(self, embedded: ProxyProcess, ended: str) -> HarnessFailed:
        return self._lost_proxy(f"the embedded fault proxy (pid {embedded.pid}) {ended}")

    def _lost_proxy(self, what: str) -> HarnessFailed:
        """The fault proxy is lost: rollback still tries every step, with short timeouts."""
        assert self.client is not None
        self.client.set_timeout(ROLLBACK_TIMEOUT_WHEN_LOST)
        return self._fatal(
            Part.FAULT_PROXY,
            what,
            fix="faults may still be on: check the proxy, then `gameday rollback --run-id "
            f"{self.run_id}`",
        )

    def _check_metrics_endpoints(self) -> None:
        """A metrics endpoint that refuses connections for ``METRICS_GONE_AFTER`` s while its
        component was not faulted is a harness-side failure (the SLOs lose their data)."""
        assert self.metrics is not None
        now = time.monotonic()
        scraper = self.metrics.scraper
        for target in scraper.targets:
            if target.url is None or target.job in self._disturbed | {FAULT_PROXY_JOB}:
                continue
            if not scraper.refused(target):
                self._metrics_refused_since.pop(target.job, None)
                continue
            since = self._metrics_refused_since.setdefault(target.job, now)
            if now - since >= METRICS_GONE_AFTER:
                self._harness_failed(
                    Part.METRICS,
                    f"metrics endpoint {target.url} of {target.job} is gone "
                    f"({scraper.last_error(target)})",
                )

    async def _watch(self) -> None:
        """Guards and the live view, once a second, from the baseline to the end."""
        assert self.metrics is not None
        ctx = Context(self.metrics.store.range)
        while True:
            await asyncio.sleep(GUARD_EVERY)
            self._update_snapshot(ctx)
            if self.driver is not None:
                self.driver.renew_floods()
            if self.snapshot.phase in ("method", "recovery"):
                self._check_metrics_endpoints()
            if self.snapshot.phase in ("method", "recovery") and not self.recovering:
                trips = self.guards.check(time.time(), ctx)
                if trips:
                    await self._abort(trips[0])
            self.view.refresh()

    def _active_faults(self) -> list[FaultNow]:
        if self.driver is None:
            return []
        return [
            FaultNow(
                name,
                describe.fault(applied.fault.kind, fault_params(applied.fault), length=False),
                self.fault_ends.get(name),
            )
            for name, applied in self.driver.active.items()
        ]

    def _update_snapshot(self, ctx: Context) -> None:
        snap = self.snapshot
        now = time.time()
        since = self._now()
        snap.active_faults = self._active_faults()
        step = self.timeline.next_after(since)
        snap.next_event = None if step is None else (step.at, step.describe())
        stats = self._listener_stats()
        snap.listeners = {
            "joined": stats.joins_ok,
            "connected": stats.connected,
            "playing": stats.playing,
            "stalled": stats.stalled,
        }
        snap.failures = dict(sorted(stats.failures.items()))
        snap.ttfa_p95 = RECENT_TTFA.measure(ctx, Interval(now - RECENT, now)).value
        snap.targets = self._targets_up(now)
        snap.guards = self.guards.status(now)
        if self.t0_wall is not None:
            timeline = self._wall_timeline()
            results = evaluate_all(self.slos, timeline, ctx)
            snap.slos = [
                live_state(slo, result, timeline, now)
                for slo, result in zip(self.slos, results, strict=True)
            ]

    def _targets_up(self, now: float) -> tuple[int, int, list[str]]:
        """(up, scraped, the jobs down) from the scraper's own ``up`` series."""
        assert self.metrics is not None
        latest = self.metrics.store.latest("up", None, now)
        down = sorted(key.label("job") or str(key) for key, value in latest.items() if value < 1)
        return len(latest) - len(down), len(latest), down

    async def _abort(self, trip: Trip) -> None:
        assert self.driver is not None
        self.aborted_by = trip
        policy = self.experiment.rollback.on_abort
        self.journal.write(
            "guard.trip", guard=trip.guard, value=trip.value, since=trip.since, policy=policy
        )
        self.view.event(f"{trip.describe()}; rolling back ({policy})")
        self.recovering = True
        await self.driver.rollback()
        if policy == "immediate":
            if self.audience is not None:
                self.audience.stop()
            raise Aborted(trip)

    # ----------------------------------------------------------------- steps 8-9

    async def _teardown(self) -> tuple[float | None, list[str]]:
        """Rollback first, then stop what the run started; never raises."""
        self.journal.phase("rollback")
        self.snapshot.phase = "rollback"
        if self.end_wall is None:
            self.end_wall = time.time()
        if self.audience is not None:
            self.audience.stop()
        began = time.monotonic()
        active = len(self.driver.active) if self.driver is not None else 0
        problems = await self.driver.rollback() if self.driver is not None else []
        seconds = time.monotonic() - began if self.driver is not None else None
        self.journal.write("rollback.done", seconds=seconds, problems=problems)
        self.snapshot.active_faults = self._active_faults()
        self.snapshot.closing = (
            f"rolled back {active} active fault(s) in {seconds:.2f}s"
            if seconds is not None
            else "nothing to roll back"
        ) + (f"; problems: {'; '.join(problems)}" if problems else "")
        self.view.refresh(force=True)
        if problems:
            self.view.event(f"rollback incomplete: {len(problems)} problem(s), listed below")
        others = [p for p in problems if p not in self._stuck_problems]
        proxy_lost = any(f.part is Part.FAULT_PROXY for f in self.failures)
        if others and not proxy_lost:  # with the proxy gone, that is why: said already
            self._harness_failed(Part.FAULT, "rollback incomplete: " + "; ".join(others))
        problems += await self._stop_stack()
        problems += await self._remove_proxies()
        if self.embedded is not None:
            await self.embedded.stop()
        if not problems:  # else the record stays, and the sweep after this process ends cleans
            self.owners.remove(self.run_id)
        return seconds, problems

    def _component_exited(self, found: ComponentExit) -> None:
        """A component ended by itself: the stack's behaviour, said everywhere; its metrics
        going silent is not the harness failing."""
        self.exits.append(found)
        self._disturbed.add(found.replica)
        self.journal.write(COMPONENT_EXIT_KIND, **found.to_record())
        tail = "".join(f"\n    {line}" for line in found.last_lines[-5:])
        self.view.event(
            f"stack component {found.replica} (pid {found.pid}) {found.how}, not by a fault; "
            f"the last lines of {found.log or 'its log'}:{tail or ' (empty)'}"
        )

    async def _stop_stack(self) -> list[str]:
        if self.backend is None:
            return []
        if self.exit_watch is not None:  # what ended since the last look, before we stop all
            for found in self.exit_watch.check():
                self._component_exited(found)
        if self.options.keep_stack and self.stack is not None:
            state.write(
                state.DEFAULT_STATE,
                self.stack,
                backend=self.options.backend,
                run_id=self.run_id,  # containers and namespaces are removed by run id
            )
            self.view.event("stack kept running; stop it with `gameday stack down`")
            return []
        killed = await self.backend.stop()
        self.journal.write("stack.down", killed=killed)
        return []

    async def _remove_proxies(self) -> list[str]:
        """Proxies this run created on an external server go (the embedded one just stops, and
        a backend's own proxy, Docker's container, went with the stack)."""
        if self.client is None:
            return []
        problems = []
        if self.options.toxiproxy is not None and not self.options.keep_stack:
            for name in self.created_proxies:
                try:
                    await self.client.delete_proxy(name)
                except Exception as exc:  # the stack is down: report, go on
                    problems.append(f"delete proxy {name}: {exc}")
        await self.client.aclose()
        return problems

    async def _evaluate(self) -> list[SloResult]:
        if self.t0_wall is None or self.t0_mono is None:
            return []  # the method never started: nothing to judge
        self.journal.phase("evaluation")
        self.journal.write(FAILURES_KIND, **failures_record(self._listener_stats()))
        assert self.metrics is not None
        start = self.t0_wall - self.timeline.baseline
        store = await self.metrics.for_verdict(self.slos, start, self.end_wall or time.time())
        results = evaluate_all(self.slos, self._wall_timeline(), Context(store.range))
        results += self._differential()
        for result in results:
            self.journal.write(SLO_KIND, **result.to_record())
        return results

    def _differential(self) -> list[SloResult]:
        """The differential SLOs, over the cohorts' attempts (journalled for reports)."""
        if self.audience is None or self.control is None:
            return []
        samples = self.audience.samples()
        for cohort, attempts in sorted(samples.attempts.items()):
            self.journal.write(
                COHORT_SAMPLES_KIND,
                cohort=str(cohort),
                fields=["swarm", *ATTEMPT_FIELDS],
                attempts=[[swarm, *a] for swarm, a in attempts],
            )
        assert self.t0_wall is not None
        return evaluate_differential(self.experiment, samples, seed=self.seed, t0=self.t0_wall)

    def _finish(self, outcome: RunOutcome) -> None:
        self.journal.write(
            VERDICT_KIND,
            verdict=outcome.verdict.value,
            exit_code=int(outcome.exit_code),
            message=outcome.message,
            guard=self.aborted_by.guard if self.aborted_by else None,
            rollback_seconds=outcome.rollback_seconds,
            problems=outcome.problems,
            infrastructure=[f.to_record() for f in outcome.failures],
        )
        self.journal.close()
        infrastructure = outcome.verdict is Verdict.INFRASTRUCTURE
        judged = outcome.verdict in (Verdict.PASS, Verdict.FAIL)
        junit = junit_xml(
            self.experiment.title,
            outcome.results,
            self.t0_wall or time.time(),
            duration=time.monotonic() - self.started_mono,
            problem=None if judged or infrastructure else outcome.message,
            infrastructure=[f.describe() for f in outcome.failures]
            or ([outcome.message or "infrastructure failure"] if infrastructure else []),
            listener_failures=failure_rows_of(self._listener_stats()),
        )
        (self.run_dir / "junit.xml").write_bytes(junit)
        if self.options.junit is not None:
            self.options.junit.parent.mkdir(parents=True, exist_ok=True)
            self.options.junit.write_bytes(junit)
