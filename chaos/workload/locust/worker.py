"""One Locust worker's listeners: their totals, the sweep, and the worker's ``/metrics``.

Locust side (runs under gevent). The totals are a ``ListenerStats`` like a swarm worker's; a
greenlet sweeps every snapshot interval (joins past their timeout fail, playing probes' clocks
run so stalls show while they happen), and each scrape of the worker's ``/metrics`` renders
``ListenerStats.snapshot`` through the swarm's ``ListenerCollector``, so the harness reads the
same ``gameday_listener*`` families from a Locust worker as from the native swarm.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import gevent
from prometheus_client import CollectorRegistry, start_http_server

from chaos.audio.howl_monitor import HowlMonitor
from chaos.errors import InfrastructureError
from chaos.workload.limits import raise_fd_limit
from chaos.workload.locust.job import LocustJob
from chaos.workload.metrics import ListenerCollector
from chaos.workload.probe import Probe
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig

Expire = Callable[[str], None]
"""Ends a probe's attempt as failed with the given reason (the sweep's join timeout)."""

log = logging.getLogger(__name__)


class WorkerListeners:
    """``index``: Locust's worker index, so workers deal users to targets differently."""

    def __init__(self, job: LocustJob, index: int, metrics_host: str) -> None:
        self.job = job
        self.index = index
        self.stats = ListenerStats()
        self.active: dict[int, tuple[Probe, Expire]] = {}  # by id: probes compare by value
        self.started = 0
        self.join_timeout = job.listeners[0].join_timeout  # one experiment: the same for all
        self.wall_offset = time.time() - time.monotonic()
        try:
            raise_fd_limit(job.shape.peak)
        except InfrastructureError as exc:  # this worker may hold only a share of the peak
            log.warning("%s", exc.render())
        registry = CollectorRegistry()
        registry.register(ListenerCollector(self.snapshot))
        server, _ = start_http_server(0, addr=metrics_host, registry=registry)
        self.url = f"http://{metrics_host}:{server.server_port}/metrics"
        self._sweeper = gevent.spawn(self._sweep_forever)

    def next_user(self) -> tuple[int, ListenerConfig]:
        """A number for a newly started user and the target it listens to (round-robin)."""
        n = self.started
        self.started += 1
        return n, self.job.listeners[(self.index + n) % len(self.job.listeners)]

    def howl_monitor(self, n: int) -> HowlMonitor | None:
        """Howling is judged on a few users per worker, as the swarm judges a sample."""
        return HowlMonitor() if n < self.job.howl_sample else None

    def begin(self, probe: Probe, expire: Expire) -> None:
        self.stats.join_attempts += 1
        self.active[id(probe)] = (probe, expire)

    def end(self, probe: Probe) -> None:
        """Account an attempt that is over (or whose user Locust stopped: a leave)."""
        self.active.pop(id(probe), None)
        if not probe.ended:
            probe.leave(time.monotonic())
        if isinstance(probe.playout.on_play, HowlMonitor):
            probe.playout.on_play.finish()
        ended = probe.ended_at if probe.ended_at is not None else time.monotonic()
        self.stats.add_playout(probe, ended)

    def sweep(self) -> None:
        now = time.monotonic()
        for probe, expire in list(self.active.values()):
            reason = probe.overdue(now, self.join_timeout)
            if reason is not None:
                expire(reason)
            else:
                self.stats.sample(probe, now)

    def snapshot(self) -> ListenerStats:
        return self.stats.snapshot([p for p, _ in self.active.values()], time.monotonic())

    def stop(self) -> None:
        self._sweeper.kill(block=False)

    def _sweep_forever(self) -> None:
        while True:
            gevent.sleep(self.job.snapshot_interval)
            self.sweep()
