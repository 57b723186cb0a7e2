"""The harness's side of a Locust run: start a headless master and its workers, read them, stop.

Harness side: Locust is only ever a child process here (``python -m locust -f locustfile.py``),
never imported. The master follows the job's shape from T0; every interval the harness reads
the master's list of workers, then each worker's ``/metrics`` and failure details, and keeps the
latest totals of each worker, merged as the swarm merges its workers. A worker Locust reports
``missing``, a local worker process that died, or fewer workers than expected make the load
*incomplete*: the run is still judged to the end, but its verdict cannot be a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chaos.errors import InfrastructureError, InvalidInput
from chaos.metrics.prometheus_server import free_port
from chaos.slo.cohorts import CohortSamples
from chaos.stack.processes import ProcessRef, alive, log_tail, spawn, stop_all
from chaos.workload.cohorts import ATTEMPT_FIELDS, Attempt, Cohort
from chaos.workload.locust.exposition import (
    WorkerState,
    examples_by_cohort,
    stats_by_cohort,
    workers_from_text,
)
from chaos.workload.locust.job import (
    ATTEMPTS_PATH,
    FAILURES_PATH,
    MASTER_PORT_FILE_ENV,
    T0_FILE_ENV,
    LocustJob,
)
from chaos.workload.stats import ListenerStats

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: How long the master may take to start and serve its worker list.
READY_TIMEOUT = 60.0
#: Locust's master quits if the expected workers have not all connected by then.
EXPECT_WORKERS_WAIT = 60


@dataclass(frozen=True, slots=True)
class MasterBind:
    """Where the master listens for workers: ``host:port``."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> MasterBind:
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidInput(
                f"--locust-master-bind {text!r} is not HOST:PORT",
                where="gameday run --locust-master-bind",
                fix="e.g. --locust-master-bind 0.0.0.0:5557 (workers elsewhere connect to it)",
            )
        return cls(host, int(port))

    @property
    def dial(self) -> str:
        """The address a worker on this machine connects to."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host


def worker_command(master: str, port: int) -> list[str]:
    """The command that starts one Locust worker of a gameday run (any machine)."""
    return [
        *_locust(),
        "--worker",
        "--master-host",
        master,
        "--master-port",
        str(port),
    ]


def _locust() -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "INFO"]


@dataclass
class _Watch:
    """What the harness has seen of the workers so far."""

    latest: dict[str, ListenerStats] = field(default_factory=dict)
    cohorts: dict[str, dict[str, ListenerStats]] = field(default_factory=dict)  # worker → cohort →
    attempts: dict[str, dict[str, list[Attempt]]] = field(default_factory=dict)  # read at the end
    unread: list[str] = field(default_factory=list)  # workers whose attempts could not be read
    urls: dict[str, str] = field(default_factory=dict)  # worker → its /metrics
    seen: set[str] = field(default_factory=set)
    missing: dict[str, float] = field(default_factory=dict)  # worker → seconds from T0
    dead: list[str] = field(default_factory=list)  # local worker processes that exited


class LocustEngine:
    """``workers``: how many workers the master waits for; ``local_workers``: how many of them
    this machine starts (0 when they are started elsewhere and attach to ``bind``)."""

    def __init__(
        self,
        job: LocustJob,
        *,
        listeners: int,
        workers: int,
        local_workers: int,
        bind: MasterBind | None,
        logs: Path,
        start_at: float | None = None,
        duration: float,
        interval: float = 1.0,
        on_lost: Callable[[str], None] | None = None,
    ) -> None:
        """``start_at``: T0 on ``time.monotonic()``, if known now (else ``begin_at``, once
        ``ready``). ``on_lost`` hears, once each, of a worker gone missing or a local worker
        process that exited (the runner journals it and shows it as it happens)."""
        if workers < 1 or not 0 <= local_workers <= workers:
            raise InvalidInput(
                f"{workers} Locust workers ({local_workers} local)",
                where="gameday run --locust-workers",
                fix="give at least 1 worker",
            )
        self.job = job
        self.count = listeners
        self.workers = workers
        self.local_workers = local_workers
        self.bind = bind
        self.logs = logs
        self.start_at = start_at
        self.duration = duration
        self.interval = interval
        self.on_lost = on_lost
        self._watch = _Watch()
        self._stop = asyncio.Event()
        self._procs: list[ProcessRef] = []
        self._workers: list[ProcessRef] = []
        self._url: str | None = None
        """The master's worker list, once ``ready``."""
        self._t0_file = logs / "locust-t0"

    def stats(self) -> ListenerStats:
        total = ListenerStats()
        for snapshot in list(self._watch.latest.values()):
            total = total.merged(snapshot)
        return total

    def stop(self) -> None:
        self._stop.set()

    def stats_by_cohort(self) -> dict[str, ListenerStats]:
        """Each cohort's totals merged over the workers (empty before the first read)."""
        out: dict[str, ListenerStats] = {}
        for by_cohort in list(self._watch.cohorts.values()):
            for cohort, stats in by_cohort.items():
                out[cohort or "all"] = out.get(cohort or "all", ListenerStats()).merged(stats)
        return out

    def samples(self) -> CohortSamples:
        """Every attempt of each cohort, read from the workers at the run's end; a worker's
        attempts are told apart from another's by its number (listeners count per worker)."""
        attempts: dict[Cohort, list[tuple[int, Attempt]]] = {}
        for n, (_, by_cohort) in enumerate(sorted(self._watch.attempts.items())):
            for cohort, recorded in by_cohort.items():
                attempts.setdefault(Cohort(cohort), []).extend((n, a) for a in recorded)
        return CohortSamples({c: sorted(a) for c, a in attempts.items()})

    def worker_totals(self) -> dict[str, tuple[str, ListenerStats]]:
        """Each worker's /metrics URL and latest totals, by Locust's worker id."""
        w = self._watch
        return {worker: (w.urls[worker], stats) for worker, stats in w.latest.items()}

    @property
    def processes(self) -> list[ProcessRef]:
        """The master and local workers started (for CPU accounting by the benchmark)."""
        return list(self._procs)

    def incomplete(self) -> str | None:
        """Why the load was not all there (None: every worker ran to the end)."""
        w = self._watch
        reasons = [
            f"Locust worker {worker} went missing (no heartbeat) at T{at:+.0f}s"
            for worker, at in sorted(w.missing.items(), key=lambda kv: kv[1])
        ]
        reasons += [f"local Locust worker process {name} exited" for name in w.dead]
        if len(w.seen) < self.workers:
            reasons.append(f"only {len(w.seen)} of {self.workers} Locust workers reported")
        reasons += [
            f"the attempts of Locust worker {worker} could not be read" for worker in w.unread
        ]
        if not reasons:
            return None
        return "load incomplete: " + "; ".join(reasons) + " — their listeners were not all there"

    async def ready(self) -> None:
        """Start the master and the local workers, and wait until every expected worker has
        connected (those attaching from other machines too): a run fixes T0 only once its
        listeners can meet it, as it waits for the native swarm's workers. The master starts
        no user before ``begin_at`` has given T0 (unless the job fixed it)."""
        if self._url is not None:
            return
        bind = self.bind or MasterBind("127.0.0.1", free_port())
        port_file = self.logs / "locust-master.port"
        port_file.unlink(missing_ok=True)
        self._t0_file.unlink(missing_ok=True)
        master = spawn(
            "locust-master",
            [
                *_locust(),
                "--master",
                "--headless",
                "--expect-workers",
                str(self.workers),
                "--expect-workers-max-wait",
                str(EXPECT_WORKERS_WAIT),
                "--master-bind-host",
                bind.host,
                "--master-bind-port",
                str(bind.port),
            ],
            self.logs / "locust-master.log",
            {
                **self.job.env(),
                MASTER_PORT_FILE_ENV: str(port_file),
                T0_FILE_ENV: str(self._t0_file),
            },
            tied=True,
        )
        self._procs = [master]
        self._workers = [
            spawn(
                f"locust-worker-{n}",
                worker_command(bind.dial, bind.port),
                self.logs / f"locust-worker-{n}.log",
                tied=True,
            )
            for n in range(self.local_workers)
        ]
        self._procs += self._workers
        try:
            url = await self._master_url(master, port_file)
            await self._await_workers(url, master, bind)
        except BaseException:
            await stop_all(self._procs, grace=5.0)
            raise
        self._url = url
        if self.start_at is not None:
            self.begin_at(self.start_at)

    def begin_at(self, t0: float) -> None:
        """The listeners' T0 (``time.monotonic()``), once the run has fixed it: the master
        follows the shape from then (as wall-clock time, which other machines share)."""
        self.start_at = t0
        if self.job.t0 is None and self._url is not None:
            tmp = self._t0_file.with_suffix(".tmp")
            tmp.write_text(repr(time.time() + (t0 - time.monotonic())))
            tmp.replace(self._t0_file)

    async def run(self) -> None:
        await self.ready()
        if self.start_at is None:
            raise ValueError("LocustEngine.run needs T0: begin_at() first")
        url, master = self._url, self._procs[0]
        assert url is not None
        try:
            async with httpx.AsyncClient(timeout=max(1.0, self.interval)) as client:
                end = self.start_at + self.duration
                while time.monotonic() < end and not self._stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stop.wait(), self.interval)
                    await self._poll(client, url, master, self._workers)
                if self.job.control is not None:
                    await self._read_attempts(client)
        finally:
            await stop_all(self._procs, grace=5.0)

    async def _await_workers(self, url: str, master: ProcessRef, bind: MasterBind) -> None:
        """Until the master lists every expected worker as connected."""
        deadline = time.monotonic() + EXPECT_WORKERS_WAIT
        connected: set[str] = set()
        async with httpx.AsyncClient(timeout=2.0) as client:
            while len(connected) < self.workers:
                if not alive(master):
                    raise self._master_failed("the Locust master exited waiting for its workers")
                dead = [ref.name for ref in self._workers if not alive(ref)]
                if dead:
                    log = self.logs / f"{dead[0]}.log"
                    raise InfrastructureError(
                        part="load",
                        what=f"local Locust worker process {dead[0]} exited while starting; "
                        f"the end of its log:\n{log_tail(log)}",
                        where=str(log),
                    )
                if time.monotonic() > deadline:
                    raise InfrastructureError(
                        part="load",
                        what=f"{len(connected)} of {self.workers} Locust workers connected to "
                        f"the master at {bind.dial}:{bind.port} in {EXPECT_WORKERS_WAIT}s",
                        where="gameday run --locust-workers",
                        fix="start the missing workers (see `gameday plan`) so they reach "
                        "that address, or ask for fewer with --locust-workers",
                    )
                with contextlib.suppress(httpx.HTTPError):
                    states = workers_from_text((await client.get(url)).text)
                    connected = {s.id for s in states if s.state != "missing"}
                await asyncio.sleep(0.2)

    async def _master_url(self, master: ProcessRef, port_file: Path) -> str:
        deadline = time.monotonic() + READY_TIMEOUT
        while not port_file.exists():
            if not alive(master):
                raise self._master_failed("the Locust master exited while starting")
            if time.monotonic() > deadline:
                raise self._master_failed(f"the Locust master did not start in {READY_TIMEOUT:g}s")
            await asyncio.sleep(0.1)
        host = self.job.metrics_host
        return f"http://{host}:{int(port_file.read_text())}/metrics"

    async def _poll(
        self, client: httpx.AsyncClient, url: str, master: ProcessRef, workers: list[ProcessRef]
    ) -> None:
        w = self._watch
        if not alive(master):
            raise self._master_failed("the Locust master exited during the run")
        try:
            response = await client.get(url)
            states = workers_from_text(response.text)
        except httpx.HTTPError:
            return  # the next poll asks again; the master's liveness is checked above
        assert self.start_at is not None  # polled only while running, from T0 on
        now = time.monotonic() - self.start_at
        for state in states:
            w.seen.add(state.id)
            if state.state == "missing":
                if state.id not in w.missing:
                    w.missing[state.id] = now
                    self._lost(f"Locust worker {state.id} went missing (no heartbeat)")
                if state.id in w.latest:  # its counts stand; nobody is connected through it
                    w.latest[state.id] = w.latest[state.id].without_gauges()
                    w.cohorts[state.id] = {
                        c: stats.without_gauges() for c, stats in w.cohorts[state.id].items()
                    }
            elif state.metrics:
                await self._scrape(client, state)
        for ref in workers:
            if not alive(ref) and ref.name not in w.dead:
                w.dead.append(ref.name)
                self._lost(f"local Locust worker process {ref.name} exited")

    async def _scrape(self, client: httpx.AsyncClient, state: WorkerState) -> None:
        try:
            response = await client.get(state.metrics)
        except httpx.HTTPError:
            return  # a worker that stopped answering keeps its last totals, as in the swarm
        by_cohort = stats_by_cohort(response.text)
        examples = await self._examples(client, state)
        total = ListenerStats()
        for cohort, stats in by_cohort.items():
            stats.examples = examples.get(cohort, {})
            total = total.merged(stats)
        self._watch.latest[state.id] = total
        self._watch.cohorts[state.id] = by_cohort
        self._watch.urls[state.id] = state.metrics

    async def _examples(
        self, client: httpx.AsyncClient, state: WorkerState
    ) -> dict[str, dict[str, list[str]]]:
        """The worker's failure details by cohort; those read before if it does not answer."""
        try:
            response = await client.get(state.metrics.rpartition("/")[0] + FAILURES_PATH)
            return examples_by_cohort(response.json())
        except (httpx.HTTPError, ValueError):
            known = self._watch.cohorts.get(state.id, {})
            return {cohort: stats.examples for cohort, stats in known.items()}

    async def _read_attempts(self, client: httpx.AsyncClient) -> None:
        """With cohorts, every worker's attempts, read once at the run's end (those going on
        are measured until then, as the swarm ends its attempts there)."""
        w = self._watch
        for worker, url in sorted(w.urls.items()):
            try:
                response = await client.get(url.rpartition("/")[0] + ATTEMPTS_PATH)
                document = response.json()
                if document["fields"] != list(ATTEMPT_FIELDS):
                    raise ValueError(f"fields {document['fields']}")
                w.attempts[worker] = {
                    cohort: [tuple(a) for a in attempts]
                    for cohort, attempts in document["attempts"].items()
                }
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                w.unread.append(f"{worker} ({exc})")

    def _lost(self, what: str) -> None:
        if self.on_lost is not None:
            self.on_lost(what)

    def _master_failed(self, what: str) -> InfrastructureError:
        log = self.logs / "locust-master.log"
        return InfrastructureError(
            part="load",
            what=f"{what}; the end of its log:\n{log_tail(log)}",
            where=str(log),
            fix="check that locust is installed (pip install 'chaos-gameday[locust]') and that "
            "--locust-workers workers can reach the master",
        )
