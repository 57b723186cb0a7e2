"""The swarm: thousands of probes on one machine, one asyncio worker process per core.

One Python process tops out near one core, and a join storm is exactly when the harness must
not be the bottleneck, so the schedule is split across worker processes (spawned, each with its
own event loop, uvloop when installed). Workers start on a shared monotonic T0 (CLOCK_MONOTONIC
is system-wide), run their listeners' joins, leaves and reconnects, and send a ``ListenerStats``
snapshot every interval; the parent sums the latest snapshot of each worker.

Paced phases keep their in-flight limit across the swarm by splitting it between workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import random
import signal
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from multiprocessing.synchronize import Event
from typing import Any

from chaos.audio.howl_monitor import HowlMonitor
from chaos.errors import InfrastructureError, InvalidInput
from chaos.stack.processes import die_with_parent
from chaos.workload.adapter import (
    Adapter,
    HttpStreamAdapter,
    Session,
    connect_failure,
    source_address,
    spreads_sources,
)
from chaos.workload.arrivals import Join, Schedule
from chaos.workload.framed import FramedDecoder
from chaos.workload.http import Target
from chaos.workload.limits import raise_fd_limit
from chaos.workload.probe import (
    Dropped,
    Events,
    Failed,
    FirstAudio,
    Probe,
    StreamDecoder,
)
from chaos.workload.progressive import ProgressiveDecoder
from chaos.workload.reconnect import ReconnectPolicy
from chaos.workload.stats import ListenerStats

#: How long the parent gives spawned workers to import and report ready.
_READY_TIMEOUT = 60.0
#: How long a running worker may send nothing before the swarm declares it hung.
_SILENCE_TIMEOUT = 30.0
#: Attempt summaries kept per sampled listener (a reconnect storm can make hundreds).
_ATTEMPTS_KEPT = 20


class StreamFormat(StrEnum):
    PROGRESSIVE = "progressive"
    FRAMED = "framed"


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """How every listener of the swarm connects and what it counts as a failed join.

    ``stream``: ``progressive`` (Icecast-style bytes at ``bitrate`` bit/s, None reads
    ``icy-br``) or ``framed`` (soundstage's sequenced frames). ``target_delay``: the jitter
    buffer's target, which for progressive streams is the decoder's start-up buffer.
    ``join_timeout``: a join that has not played audio by then fails, with reason
    ``connect_timeout`` if the TCP connection was not even up, else ``timeout`` (checked at
    every sweep, so within one ``snapshot_interval``).
    """

    url: str
    stream: StreamFormat = StreamFormat.PROGRESSIVE
    bitrate: float | None = None
    target_delay: float = 0.5
    join_timeout: float = 30.0
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)

    def adapter(self) -> Adapter:
        decoder: Callable[[], StreamDecoder] = (
            FramedDecoder
            if self.stream is StreamFormat.FRAMED
            else partial(ProgressiveDecoder, self.bitrate)
        )
        return HttpStreamAdapter(Target.parse(self.url), decoder)


@dataclass(frozen=True, slots=True)
class WorkerJob:
    worker: int
    listeners: tuple[tuple[int, Join], ...]
    gate_limits: dict[int, int]
    config: ListenerConfig
    seed: int
    duration: float
    sampled: frozenset[int]
    snapshot_interval: float
    howl_monitored: frozenset[int] = frozenset()
    """Listeners whose played audio runs through the howling detector."""


@dataclass(frozen=True, slots=True)
class SwarmResult:
    stats: ListenerStats
    summaries: list[dict[str, Any]]
    workers: int
    started_at: float  # time.monotonic() of T0
    ended_at: float


class _Listener:
    """One scheduled listener across its attempts (the first join and any reconnects)."""

    __slots__ = (
        "connecting", "index", "join", "left", "probe", "retries", "rng", "session", "summary", "w",
    )  # fmt: skip

    def __init__(self, worker: _Worker, index: int, join: Join, sampled: bool) -> None:
        self.w = worker
        self.index = index
        self.join = join
        self.left = False
        self.probe: Probe | None = None
        self.session: Session | None = None
        self.connecting: asyncio.Task[Any] | None = None
        self.retries = 0
        self.rng: random.Random | None = None
        self.summary: dict[str, Any] | None = (
            {"listener": index, "arrival": join.at, "leave": join.leave, "attempts": []}
            if sampled
            else None
        )

    def begin(self) -> None:
        if not self.left:
            self.w.spawn(self.attempt())

    async def attempt(self) -> None:
        w = self.w
        gate = w.gates.get(self.join.gate) if self.join.gate is not None else None
        if gate is not None:
            await gate.acquire()
        try:
            now = w.loop.time()
            if self.left or now >= w.end:
                return
            monitor = HowlMonitor() if self.index in w.job.howl_monitored else None
            probe = Probe(
                w.adapter.decoder(),
                requested_at=now,
                target_delay=w.cfg.target_delay,
                on_play=monitor,
                wall_offset=w.wall_offset,
            )
            self.probe = probe
            w.active.add(self)
            w.stats.join_attempts += 1
            task = asyncio.current_task()
            self.connecting = task  # the sweep cancels it past join_timeout
            try:
                session = await w.adapter.open(probe, self.on_events, w.source(self.index))
            except OSError as exc:
                self.on_events(probe.fail(w.loop.time(), connect_failure(exc), str(exc)))
                return
            finally:
                if self.connecting is task:  # a retry may already be connecting
                    self.connecting = None
            if probe.ended:
                session.close()
            else:
                self.session = session
        finally:
            if gate is not None:
                gate.release()

    def on_events(self, events: Events) -> None:
        stats = self.w.stats
        for event in events:
            stats.record_event(event)
            if isinstance(event, FirstAudio):
                self.retries = 0
            elif isinstance(event, Failed):
                self.end_attempt()
                self.retry(event.retry_after or 0.0)
            elif isinstance(event, Dropped):
                self.end_attempt()
                self.retry()

    def end_attempt(self) -> None:
        probe = self.probe
        if probe is None:
            return
        self.probe = None
        w = self.w
        w.active.discard(self)
        if isinstance(probe.playout.on_play, HowlMonitor):
            probe.playout.on_play.finish()
        w.stats.add_playout(probe, probe.ended_at if probe.ended_at is not None else w.loop.time())
        if self.summary is not None and len(self.summary["attempts"]) < _ATTEMPTS_KEPT:
            attempt = probe.summary()
            attempt["requested_at"] -= w.base
            self.summary["attempts"].append(attempt)
        if self.session is not None:
            self.session.close()
            self.session = None

    def retry(self, at_least: float = 0.0) -> None:
        """Schedule the next attempt by the policy, never sooner than the server asked."""
        w = self.w
        if self.left or w.loop.time() >= w.end:
            return
        self.retries += 1
        if self.rng is None:
            self.rng = random.Random(f"{w.job.seed}:reconnect:{self.index}")
        delay = w.cfg.reconnect.next_delay(self.retries, self.rng)
        if delay is not None:
            w.stats.reconnects += 1
            w.loop.call_later(max(delay, at_least), self.begin)

    def leave(self) -> None:
        self.left = True
        probe = self.probe
        if probe is not None:
            probe.leave(self.w.loop.time())
            self.end_attempt()


class _Worker:
    """Runs one worker's share of the schedule on the current event loop."""

    def __init__(self, job: WorkerJob, start_at: float, stop: Event | None) -> None:
        self.job = job
        self.cfg = job.config
        self.adapter = job.config.adapter()
        self.loop = asyncio.get_running_loop()
        self.base = self.loop.time() + (start_at - time.monotonic())
        self.wall_offset = time.time() - self.loop.time()
        self.end = self.base + job.duration
        self.stop = stop
        self.stats = ListenerStats()
        self.active: set[_Listener] = set()
        self.gates = {g: asyncio.Semaphore(n) for g, n in job.gate_limits.items()}
        self.tasks: set[asyncio.Task[None]] = set()
        self._spread_sources = spreads_sources(Target.parse(job.config.url).host)

    def spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def source(self, index: int) -> str | None:
        return source_address(index) if self._spread_sources else None

    async def run(self, report: Callable[[ListenerStats], None]) -> list[dict[str, Any]]:
        listeners = [
            _Listener(self, index, join, index in self.job.sampled)
            for index, join in self.job.listeners
        ]
        for listener in listeners:
            self.loop.call_at(self.base + listener.join.at, listener.begin)
            if listener.join.leave is not None:
                self.loop.call_at(self.base + listener.join.leave, listener.leave)
        while (now := self.loop.time()) < self.end:
            if self.stop is not None and self.stop.is_set():
                break
            await asyncio.sleep(min(self.job.snapshot_interval, self.end - now))
            report(self.sweep())
        for listener in listeners:
            listener.leave()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        return [listener.summary for listener in listeners if listener.summary is not None]

    def sweep(self) -> ListenerStats:
        """Fail joins past their timeout, run every playout clock, and snapshot the totals."""
        now = self.loop.time()
        timeout = self.cfg.join_timeout
        for listener in list(self.active):
            probe = listener.probe
            if probe is None:
                continue
            reason = probe.overdue(now, timeout)
            if reason is not None:
                connecting = listener.connecting
                listener.on_events(probe.fail(now, reason))
                if connecting is not None:
                    connecting.cancel()
            else:
                self.stats.sample(probe, now)
        return self.stats.snapshot((x.probe for x in self.active if x.probe is not None), now)


def run_worker(
    job: WorkerJob,
    start_at: float,
    report: Callable[[ListenerStats], None],
    stop: Event | None = None,
) -> tuple[ListenerStats, list[dict[str, Any]]]:
    """Run one worker's share on a fresh event loop (uvloop when installed); blocking."""

    async def main() -> tuple[ListenerStats, list[dict[str, Any]]]:
        worker = _Worker(job, start_at, stop)
        summaries = await worker.run(report)
        for summary in summaries:
            summary["worker"] = job.worker
        return worker.stats, summaries

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def _worker_process(job: WorkerJob, messages: Any, go: Event, start: Any, stop: Event) -> None:
    """Entry point of a spawned worker: report ready, wait for T0, stream snapshots."""
    die_with_parent(signal.SIGKILL)  # a killed harness must not leave listeners behind
    try:
        messages.put(("ready", job.worker, None))
        go.wait()
        stats, summaries = run_worker(
            job, start.value, lambda s: messages.put(("snapshot", job.worker, s)), stop
        )
        messages.put(("done", job.worker, (stats, summaries)))
    except BaseException:
        messages.put(("error", job.worker, traceback.format_exc()))


def partition(
    schedule: Schedule, workers: int
) -> list[tuple[list[tuple[int, Join]], dict[int, int]]]:
    """Deal joins to workers; a gate's limit is shared by at most that many workers."""
    shares: list[tuple[list[tuple[int, Join]], dict[int, int]]] = [([], {}) for _ in range(workers)]
    for gate, limit in enumerate(schedule.gates):
        used = min(workers, limit)
        for w in range(used):
            shares[w][1][gate] = limit // used + (1 if w < limit % used else 0)
    dealt: dict[int | None, int] = {}
    for index, join in enumerate(schedule.joins):
        n = dealt.get(join.gate, 0)
        dealt[join.gate] = n + 1
        span = workers if join.gate is None else len([s for s in shares if join.gate in s[1]])
        shares[n % span][0].append((index, join))
    return shares


def peak_concurrency(joins: list[tuple[int, Join]]) -> int:
    """Most sessions of these joins open at once (leaves before joins at the same instant)."""
    moments = [(j.at, 1) for _, j in joins] + [
        (j.leave, -1) for _, j in joins if j.leave is not None
    ]
    moments.sort()
    peak = current = 0
    for _, step in moments:
        current += step
        peak = max(peak, current)
    return peak


def default_workers() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Swarm:
    """Runs a schedule of listeners against a stream for ``duration`` seconds from T0."""

    def __init__(
        self,
        schedule: Schedule,
        config: ListenerConfig,
        *,
        seed: int,
        duration: float,
        workers: int | None = None,
        sample: int = 200,
        howl_sample: int = 20,
        snapshot_interval: float = 1.0,
        on_snapshot: Callable[[ListenerStats], None] | None = None,
        start_at: float | None = None,
    ) -> None:
        """``start_at``: T0 on ``time.monotonic()``, shared with other timelines (a run's
        faults); default: as soon as every worker is ready. Joins due before the workers
        are ready start at once."""
        if duration <= 0:
            raise InvalidInput(f"workload duration must be > 0, got {duration}", where="workload")
        config.adapter()  # validates the URL before anything starts
        self.schedule = schedule
        self.config = config
        self.seed = seed
        self.duration = duration
        self.workers = max(1, min(workers or default_workers(), len(schedule.joins) or 1))
        self.sample = sample
        self.howl_sample = howl_sample
        self.snapshot_interval = snapshot_interval
        self.on_snapshot = on_snapshot
        self.start_at = start_at
        self._latest: dict[int, ListenerStats] = {}
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()

    def stats(self) -> ListenerStats:
        """The latest merged totals (what ``ListenerCollector`` renders)."""
        total = ListenerStats()
        for snapshot in list(self._latest.values()):
            total = total.merged(snapshot)
        return total

    def stop(self) -> None:
        """Ask every worker to end now (their listeners leave); ``run`` then returns."""
        self._stop.set()

    def jobs(self) -> list[WorkerJob]:
        n = len(self.schedule.joins)
        sampled = frozenset(
            random.Random(f"{self.seed}:sample").sample(range(n), min(n, self.sample))
        )
        # Howling is judged on a few sampled listeners: at ~1,000x real time per stream the
        # detector on every listener of a storm would cost more CPU than the storm itself.
        howl_monitored = frozenset(sorted(sampled)[: self.howl_sample])
        return [
            WorkerJob(
                worker=w,
                listeners=tuple(share),
                gate_limits=gates,
                config=self.config,
                seed=self.seed,
                duration=self.duration,
                sampled=sampled,
                snapshot_interval=self.snapshot_interval,
                howl_monitored=howl_monitored,
            )
            for w, (share, gates) in enumerate(partition(self.schedule, self.workers))
        ]

    async def run(self) -> SwarmResult:
        jobs = self.jobs()
        raise_fd_limit(max(peak_concurrency(list(job.listeners)) for job in jobs))
        messages = self._ctx.Queue()
        go = self._ctx.Event()
        start = self._ctx.Value("d", 0.0)
        procs = [
            self._ctx.Process(
                target=_worker_process,
                args=(job, messages, go, start, self._stop),
                name=f"gameday-swarm-{job.worker}",
                daemon=True,
            )
            for job in jobs
        ]
        for proc in procs:
            proc.start()
        try:
            await self._await_ready(messages, procs)
            start.value = self.start_at if self.start_at is not None else time.monotonic() + 0.1
            go.set()
            results = await self._collect(messages, procs)
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in procs:
                await asyncio.to_thread(proc.join, 5)
        stats = ListenerStats()
        summaries: list[dict[str, Any]] = []
        for worker_stats, worker_summaries in results:
            stats = stats.merged(worker_stats)
            summaries.extend(worker_summaries)
        summaries.sort(key=lambda s: s["listener"])
        return SwarmResult(stats, summaries, len(procs), start.value, time.monotonic())

    async def _next(self, messages: Any, procs: list[Any], timeout: float) -> tuple[str, int, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(queue.Empty):
                return await asyncio.to_thread(messages.get, True, 0.5)
            dead = [p.name for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise InfrastructureError(
                    f"swarm worker(s) {', '.join(dead)} died",
                    where="workload",
                    fix="check memory and file-descriptor limits (dmesg for the OOM killer)",
                )
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    f"swarm workers sent nothing for {timeout:.0f}s", where="workload"
                )

    async def _await_ready(self, messages: Any, procs: list[Any]) -> None:
        ready = 0
        while ready < len(procs):
            kind, worker, payload = await self._next(messages, procs, _READY_TIMEOUT)
            if kind == "error":
                raise InfrastructureError(
                    f"swarm worker {worker} failed:\n{payload}", where="workload"
                )
            ready += kind == "ready"

    async def _collect(
        self, messages: Any, procs: list[Any]
    ) -> list[tuple[ListenerStats, list[dict[str, Any]]]]:
        done: dict[int, tuple[ListenerStats, list[dict[str, Any]]]] = {}
        # Workers report every interval from the start, so a long quiet spell is a hung worker
        # (a blocked loop), however long the run.
        silence = max(_SILENCE_TIMEOUT, 10 * self.snapshot_interval)
        while len(done) < len(procs):
            kind, worker, payload = await self._next(messages, procs, silence)
            if kind == "error":
                raise InfrastructureError(
                    f"swarm worker {worker} failed:\n{payload}", where="workload"
                )
            stats = payload if kind == "snapshot" else payload[0]
            self._latest[worker] = stats
            if kind == "done":
                done[worker] = payload
            if self.on_snapshot is not None:
                self.on_snapshot(self.stats())
        return [done[w] for w in sorted(done)]


def _worker_failed(worker: int, trace: str) -> InfrastructureError:
    return InfrastructureError(
        f"swarm worker {worker} crashed; its traceback follows\n{trace}",
        where="workload",
        fix="this is a gameday bug if the traceback is not an OS limit; please report it",
    )
