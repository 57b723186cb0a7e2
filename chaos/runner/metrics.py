"""Where a run's samples come from and where they go.

Every ``/metrics`` endpoint of the stack and the harness's own registry are scraped each
interval into an in-memory store (guards and the live view read it) and into the journal (so
the run re-evaluates from its journal alone). With a Prometheus (``--prometheus URL|local``) the
verdict is judged on what Prometheus scraped instead; the harness's registry is then served on
loopback so Prometheus can scrape it too. Before the baseline, every objective's and guard's
metric must exist and every endpoint must answer; a selector whose labels match none of its
metric's series is said then (the run goes on: such a series may still appear).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server

from chaos.errors import InfrastructureError
from chaos.experiment.slos import Guard
from chaos.metrics.backend import PrometheusChoice, prometheus_backend
from chaos.metrics.batch import RECORD_KIND, SampleBatch
from chaos.metrics.prometheus_api import PrometheusAPI
from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.store import SeriesStore
from chaos.report.journal import JournalWriter
from chaos.runner.guards import indicator
from chaos.slo.names import check_metric_names
from chaos.slo.objective import (
    Comparison,
    Context,
    Objective,
    Slo,
    Threshold,
    indicators,
    metric_names,
    unmatched,
)
from chaos.slo.window import Anchor, Interval, WindowSpec

SLOW_START_RETRIES = 2
"""Scrapes again (an interval apart) of endpoints that were late or wrong, not refused, before the
start refuses them."""


class BaselineUnhealthy(InfrastructureError):
    """The stack was not in a steady state before any fault: the faults cannot be judged."""

    part = "stack"


def unmatched_at_start(objectives: Iterable[Slo], store: SeriesStore) -> list[str]:
    """Each selector whose labels match none of the series its metric has at the first scrape
    (``icecast_source_up{mount="/nope"}`` where only ``/live`` is on air), with the values seen.
    Said, not refused: a series may appear later (a mount coming on air at T0, a replica's
    listeners), and the verdict says it again if none did."""
    ctx = Context(store.range)
    always = Interval(-math.inf, math.inf)
    return [
        f"{slo.name}: {note}"
        for slo in objectives
        for each in indicators(slo)
        for note in unmatched(each, ctx, always)
    ]


class RunMetrics:
    def __init__(
        self,
        endpoints: dict[str, str],
        registry: CollectorRegistry,
        journal: JournalWriter,
        *,
        interval: float,
        prometheus: PrometheusChoice | None,
        resources: contextlib.AsyncExitStack,
    ) -> None:
        """``endpoints``: replica → its /metrics URL; ``resources`` holds a Prometheus (and
        the registry's HTTP server) until the verdict has read from it."""
        self.store = SeriesStore()
        self.journal = journal
        self.registry = registry
        self.interval = interval
        self.prometheus = prometheus
        self.resources = resources
        self.api: PrometheusAPI | None = None
        self.targets = [Target.http(name, url) for name, url in endpoints.items()]
        self.targets.append(Target("gameday", "harness", registry=registry))
        self.scraper = Scraper(self.targets, self.store, interval=interval, sink=self._record)
        self.unmatched: list[str] = []
        """What the first scrape says of selectors matching none of their metric's series."""

    def _record(self, batch: SampleBatch) -> None:
        self.journal.write(RECORD_KIND, **batch.to_record())

    async def start(self, slos: Iterable[Slo], guards: Iterable[Guard], logs: Path) -> None:
        """One scrape of everything; refuse unknown metric names (exit 2) and silent
        endpoints (exit 3) before anything else happens."""
        if self.prometheus is not None:
            await self._start_prometheus()
        await self.scraper.scrape_all()
        for _ in range(SLOW_START_RETRIES):  # a loaded machine's late answer, not a dead one
            slow = [t for t in self.scraper.down() if not self.scraper.refused(t)]
            if not slow:
                break
            await asyncio.sleep(self.interval)
            await self.scraper.scrape_all(slow)
        watched: list[Slo] = [
            Objective(
                f"abort guard {g.label}",
                indicator(g),
                Threshold(Comparison.BELOW, 0.0),
                WindowSpec(Anchor.RUN),
            )
            for g in guards
        ]
        check_metric_names([*slos, *watched], self.store.names() | self._harness_names())
        self.check_up(logs)
        self.unmatched = unmatched_at_start([*slos, *watched], self.store)
        if self.unmatched:
            self.journal.write("metrics.unmatched", notes=self.unmatched)

    def _harness_names(self) -> set[str]:
        """Every series name the harness's registry declares, sampled or not yet: the ears'
        per-edge families have no sample before the first listener arrives, at T0."""
        names = set()
        for family in self.registry.collect():
            names.add(family.name)
            if family.type == "counter":
                names.add(f"{family.name}_total")
        return names

    async def _start_prometheus(self) -> None:
        assert self.prometheus is not None
        server, thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        self.resources.callback(thread.join, 5)
        self.resources.callback(server.shutdown)
        harness = Target.http("gameday", f"http://127.0.0.1:{server.server_port}/metrics")
        http_targets = [t for t in self.targets if t.url is not None] + [harness]
        self.api = await self.resources.enter_async_context(
            prometheus_backend(self.prometheus, http_targets, scrape_interval=self.interval)
        )
        self.journal.write("prometheus", url=self.api.url)

    def check_up(self, logs: Path, answered_since: float | None = None) -> None:
        """Refuse to go on while an endpoint is down: at the start, any that failed its last
        scrape; at T0 (``answered_since`` = the baseline's start), those that refused or have not
        answered once since."""
        down = self.scraper.down(answered_since)
        if down:
            reasons = "; ".join(f"{t}: {self.scraper.last_error(t)}" for t in down)
            raise BaselineUnhealthy(
                f"metrics endpoints not answering: {reasons}",
                where=str(logs),
                fix="read the components' logs; the stack must be healthy before any fault",
            )

    async def for_verdict(self, slos: Iterable[Slo], start: float, end: float) -> SeriesStore:
        """The samples the verdict is judged on: Prometheus's when there is one, else ours."""
        if self.api is None:
            return self.store
        await asyncio.sleep(self.interval)  # let its last scrape land
        names = set().union(*(metric_names(s) for s in slos))
        return await self.api.load_store(names, start, end)
