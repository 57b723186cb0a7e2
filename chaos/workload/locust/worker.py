"""One Locust worker's listeners: their totals, the sweep, and the worker's ``/metrics``.

Locust side (runs under gevent). The totals are a ``ListenerStats`` like a swarm worker's (one
per cohort when the audience is split); a greenlet sweeps every snapshot interval (joins past
their timeout fail, playing probes' clocks run so stalls show while they happen), and each
scrape of the worker's ``/metrics`` renders ``ListenerStats.snapshot`` through the swarm's
``ListenerCollector`` (``CohortCollector``, with its ``cohort`` label, for cohorts), so the
harness reads the same ``gameday_listener*`` families from a Locust worker as from the native
swarm. With cohorts, the worker also records every attempt of each cohort, as the swarm does,
and serves them as JSON on ``/attempts`` for the harness's differential SLOs; the first details
of each failure reason (what a metric label cannot carry) are on ``/failures``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import gevent
from gevent.pywsgi import WSGIServer
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.registry import Collector

from chaos.audio.ear import Ear
from chaos.audio.segments import EdgeSegments
from chaos.errors import InfrastructureError
from chaos.workload.adapter import Adapter
from chaos.workload.cohorts import ATTEMPT_FIELDS, Attempt, Cohort, dealt_cohort
from chaos.workload.limits import raise_fd_limit
from chaos.workload.locust.job import ATTEMPTS_PATH, FAILURES_PATH, LocustJob
from chaos.workload.metrics import CohortCollector, ListenerCollector
from chaos.workload.probe import Probe
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, attempt_of
from chaos.workload.wanting import Wanting

Expire = Callable[[str], None]
"""Ends a probe's attempt as failed with the given reason (the sweep's join timeout)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StartedUser:
    """A started user: its number on this worker, its target, its cohort ("" without
    cohorts), and its ordinal among this worker's users of that target."""

    n: int
    config: ListenerConfig
    cohort: str
    ordinal: int


class WorkerListeners:
    """``index``: Locust's worker index, so workers deal users to targets differently."""

    def __init__(
        self, job: LocustJob, index: int, metrics_host: str, t0: float | None = None
    ) -> None:
        """``t0``: the run's T0 (wall clock) when the master already sent it; else the job's,
        or later by ``set_t0``."""
        self.job = job
        self.index = index
        self.cohorts = job.cohorts or ("",) * len(job.listeners)
        self.stats = {cohort: ListenerStats() for cohort in self.cohorts}
        """Totals per cohort ("" alone without cohorts)."""
        self.active: dict[
            int, tuple[Probe, Expire, StartedUser]
        ] = {}  # by id: probes compare by value
        self.wanting: dict[int, tuple[Wanting, StartedUser]] = {}
        """By user number: users that have tried to join and still want audio."""
        self.attempting: dict[int, Probe] = {}
        """By user number: the attempt going on."""
        self.started = 0
        self.dealt = [0] * len(job.listeners)
        self.segments: dict[str, EdgeSegments] = {}
        self._adapters: dict[str, Adapter] = {}
        self.join_timeout = job.listeners[0].join_timeout  # one experiment: the same for all
        self.wall_offset = time.time() - time.monotonic()
        self._base: float | None = None
        given = t0 if t0 is not None else job.t0
        if given is not None:
            self.set_t0(given)
        self.attempts: list[tuple[str, Attempt]] = []
        try:
            raise_fd_limit(job.shape.peak)
        except InfrastructureError as exc:  # this worker may hold only a share of the peak
            log.warning("%s", exc.render())
        registry = CollectorRegistry()
        collector: Collector = (
            CohortCollector(self.snapshots)
            if job.control is not None
            else ListenerCollector(lambda: self.snapshots()[""])
        )
        registry.register(collector)
        self._server = WSGIServer((metrics_host, 0), self._app(make_wsgi_app(registry)), log=None)
        self._server.start()
        self.url = f"http://{metrics_host}:{self._server.server_port}/metrics"
        self._sweeper = gevent.spawn(self._sweep_forever)

    def set_t0(self, t0: float) -> None:
        """The run's T0 (wall clock), as the master sends it once the harness has fixed it."""
        self._base = t0 - self.wall_offset

    @property
    def t0_known(self) -> bool:
        return self._base is not None

    @property
    def base(self) -> float:
        """The run's T0 on this machine's monotonic clock (attempts count from it). The master
        sends T0 before it starts any user, so an attempt without it is a harness bug."""
        if self._base is None:
            raise InfrastructureError(
                part="load",
                what="a Locust user started before its worker learned the run's T0",
                where="chaos/workload/locust/worker.py",
                fix="this is a gameday bug; please report it with the worker's log",
            )
        return self._base

    def next_user(self) -> StartedUser:
        """A newly started user: its cohort (dealt as users start, with cohorts), then one of
        its cohort's targets, round-robin."""
        n = self.started
        self.started += 1
        cohort = ""
        if self.job.control is not None:
            cohort = str(dealt_cohort(n, self.job.control, f"{self.job.seed}:{self.index}"))
        targets = [i for i, c in enumerate(self.cohorts) if c == cohort]
        turn = sum(self.dealt[i] for i in targets)
        target = targets[(self.index + turn) % len(targets)]
        ordinal = self.dealt[target]
        self.dealt[target] += 1
        return StartedUser(n, self.job.listeners[target], cohort, ordinal)

    def ear(self, user: StartedUser) -> Ear | None:
        """Whether ``user`` is an ear of its target: the first worker's first users of each
        target, as many as the target's ``ears``; with an ``ear_share``, that share of the
        users of every worker. Ears of one target share its decodes."""
        config, ordinal = user.config, user.ordinal
        share = config.ear_share
        if share is None:
            if self.index != 0 or ordinal >= config.ears:
                return None
        elif share <= 0 or int(ordinal * share) == int((ordinal + 1) * share):
            return None
        segments = self.segments.setdefault(config.edge, EdgeSegments())
        return Ear(config.edge, self.index * 100_003 + user.n, segments)

    def adapter(self, config: ListenerConfig) -> Adapter:
        """The adapter of a target, made once: HLS listeners of a worker share its resolved
        URIs and parsed playlists."""
        adapter = self._adapters.get(config.url)
        if adapter is None:
            adapter = self._adapters[config.url] = config.adapter()
        return adapter

    def begin(self, probe: Probe, expire: Expire, user: StartedUser) -> None:
        self.stats[user.cohort].join_attempts += 1
        self.active[id(probe)] = (probe, expire, user)
        self.attempting[user.n] = probe
        self.wanting.setdefault(user.n, (Wanting(probe.requested_at), user))

    def end(self, probe: Probe) -> None:
        """Account an attempt that is over (or whose user Locust stopped: a leave)."""
        entry = self.active.pop(id(probe), None)
        if entry is None:
            return
        user = entry[2]
        if not probe.ended:
            probe.leave(time.monotonic())
        if isinstance(probe.playout.on_play, Ear):
            probe.playout.on_play.finish()
        ended = probe.ended_at if probe.ended_at is not None else time.monotonic()
        self.stats[user.cohort].add_playout(probe, ended)
        if self.job.control is not None:
            self.attempts.append((user.cohort, attempt_of(user.n, probe, self.base, ended)))
        self.attempting.pop(user.n, None)
        wanting = self.wanting.get(user.n)
        if wanting is not None:
            wanting[0].attempt_ended(probe.playout.played_seconds)

    def stop_wanting(self, user: StartedUser) -> None:
        """``user`` gave up or was stopped: what it wanted and missed is final."""
        wanting = self.wanting.pop(user.n, None)
        if wanting is not None:
            self.stats[user.cohort].add_wanted(wanting[0], time.monotonic())

    def sweep(self) -> None:
        now = time.monotonic()
        for probe, expire, user in list(self.active.values()):
            reason = probe.overdue(now, self.join_timeout)
            if reason is not None:
                expire(reason)
            else:
                self.stats[user.cohort].sample(probe, now)

    def snapshots(self) -> dict[str, ListenerStats]:
        """Each cohort's totals now (the gauges from the attempts going on)."""
        now = time.monotonic()
        out = {
            cohort: stats.snapshot(
                [p for p, _, user in self.active.values() if user.cohort == cohort], now
            )
            for cohort, stats in self.stats.items()
        }
        for n, (want, user) in list(self.wanting.items()):  # users change it as this runs
            out[user.cohort].add_wanting(want, self.attempting.get(n), now)
        return out

    def attempts_document(self) -> dict[str, Any]:
        """Every attempt of the judged cohorts so far, those going on measured until now (the
        harness reads this at the run's end, as the swarm ends its attempts there)."""
        by_cohort: dict[str, list[Attempt]] = {}
        if self.job.control is None:
            return {"fields": list(ATTEMPT_FIELDS), "attempts": by_cohort}
        now = time.monotonic()
        going = [
            (user.cohort, attempt_of(user.n, probe, self.base, now))
            for probe, _, user in self.active.values()
        ]
        by_cohort.update({str(c): [] for c in Cohort})
        for cohort, attempt in [*self.attempts, *going]:
            by_cohort[cohort].append(attempt)
        return {"fields": list(ATTEMPT_FIELDS), "attempts": by_cohort}

    def stop(self) -> None:
        self._sweeper.kill(block=False)
        self._server.stop(timeout=1)

    def failures_document(self) -> dict[str, dict[str, list[str]]]:
        """Each cohort's first details per failure reason (``ListenerStats.examples``)."""
        return {cohort: stats.examples for cohort, stats in self.stats.items()}

    def _app(self, metrics: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        """``/metrics`` (any path, as prometheus-client serves it), ``/attempts`` and
        ``/failures``."""
        documents = {ATTEMPTS_PATH: self.attempts_document, FAILURES_PATH: self.failures_document}

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            document = documents.get(environ.get("PATH_INFO", ""))
            if document is None:
                return metrics(environ, start_response)
            body = json.dumps(document(), separators=(",", ":")).encode()
            headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
            start_response("200 OK", headers)
            return [body]

        return app

    def _sweep_forever(self) -> None:
        while True:
            gevent.sleep(self.job.snapshot_interval)
            self.sweep()
