"""The swarm: thousands of probes on one machine, one asyncio worker process per core.

One Python process tops out near one core, and a join storm is exactly when the harness must
not be the bottleneck, so the schedule is split across worker processes (spawned, each with its
own event loop, uvloop when installed). Workers start on a shared monotonic T0 (CLOCK_MONOTONIC
is system-wide), run their listeners' joins, leaves and reconnects, and send a ``ListenerStats``
snapshot every interval; the parent sums the latest snapshot of each worker.

Paced phases keep their in-flight limit across the swarm by splitting it between workers.
Listeners who dial differently (a run's cohorts, each through its own proxies) are crowds of
one swarm: every worker carries its share of each, and keeps and reports totals per crowd.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import partial
from multiprocessing.synchronize import Event
from typing import Any

from chaos.audio.ear import Ear, EarEvent
from chaos.audio.segments import EdgeSegments
from chaos.errors import InfrastructureError, InvalidInput
from chaos.stack.processes import die_with_parent, done_with, reap_with_harness
from chaos.workload.adapter import (
    Adapter,
    HttpStreamAdapter,
    Session,
    connect_failure,
    source_address,
    spreads_sources,
)
from chaos.workload.arrivals import Join, Schedule
from chaos.workload.cohorts import Attempt
from chaos.workload.framed import FramedDecoder
from chaos.workload.hls.adapter import HlsAdapter
from chaos.workload.hls.player import HlsOptions
from chaos.workload.hls.variant import VariantPolicy
from chaos.workload.http import Target
from chaos.workload.join import JoinAdapter
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
from chaos.workload.wanting import Wanting

#: How long the parent gives spawned workers to import and report ready.
_READY_TIMEOUT = 60.0
#: How long a running worker may send nothing before the swarm declares it hung.
_SILENCE_TIMEOUT = 30.0
#: Attempt summaries kept per sampled listener (a reconnect storm can make hundreds).
_ATTEMPTS_KEPT = 20
#: Ears per edge unless the stack spec or the experiment says: a few listeners decoding is
#: enough to hear what all of them hear, at ~1 % of a core each.
DEFAULT_EARS = 4

EarSink = Callable[[list[dict[str, Any]]], None]
"""Receives what ears heard, as journal records (``ear_record``)."""


class StreamFormat(StrEnum):
    PROGRESSIVE = "progressive"
    FRAMED = "framed"
    HLS = "hls"


@dataclass(frozen=True, slots=True)
class ListenerConfig:
    """How every listener of the swarm connects and what it counts as a failed join.

    ``stream``: ``progressive`` (Icecast-style bytes at ``bitrate`` bit/s, None reads
    ``icy-br``), ``framed`` (soundstage's sequenced frames) or ``hls`` (a playlist URL;
    ``variant``: ``lowest``, ``highest`` or a bandwidth in bit/s; ``low_latency``: use LL-HLS
    parts and blocking reloads where the playlist offers them). ``target_delay``: the jitter
    buffer's target, which for progressive streams is the decoder's start-up buffer.
    ``join_timeout``: a join that has not played audio by then fails, with reason
    ``connect_timeout`` if the TCP connection was not even up, else ``timeout`` (checked at
    every sweep, so within one ``snapshot_interval``). ``edge``: the name of the target (the
    ``edge`` label of what its ears heard); ``ears``: how many of its listeners are ears, or
    ``ear_share``: which share of them (0.01: 1 %, at least one). ``join_url``: the join
    API every attempt POSTs to first (``chaos.workload.join``), which names one of
    ``announced`` (the edges as the API knows them, ``http://HOST:PORT``); the listener plays
    the same position of ``edge_urls`` (the stream URLs it dials: the same proxies, or a
    control cohort's own); its ears are labelled by the same position of ``edge_names``.
    """

    url: str
    stream: StreamFormat = StreamFormat.PROGRESSIVE
    bitrate: float | None = None
    target_delay: float = 0.5
    join_timeout: float = 30.0
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    edge: str = ""
    ears: int = DEFAULT_EARS
    ear_share: float | None = None
    variant: str = "highest"
    low_latency: bool = True
    join_url: str | None = None
    announced: tuple[str, ...] = ()
    edge_urls: tuple[str, ...] = ()
    edge_names: tuple[str, ...] = ()

    def adapter(self) -> Adapter:
        if self.join_url is None:
            return self._stream(self.url)
        if len(self.announced) != len(self.edge_urls) or not self.announced:
            raise InvalidInput(
                "a join API needs the edges it may name, one stream URL each",
                where="listeners: join",
            )
        edges = {a: self._stream(u) for a, u in zip(self.announced, self.edge_urls, strict=True)}
        names = dict(zip(self.announced, self.edge_names, strict=False))
        return JoinAdapter(Target.parse(self.join_url), edges, names)

    def _stream(self, url: str) -> Adapter:
        if self.stream is StreamFormat.HLS:
            try:
                variant = VariantPolicy.parse(self.variant)
            except ValueError as exc:
                raise InvalidInput(str(exc), where="listeners: variant") from None
            options = HlsOptions(variant=variant, low_latency=self.low_latency)
            return HlsAdapter(Target.parse(url), options)
        decoder: Callable[[bool], StreamDecoder] = (
            _framed if self.stream is StreamFormat.FRAMED else partial(_progressive, self.bitrate)
        )
        return HttpStreamAdapter(Target.parse(url), decoder)

    def ear_count(self, listeners: int) -> int:
        """How many of ``listeners`` are ears: the count, or the share (at least one)."""
        if self.ear_share is None:
            return min(listeners, self.ears)
        if self.ear_share <= 0:
            return 0
        return min(listeners, max(1, round(listeners * self.ear_share)))


@dataclass(frozen=True, slots=True)
class Crowds:
    """How the listeners of one swarm dial when they do not all dial alike (a run's cohorts, each
    through its own proxies): the schedule's ``i``-th listener dials as ``configs[of[i]]``, and
    counts in that crowd's totals. Crowds share the swarm's worker processes, each worker
    carrying a share of every crowd, so whatever slows a worker (a loaded machine's scheduling)
    slows every crowd alike instead of one more than another."""

    configs: tuple[ListenerConfig, ...]
    of: tuple[int, ...]

    @classmethod
    def one(cls, config: ListenerConfig, listeners: int) -> Crowds:
        return cls((config,), (0,) * listeners)


def mixed(parts: Sequence[tuple[Schedule, ListenerConfig]]) -> tuple[Schedule, Crowds]:
    """One schedule of every part's joins, part after part, each part a crowd dialling as its
    config; each part keeps its own paced gates (renumbered), so one crowd's slow joins never
    hold another's slots."""
    joins: list[Join] = []
    gates: list[int] = []
    of: list[int] = []
    for crowd, (schedule, _) in enumerate(parts):
        offset = len(gates)
        joins += [j if j.gate is None else replace(j, gate=j.gate + offset) for j in schedule.joins]
        gates += schedule.gates
        of += [crowd] * len(schedule.joins)
    return Schedule(tuple(joins), tuple(gates)), Crowds(tuple(c for _, c in parts), tuple(of))


def _framed(ear: bool) -> StreamDecoder:
    return FramedDecoder()  # an ear decodes framed payloads itself, as they play


def _progressive(bitrate: float | None, ear: bool) -> StreamDecoder:
    return ProgressiveDecoder(bitrate, ear=ear)


CrowdStats = tuple[ListenerStats, ...]
"""A worker's totals, one per crowd (``Crowds.configs``' order)."""

WorkerDone = tuple[CrowdStats, list[dict[str, Any]], list[Attempt]]
"""What a worker sends back at its end: its crowds' totals, its sampled listeners' summaries
and every attempt it recorded."""


@dataclass(frozen=True, slots=True)
class WorkerJob:
    worker: int
    listeners: tuple[tuple[int, Join], ...]
    gate_limits: dict[int, int]
    crowds: Crowds
    seed: int
    duration: float
    sampled: frozenset[int]
    snapshot_interval: float
    ears: frozenset[int] = frozenset()
    """Listeners who are ears: they decode what they receive and the detectors judge it."""
    attempts: bool = False
    """Record every listener attempt (``chaos.workload.cohorts.Attempt``): differential SLOs
    bootstrap over them."""


@dataclass
class _Workers:
    """A swarm's worker processes and what the harness shares with them: their message queue,
    the go signal and the start time (T0 on ``time.monotonic()``) they read once it is set."""

    messages: Any
    go: Any
    start: Any
    procs: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SwarmResult:
    stats: ListenerStats
    summaries: list[dict[str, Any]]
    workers: int
    started_at: float  # time.monotonic() of T0
    ended_at: float
    attempts: list[Attempt] = field(default_factory=list)
    """Every listener attempt, when the swarm was asked to record them."""


class _Listener:
    """One scheduled listener across its attempts (the first join and any reconnects)."""

    __slots__ = (
        "began", "connecting", "crowd", "index", "join", "left", "probe", "retries", "rng",
        "session", "summary", "w", "want",
    )  # fmt: skip

    def __init__(
        self, worker: _Worker, crowd: _Crowd, index: int, join: Join, sampled: bool
    ) -> None:
        self.w = worker
        self.crowd = crowd
        self.index = index
        self.join = join
        self.left = False
        self.probe: Probe | None = None
        self.session: Session | None = None
        self.connecting: asyncio.Task[Any] | None = None
        self.retries = 0
        self.began = False
        self.want: Wanting | None = None
        """From its first attempt: how long it wanted audio and heard none."""
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
        w, crowd = self.w, self.crowd
        gate = w.gates.get(self.join.gate) if self.join.gate is not None else None
        if gate is not None:
            await gate.acquire()
        try:
            now = w.loop.time()
            if self.left or now >= w.end:
                return
            ear = w.ear(self)
            if ear is not None and not self.began:
                # The load generator's own lateness (workers still starting at T0, a loaded
                # machine): the on-air delay leaves it out, it is not the stack's.
                ear.late_seconds = max(0.0, now - (w.base + self.join.at))
            if not self.began:
                self.want = Wanting(now)
                w.wanting.add(self)
            self.began = True
            probe = Probe(
                crowd.adapter.decoder(ear is not None),
                requested_at=now,
                target_delay=crowd.cfg.target_delay,
                on_play=ear,
                wall_offset=w.wall_offset,
            )
            self.probe = probe
            w.active.add(self)
            crowd.stats.join_attempts += 1
            task = asyncio.current_task()
            self.connecting = task  # the sweep cancels it past join_timeout
            try:
                session = await crowd.adapter.open(
                    probe, self.on_events, crowd.source(self.index), f"{w.job.seed}-{self.index}"
                )
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
        stats = self.crowd.stats
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
        ear = probe.playout.on_play
        if isinstance(ear, Ear):
            ear.finish()
            w.heard(ear)
        ended = probe.ended_at if probe.ended_at is not None else w.loop.time()
        self.crowd.stats.add_playout(probe, ended)
        if self.want is not None:
            self.want.attempt_ended(probe.playout.played_seconds)
        if w.attempts is not None:
            w.attempts.append(attempt_of(self.index, probe, w.base, ended))
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
        delay = self.crowd.cfg.reconnect.next_delay(self.retries, self.rng)
        if delay is not None:
            self.crowd.stats.reconnects += 1
            w.loop.call_later(max(delay, at_least), self.begin)
        else:
            self.stop_wanting()  # the policy gave up: this listener went away unheard

    def leave(self) -> None:
        self.left = True
        probe = self.probe
        if probe is not None:
            probe.leave(self.w.loop.time())
            self.end_attempt()
        self.stop_wanting()

    def stop_wanting(self) -> None:
        w = self.w
        if self.want is not None and self in w.wanting:
            w.wanting.discard(self)
            self.crowd.stats.add_wanted(self.want, min(w.loop.time(), w.end))


class _Crowd:
    """One crowd's share of a worker: how its listeners dial, and what they counted."""

    __slots__ = ("adapter", "cfg", "segments", "spreads", "stats")

    def __init__(self, config: ListenerConfig) -> None:
        self.cfg = config
        self.adapter = config.adapter()
        self.stats = ListenerStats()
        self.segments = EdgeSegments()  # its edge's decoded HLS segments, shared by its ears
        self.spreads = spreads_sources(Target.parse(config.url).host)

    def source(self, index: int) -> str | None:
        return source_address(index) if self.spreads else None

    def snapshot(self, probes: list[Probe], wanting: list[_Listener], now: float) -> ListenerStats:
        """Its totals, with the gauges of its attempts going on (``probes``) and of its
        listeners that still want audio."""
        out = self.stats.snapshot(probes, now)
        for listener in wanting:
            if listener.want is not None:
                out.add_wanting(listener.want, listener.probe, now)
        return out


class _Worker:
    """Runs one worker's share of the schedule on the current event loop."""

    def __init__(self, job: WorkerJob, start_at: float, stop: Event | None) -> None:
        self.job = job
        self.crowds = [_Crowd(config) for config in job.crowds.configs]
        self.loop = asyncio.get_running_loop()
        self.base = self.loop.time() + (start_at - time.monotonic())
        self.wall_offset = time.time() - self.loop.time()
        self.end = self.base + job.duration
        self.stop = stop
        self.active: set[_Listener] = set()
        self.wanting: set[_Listener] = set()
        """Listeners that have tried to join and still want audio (attempting or waiting)."""
        self.gates = {g: asyncio.Semaphore(n) for g, n in job.gate_limits.items()}
        self.tasks: set[asyncio.Task[None]] = set()
        self.heard_records: list[dict[str, Any]] = []
        self.attempts: list[Attempt] | None = [] if job.attempts else None

    def ear(self, listener: _Listener) -> Ear | None:
        if listener.index not in self.job.ears:
            return None
        return Ear(listener.crowd.cfg.edge, listener.index, listener.crowd.segments)

    def heard(self, ear: Ear) -> None:
        """Collect what ``ear`` heard since last asked, for the journal."""
        self.heard_records += [ear_record(ear, e, self.wall_offset) for e in ear.drain()]

    def spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self, report: Callable[[CrowdStats], None]) -> list[dict[str, Any]]:
        of = self.job.crowds.of
        listeners = [
            _Listener(self, self.crowds[of[index]], index, join, index in self.job.sampled)
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

    def sweep(self) -> CrowdStats:
        """Fail joins past their timeout, run every playout clock, and snapshot each crowd's
        totals."""
        now = self.loop.time()
        for listener in list(self.active):
            probe = listener.probe
            if probe is None:
                continue
            timeout = listener.crowd.cfg.join_timeout
            reason = probe.overdue(now, timeout)
            if reason is not None:
                connecting = listener.connecting
                waited = f"no first audio {timeout:g}s after the join request"
                never = " (never connected)" if probe.connected_at is None else ""
                listener.on_events(probe.fail(now, reason, waited + never))
                if connecting is not None:
                    connecting.cancel()
            else:
                listener.crowd.stats.sample(probe, now)
                if isinstance(probe.playout.on_play, Ear):
                    self.heard(probe.playout.on_play)
        gauges: dict[_Crowd, tuple[list[Probe], list[_Listener]]] = {
            crowd: ([], []) for crowd in self.crowds
        }
        for listener in self.active:
            if listener.probe is not None:
                gauges[listener.crowd][0].append(listener.probe)
        for listener in self.wanting:
            gauges[listener.crowd][1].append(listener)
        return tuple(crowd.snapshot(*gauges[crowd], now) for crowd in self.crowds)

    def totals(self) -> CrowdStats:
        """Each crowd's totals, once every listener has left."""
        return tuple(crowd.stats for crowd in self.crowds)

    def take_heard(self) -> list[dict[str, Any]]:
        records, self.heard_records = self.heard_records, []
        return records


def attempt_of(listener: int, probe: Probe, base: float, now: float) -> Attempt:
    """One ended attempt as a differential SLO samples it (``ATTEMPT_FIELDS``)."""
    p = probe.playout
    ttfa = probe.ttfa
    return (
        listener,
        round(probe.requested_at - base, 4),
        -1.0 if ttfa is None else ttfa,
        1,
        0 if ttfa is None else 1,
        p.stall_seconds(now),
        p.played_seconds,
        p.concealed_seconds,
        len(p.stalls) + (1 if p.stalled else 0),
        len(p.freezes),
    )


def ear_record(ear: Ear, event: EarEvent, wall_offset: float) -> dict[str, Any]:
    """One thing an ear heard as a journal record (kind ``ear.<event>``): when (wall clock),
    on which edge, by which listener, and what."""
    return {
        "event": event.kind,
        "edge": ear.edge,
        "listener": ear.listener,
        "heard_at": round(event.at + wall_offset, 3),
        "audio_seconds": event.audio_at,
        **event.detail,
        **({"late_seconds": round(ear.late_seconds, 3)} if event.kind == "on_air" else {}),
    }


def run_worker(
    job: WorkerJob,
    start_at: float,
    report: Callable[[CrowdStats], None],
    stop: Event | None = None,
    heard: EarSink | None = None,
) -> WorkerDone:
    """Run one worker's share on a fresh event loop (uvloop when installed); blocking.
    ``heard`` receives what the worker's ears heard, with each report and at the end."""

    async def main() -> WorkerDone:
        worker = _Worker(job, start_at, stop)

        def reported(stats: CrowdStats) -> None:
            records = worker.take_heard()
            if records and heard is not None:
                heard(records)
            report(stats)

        summaries = await worker.run(reported)
        records = worker.take_heard()
        if records and heard is not None:
            heard(records)
        for summary in summaries:
            summary["worker"] = job.worker
        return worker.totals(), summaries, worker.attempts or []

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def _worker_process(job: WorkerJob, messages: Any, go: Event, start: Any, stop: Event) -> None:
    """Entry point of a spawned worker: report ready, wait for T0, stream snapshots."""
    # A killed harness must not leave listeners behind, even one killed while this started.
    parent = multiprocessing.parent_process()
    die_with_parent(signal.SIGKILL, parent.pid if parent is not None else None)
    try:
        messages.put(("ready", job.worker, None))
        go.wait()
        done = run_worker(
            job,
            start.value,
            lambda s: messages.put(("snapshot", job.worker, s)),
            stop,
            lambda records: messages.put(("heard", job.worker, records)),
        )
        messages.put(("done", job.worker, done))
    except BaseException:
        messages.put(("error", job.worker, traceback.format_exc()))


def partition(
    schedule: Schedule, workers: int, crowds: Sequence[int] = ()
) -> list[tuple[list[tuple[int, Join]], dict[int, int]]]:
    """Deal joins to workers; a gate's limit is shared by at most that many workers. With
    ``crowds`` (the crowd of each join), each crowd is dealt round-robin on its own from the
    first worker, so every worker carries an even share of every crowd, and crowds of one size
    (a run's cohorts) the same share."""
    shares: list[tuple[list[tuple[int, Join]], dict[int, int]]] = [([], {}) for _ in range(workers)]
    for gate, limit in enumerate(schedule.gates):
        used = min(workers, limit)
        for w in range(used):
            shares[w][1][gate] = limit // used + (1 if w < limit % used else 0)
    dealt: dict[tuple[int, int | None], int] = {}
    for index, join in enumerate(schedule.joins):
        crowd = crowds[index] if crowds else 0
        n = dealt.get((crowd, join.gate), 0)
        dealt[(crowd, join.gate)] = n + 1
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
    """Runs a schedule of listeners against a stream for ``duration`` seconds from T0: every
    listener dials as ``config``, or as its crowd's (``Crowds``, ``mixed``)."""

    def __init__(
        self,
        schedule: Schedule,
        config: ListenerConfig | Crowds,
        *,
        seed: int,
        duration: float,
        workers: int | None = None,
        sample: int = 200,
        snapshot_interval: float = 1.0,
        on_snapshot: Callable[[ListenerStats], None] | None = None,
        on_heard: EarSink | None = None,
        start_at: float | None = None,
        attempts: bool = False,
    ) -> None:
        """``start_at``: T0 on ``time.monotonic()``, shared with other timelines (a run's
        faults); default: as soon as every worker is ready. Joins due before the workers
        are ready start at once."""
        if duration <= 0:
            raise InvalidInput(f"workload duration must be > 0, got {duration}", where="workload")
        crowds = config if isinstance(config, Crowds) else Crowds.one(config, len(schedule.joins))
        if len(crowds.of) != len(schedule.joins):
            raise ValueError(f"{len(crowds.of)} crowd labels for {len(schedule.joins)} listeners")
        for each in crowds.configs:
            each.adapter()  # validates the URL before anything starts
        self.schedule = schedule
        self.crowds = crowds
        self.seed = seed
        self.duration = duration
        self.workers = max(1, min(workers or default_workers(), len(schedule.joins) or 1))
        self.sample = sample
        self.snapshot_interval = snapshot_interval
        self.on_snapshot = on_snapshot
        self.on_heard = on_heard
        self.start_at = start_at
        self.attempts = attempts
        self._latest: dict[int, CrowdStats] = {}
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = self._ctx.Event()
        self.ready_at: float | None = None
        """When every worker was ready to dial (``time.monotonic()``)."""
        self._workers: _Workers | None = None

    def stats(self) -> ListenerStats:
        """The latest merged totals (what ``ListenerCollector`` renders)."""
        total = ListenerStats()
        for crowd in self.crowd_stats():
            total = total.merged(crowd)
        return total

    def crowd_stats(self) -> list[ListenerStats]:
        """The latest totals of each crowd, merged over the workers."""
        totals = [ListenerStats() for _ in self.crowds.configs]
        for snapshot in list(self._latest.values()):
            totals = [total.merged(crowd) for total, crowd in zip(totals, snapshot, strict=True)]
        return totals

    def stop(self) -> None:
        """Ask every worker to end now (their listeners leave); ``run`` then returns."""
        self._stop.set()

    def jobs(self) -> list[WorkerJob]:
        n = len(self.schedule.joins)
        sampled = frozenset(
            random.Random(f"{self.seed}:sample").sample(range(n), min(n, self.sample))
        )
        shares = partition(self.schedule, self.workers, self.crowds.of)
        ears = self._ears(shares)
        return [
            WorkerJob(
                worker=w,
                listeners=tuple(share),
                gate_limits=gates,
                crowds=self.crowds,
                seed=self.seed,
                duration=self.duration,
                sampled=sampled,
                snapshot_interval=self.snapshot_interval,
                ears=ears,
                attempts=self.attempts,
            )
            for w, (share, gates) in enumerate(shares)
        ]

    def _ears(self, shares: list[tuple[list[tuple[int, Join]], dict[int, int]]]) -> frozenset[int]:
        """A seeded choice of each crowd's ears, from the first worker's listeners first: ears
        of one crowd on one worker share its decoded segments, so the edge pays one decode per
        segment. Few listeners are ears because decoding costs ~1 % of a core each, against
        ~0.01 % for a listener."""
        rng = random.Random(f"{self.seed}:ears")
        of = self.crowds.of
        chosen: list[int] = []
        for crowd, config in enumerate(self.crowds.configs):
            wanted = config.ear_count(of.count(crowd))
            mine: list[int] = []
            for share, _ in shares:
                indices = [index for index, _ in share if of[index] == crowd]
                mine += rng.sample(indices, min(len(indices), wanted - len(mine)))
                if len(mine) >= wanted:
                    break
            chosen += mine
        return frozenset(chosen)

    async def ready(self) -> None:
        """Spawn the workers and wait until each can dial. A run calls it before it fixes T0:
        a spawned worker imports numpy, PyAV and aiohttp, seconds of CPU on a loaded machine,
        and listeners that could only start after T0 would judge an audience that came late.
        Idempotent; ``run`` calls it when nobody did."""
        if self._workers is not None:
            return
        jobs = self.jobs()
        raise_fd_limit(max(peak_concurrency(list(job.listeners)) for job in jobs))
        workers = _Workers(self._ctx.Queue(), self._ctx.Event(), self._ctx.Value("d", 0.0))
        workers.procs = [
            self._ctx.Process(
                target=_worker_process,
                args=(job, workers.messages, workers.go, workers.start, self._stop),
                name=f"gameday-swarm-{job.worker}",
                daemon=True,
            )
            for job in jobs
        ]
        self._workers = workers
        for proc in workers.procs:
            proc.start()
            assert proc.pid is not None
            reap_with_harness(proc.pid)  # PDEATHSIG is set only once the worker has imported
        tracker = _resource_tracker()
        if tracker is not None:  # it frees the workers' semaphores once they are gone
            reap_with_harness(tracker, patient=True)
        try:
            await self._await_ready(workers.messages, workers.procs)
        except BaseException:
            await self._end_workers(workers.procs)
            raise
        self.ready_at = time.monotonic()

    async def _end_workers(self, procs: list[Any]) -> None:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            await asyncio.to_thread(proc.join, 5)
            if proc.exitcode is not None and proc.pid is not None:
                done_with(proc.pid)

    async def run(self) -> SwarmResult:
        await self.ready()
        workers = self._workers
        assert workers is not None
        procs, start = workers.procs, workers.start
        try:
            start.value = self.start_at if self.start_at is not None else time.monotonic() + 0.1
            workers.go.set()
            results = await self._collect(workers.messages, procs)
        finally:
            await self._end_workers(procs)
        stats = ListenerStats()
        summaries: list[dict[str, Any]] = []
        attempts: list[Attempt] = []
        for crowd_stats, worker_summaries, worker_attempts in results:
            for crowd in crowd_stats:
                stats = stats.merged(crowd)
            summaries.extend(worker_summaries)
            attempts.extend(worker_attempts)
        summaries.sort(key=lambda s: s["listener"])
        return SwarmResult(
            stats, summaries, len(procs), start.value, time.monotonic(), sorted(attempts)
        )

    async def _next(self, messages: Any, procs: list[Any], timeout: float) -> tuple[str, int, Any]:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(queue.Empty):
                return await asyncio.to_thread(messages.get, True, 0.5)
            dead = [p.name for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise InfrastructureError(
                    part="load",
                    what=f"swarm worker(s) {', '.join(dead)} died",
                    where="workload",
                    fix="check memory and file-descriptor limits (dmesg for the OOM killer)",
                )
            if time.monotonic() > deadline:
                raise InfrastructureError(
                    part="load",
                    what=f"swarm workers sent nothing for {timeout:.0f}s",
                    where="workload",
                )

    async def _await_ready(self, messages: Any, procs: list[Any]) -> None:
        ready = 0
        while ready < len(procs):
            kind, worker, payload = await self._next(messages, procs, _READY_TIMEOUT)
            if kind == "error":
                raise InfrastructureError(
                    part="load", what=f"swarm worker {worker} failed:\n{payload}", where="workload"
                )
            ready += kind == "ready"

    async def _collect(self, messages: Any, procs: list[Any]) -> list[WorkerDone]:
        done: dict[int, WorkerDone] = {}
        # Workers report every interval from the start, so a long quiet spell is a hung worker
        # (a blocked loop), however long the run.
        silence = max(_SILENCE_TIMEOUT, 10 * self.snapshot_interval)
        while len(done) < len(procs):
            kind, worker, payload = await self._next(messages, procs, silence)
            if kind == "error":
                raise InfrastructureError(
                    part="load", what=f"swarm worker {worker} failed:\n{payload}", where="workload"
                )
            if kind == "heard":
                if self.on_heard is not None:
                    self.on_heard(payload)
                continue
            stats = payload if kind == "snapshot" else payload[0]
            self._latest[worker] = stats
            if kind == "done":
                done[worker] = payload
            if self.on_snapshot is not None:
                self.on_snapshot(self.stats())
        return [done[w] for w in sorted(done)]


def _resource_tracker() -> int | None:
    """The pid of multiprocessing's resource tracker, which the workers' queue and events
    started (it lives until every process holding its pipe is gone)."""
    from multiprocessing import resource_tracker

    pid = getattr(resource_tracker._resource_tracker, "_pid", None)
    return pid if isinstance(pid, int) else None


def _worker_failed(worker: int, trace: str) -> InfrastructureError:
    return InfrastructureError(
        part="load",
        what=f"swarm worker {worker} crashed; its traceback follows\n{trace}",
        where="workload",
        fix="this is a gameday bug if the traceback is not an OS limit; please report it",
    )
