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
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry
from rich.console import Console

from chaos.errors import ExitCode, GamedayError, InvalidInput
from chaos.experiment.experiment import Experiment
from chaos.experiment.faults import FeedbackFault, FloodFault
from chaos.experiment.loader import LoadedExperiment
from chaos.experiment.stack import StackSpec
from chaos.experiment.timeline import Timeline
from chaos.faults.client import AsyncToxiproxyClient, ServerInfo
from chaos.faults.feedback import FeedbackLoop, target_in
from chaos.metrics.backend import choose_prometheus
from chaos.report.journal import JournalWriter, new_run_id
from chaos.report.summary import SLO_KIND, VERDICT_KIND
from chaos.runner.audience import Audience, audience_problems, scaled, stack_for
from chaos.runner.faults import FaultDriver
from chaos.runner.guards import GuardWatch, Trip
from chaos.runner.interrupts import Interrupts
from chaos.runner.junit import failure_message, junit_xml
from chaos.runner.load_engine import Engine, ListenerLoad, LoadOptions, locust_load
from chaos.runner.metrics import BaselineUnhealthy, RunMetrics
from chaos.runner.proxy_process import ProxyProcess
from chaos.runner.rollback import Scope, rollback
from chaos.runner.timeline import Action, ResolvedTimeline, resolve
from chaos.runner.toxics import check_runnable, check_supported, flood_plan
from chaos.runner.verdict import Verdict, decide
from chaos.runner.view import LiveView, Snapshot
from chaos.slo.adapt import objectives_from_experiment, timeline_at
from chaos.slo.evaluate import SloResult, Status, evaluate_all
from chaos.slo.objective import Context, Objective
from chaos.slo.window import Anchor
from chaos.slo.window import Timeline as WallTimeline
from chaos.stack import state
from chaos.stack.backend import KernelFaults, StackBackend, link_proxies, make_backend
from chaos.stack.capabilities import COMPONENT_KINDS, KERNEL_KINDS, PROXY_KINDS, check_kinds
from chaos.stack.local import RunningStack
from chaos.workload.metrics import ListenerCollector
from chaos.workload.stats import ListenerStats

BACKEND_KINDS = PROXY_KINDS | COMPONENT_KINDS | KERNEL_KINDS
"""Fault capabilities a stack backend is asked about; feedback and floods are the harness's."""

GUARD_EVERY = 1.0
"""Seconds between guard checks (the scrape interval: no new data comes faster)."""


@dataclass(frozen=True)
class RunOptions:
    seed: int | None = None
    scale: float = 1.0
    junit: Path | None = None
    report: Path | None = None
    toxiproxy: str | None = None
    """A Toxiproxy (or `gameday proxy serve`) API URL; None starts the embedded server."""
    prometheus: str | None = None
    keep_stack: bool = False
    out: Path | None = None
    backend: str = "local"
    """How the stack runs: `local` processes, `netns` namespaces or `docker` containers."""
    scrape_interval: float = 1.0
    load: LoadOptions = field(default_factory=LoadOptions)
    """Which engine drives the listeners (`native` swarm or `locust`) and its options."""


@dataclass
class RunOutcome:
    verdict: Verdict
    run_id: str
    run_dir: Path
    results: list[SloResult] = field(default_factory=list)
    message: str | None = None
    rollback_seconds: float | None = None
    problems: list[str] = field(default_factory=list)

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


def plan_for(loaded: LoadedExperiment, scale: float, backend: str = "local") -> ResolvedTimeline:
    """The timeline ``gameday run --dry-run`` prints, once every fault is one this runner and
    ``backend`` can make (what a dry run can know without starting anything or probing)."""
    check_kinds(backend, backend_kinds(loaded.experiment))
    check_runnable(loaded.experiment.faults, loaded.stack)
    return resolve(scaled(loaded.experiment, scale))


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
        self.experiment = scaled(loaded.experiment, options.scale)
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
                "scale": options.scale,
                "toxiproxy": options.toxiproxy or "embedded",
                "prometheus": options.prometheus,
                "load_engine": options.load.engine,
            },
        )
        self.snapshot = Snapshot(self.experiment.title, self.timeline.total)
        self.view = LiveView(console, self.snapshot)
        self.guards = GuardWatch(self.experiment.abort)
        self.registry = CollectorRegistry()
        self.registry.register(ListenerCollector(self._listener_stats))
        self.embedded: ProxyProcess | None = None
        self.client: AsyncToxiproxyClient | None = None
        self.server: ServerInfo | None = None
        self.backend: StackBackend | None = None
        self.stack: RunningStack | None = None
        self.driver: FaultDriver | None = None
        self.audience: ListenerLoad | None = None
        self.metrics: RunMetrics | None = None
        self.created_proxies: list[str] = []
        self.resources = contextlib.AsyncExitStack()
        self.started_mono = time.monotonic()
        self.t0_mono: float | None = None
        self.t0_wall: float | None = None
        self.end_wall: float | None = None
        self.aborted_by: Trip | None = None
        self.recovering = False
        """A guard tripped with ``on_abort: recover``: faults are off, the workload goes on."""

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
        if self.aborted_by is not None and outcome.message is None:
            outcome.message = self.aborted_by.describe()
        incomplete = self.audience.incomplete() if self.audience is not None else None
        if incomplete is not None and error is None:
            self.journal.write("workload.incomplete", reason=incomplete)
            outcome.message = incomplete
        outcome.verdict = decide(
            outcome.results,
            interrupted=interrupts.received is not None,
            error=error,
            aborted_by=self.aborted_by.guard if self.aborted_by else None,
            incomplete=incomplete,
        )
        self._finish(outcome)
        return outcome

    async def _session(self) -> None:
        await self._connect_proxy()
        await self._start_stack()
        await self._start_metrics()
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
                await self._baseline()
                await self._method()
                scraping.cancel()
                watching.cancel()
                renewing.cancel()
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
        )
        url = self.options.toxiproxy
        if url is None and hasattr(self.backend, "start_proxy"):
            url = await self.backend.start_proxy()  # the stack cannot reach our loopback
        elif url is None:
            log = self.run_dir / "logs" / "fault-proxy.log"
            self.embedded = await ProxyProcess(log, seed=self.seed).start()
            url = self.embedded.url
        self.client = AsyncToxiproxyClient(url)
        self.server = server = await self.client.server_info()
        self.journal.write(
            "proxy",
            url=self.client.url,
            flavor=server.flavor,
            version=server.version,
            features=sorted(server.features),
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
        swept = await self.client.run(rollback(self.client.api, Scope.any_run()))
        self.journal.write(
            "sweep", removed=[f"{r.name} on {r.proxy}" for r in swept.removed], scope="any run"
        )
        if swept.removed:
            self.view.event(f"removed {len(swept.removed)} toxic(s) an earlier run left behind")

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
        links = [link for link in plan.links if self._proxied(link)]
        tags = self.server is not None and self.server.supports("tags")
        specs = link_proxies(
            backend, self.stack_spec, plan, links, run=self.run_id if tags else None
        )
        created = await self.client.populate(specs)
        self.created_proxies = [p.name for p in created]
        self.driver = FaultDriver(
            self.client,
            backend,
            self.stack_spec,
            {link: plan.proxy_names(link) for link in links},
            self.run_id,
            self.journal,
            lease_ms=self._lease_ms(),
        )
        self.stack = await backend.start({p.name: p.listen for p in created})
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
            self.stack.metrics,
            self.registry,
            self.journal,
            interval=self.options.scrape_interval,
            prometheus=self.prometheus,
            resources=self.resources,
        )
        await self.metrics.start(self.slos, self.experiment.abort, self.run_dir / "logs")

    def _listener_stats(self) -> ListenerStats:
        return self.audience.stats() if self.audience is not None else ListenerStats()

    # ----------------------------------------------------------------- steps 5-7

    async def _until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def _schedule_audience(self) -> None:
        """Fix T0 one baseline from now, and the listeners' arrivals relative to it."""
        assert self.stack is not None
        baseline = self.timeline.baseline
        self.t0_mono = time.monotonic() + baseline
        self.t0_wall = time.time() + baseline
        entry = self.stack_spec.audience.listeners
        dialled = self.stack.dialled.get(entry.link, []) if entry is not None else []
        listeners = entry is not None and self.experiment.workload.listeners
        if self.options.load.engine == Engine.LOCUST and listeners:
            self.audience = locust_load(
                self.options.load,
                self.experiment,
                self.stack_spec,
                dialled,
                seed=self.seed,
                base_dir=self.loaded.path.parent,
                start_at=self.t0_mono,
                duration=self.timeline.run_end,
                logs=self.run_dir / "logs",
                interval=self.options.scrape_interval,
                on_lost=self._load_lost,
            )
            return
        self.audience = Audience(
            self.experiment,
            self.stack_spec,
            dialled,
            seed=self.seed,
            base_dir=self.loaded.path.parent,
            start_at=self.t0_mono,
            duration=self.timeline.run_end,
        )

    def _load_lost(self, what: str) -> None:
        """Part of the load is gone: journal it and say so now (the verdict says it again)."""
        self.journal.write("workload.lost", what=what)
        self.view.event(f"{what}: the load is incomplete")

    async def _baseline(self) -> None:
        assert self.t0_mono is not None
        self.journal.phase(
            "baseline",
            t0=self.t0_wall,
            seconds=self.timeline.baseline,
            listeners=self.audience.count if self.audience else 0,
        )
        self.snapshot.phase = "baseline"
        await self._until(self.t0_mono)
        self._steady_state()

    def _steady_state(self) -> None:
        """Before T0: every metrics endpoint answers and every baseline SLO holds."""
        assert self.metrics is not None and self.t0_wall is not None
        self.metrics.check_up(self.run_dir / "logs")
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
            self.snapshot.elapsed = time.monotonic() - self.t0_mono + self.timeline.baseline
            if step.action is Action.APPLY and step.fault is not None:
                if self.recovering:
                    continue
                self.view.event(step.describe())
                await self.driver.apply(step.fault)
            elif step.action is Action.REMOVE and step.fault is not None:
                if step.fault.name in self.driver.active:
                    self.view.event(step.describe())
                    await self.driver.remove(step.fault)
            elif step.action is Action.PHASE:
                self.journal.write("workload.phase", name=step.name)
                self.view.event(step.describe())
            elif step.action is Action.RECOVERY:
                self.journal.phase("recovery")
                self.snapshot.phase = "recovery"
        self.end_wall = time.time()

    async def _watch(self) -> None:
        """Guards and the live view, once a second, from the baseline to the end."""
        assert self.metrics is not None
        ctx = Context(self.metrics.store.range)
        while True:
            await asyncio.sleep(GUARD_EVERY)
            self._update_snapshot(ctx)
            if self.driver is not None:
                self.driver.renew_floods()
            if self.snapshot.phase in ("method", "recovery") and not self.recovering:
                trips = self.guards.check(time.time(), ctx)
                if trips:
                    await self._abort(trips[0])
            self.view.refresh()

    def _update_snapshot(self, ctx: Context) -> None:
        snap = self.snapshot
        if self.t0_mono is not None:
            snap.elapsed = time.monotonic() - self.t0_mono + self.timeline.baseline
        snap.active_faults = list(self.driver.active) if self.driver else []
        stats = self._listener_stats()
        snap.listeners = {
            "joined": stats.joins_ok,
            "connected": stats.connected,
            "playing": stats.playing,
            "stalled": stats.stalled,
        }
        snap.guards = self.guards.status()
        if self.t0_wall is not None:
            measured = [s for s in self.slos if isinstance(s, Objective)]
            snap.slos = evaluate_all(measured, self._wall_timeline(), ctx)

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
        problems = await self.driver.rollback() if self.driver is not None else []
        seconds = time.monotonic() - began if self.driver is not None else None
        self.journal.write("rollback.done", seconds=seconds, problems=problems)
        if problems:
            self.view.event("rollback incomplete: " + "; ".join(problems))
        problems += await self._stop_stack()
        problems += await self._remove_proxies()
        if self.embedded is not None:
            await self.embedded.stop()
        return seconds, problems

    async def _stop_stack(self) -> list[str]:
        if self.backend is None:
            return []
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
        assert self.metrics is not None
        start = self.t0_wall - self.timeline.baseline
        store = await self.metrics.for_verdict(self.slos, start, self.end_wall or time.time())
        results = evaluate_all(self.slos, self._wall_timeline(), Context(store.range))
        for result in results:
            self.journal.write(SLO_KIND, **result.to_record())
        return results

    def _finish(self, outcome: RunOutcome) -> None:
        self.journal.write(
            VERDICT_KIND,
            verdict=outcome.verdict.value,
            exit_code=int(outcome.exit_code),
            message=outcome.message,
            guard=self.aborted_by.guard if self.aborted_by else None,
            rollback_seconds=outcome.rollback_seconds,
            problems=outcome.problems,
        )
        self.journal.close()
        junit = junit_xml(
            self.experiment.title,
            outcome.results,
            self.t0_wall or time.time(),
            duration=time.monotonic() - self.started_mono,
            problem=None if outcome.verdict in (Verdict.PASS, Verdict.FAIL) else outcome.message,
        )
        (self.run_dir / "junit.xml").write_bytes(junit)
        if self.options.junit is not None:
            self.options.junit.parent.mkdir(parents=True, exist_ok=True)
            self.options.junit.write_bytes(junit)
