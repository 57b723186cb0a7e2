"""Scrape every ``/metrics`` endpoint of the stack, and the harness's own registry, on a beat.

This is the asyncio edge around the sans-IO parser and store. It keeps Prometheus' scrape
semantics so direct scraping and a real Prometheus record the same history: samples are
stamped with the scrape's start time and labelled ``job``/``instance``; each scrape also yields
``up``, ``scrape_duration_seconds`` and ``scrape_samples_scraped``; a series that vanishes
from a target, or every series of a target that goes down, gets a staleness marker. Counter
resets are kept as recorded — ``increase``/``rate`` account for them at query time, as PromQL
does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import httpx
from prometheus_client import CollectorRegistry, generate_latest

from chaos.metrics.batch import SampleBatch
from chaos.metrics.exposition import ExpositionError, ExpositionParser
from chaos.metrics.series import SeriesKey, labels_of
from chaos.metrics.store import SeriesStore

Sink = Callable[[SampleBatch], None]

_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


@dataclass(frozen=True, slots=True)
class Target:
    """A ``/metrics`` endpoint (``url``), or an in-process registry such as the harness's own."""

    job: str
    instance: str
    url: str | None = None
    registry: CollectorRegistry | None = None

    def __post_init__(self) -> None:
        if (self.url is None) == (self.registry is None):
            raise ValueError("a scrape target has either a url or a registry")

    @classmethod
    def http(cls, job: str, url: str) -> Target:
        return cls(job, httpx.URL(url).netloc.decode(), url=url)

    def __str__(self) -> str:
        return f"{self.job}/{self.instance}"


def _relabel(key: SeriesKey, target: Target) -> SeriesKey:
    """Attach job/instance as Prometheus does (honor_labels: false): a clashing exposed label
    survives as ``exported_<name>``."""
    labels = dict(key.labels)
    for name, value in (("job", target.job), ("instance", target.instance)):
        if name in labels:
            labels[f"exported_{name}"] = labels.pop(name)
        labels[name] = value
    return SeriesKey(key.name, labels_of(labels))


class Scraper:
    """Scrapes its targets every ``interval`` seconds into a store and an optional sink."""

    def __init__(
        self,
        targets: Sequence[Target],
        store: SeriesStore,
        *,
        interval: float = 1.0,
        timeout: float | None = None,
        sink: Sink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0:
            raise ValueError("scrape interval must be positive")
        self.targets = list(targets)
        self.store = store
        self.interval = interval
        self.timeout = min(interval, 10.0) if timeout is None else timeout
        self.sink = sink
        self.clock = clock
        self._up: dict[Target, bool] = {}
        self._last_errors: dict[Target, str] = {}
        self._refused: set[Target] = set()
        self._answered_at: dict[Target, float] = {}
        self._exposed: dict[Target, set[SeriesKey]] = {}
        self._parsers: dict[Target, ExpositionParser] = {}
        self._relabelled: dict[Target, dict[SeriesKey, SeriesKey]] = {}

    def up(self, target: Target) -> bool | None:
        """Whether the last scrape of ``target`` succeeded; None before its first scrape."""
        return self._up.get(target)

    def last_error(self, target: Target) -> str | None:
        return self._last_errors.get(target)

    async def _fetch(self, client: httpx.AsyncClient, target: Target) -> str:
        if target.registry is not None:
            return generate_latest(target.registry).decode()
        assert target.url is not None
        response = await client.get(target.url, headers={"Accept": _ACCEPT})
        response.raise_for_status()
        return response.text

    def _relabel_all(
        self, target: Target, exposed: list[tuple[SeriesKey, float]]
    ) -> list[tuple[SeriesKey, float]]:
        """Relabel with the previous scrape's answers, as the parser reuses its heads."""
        known = self._relabelled.get(target, {})
        seen = {k: known.get(k) or _relabel(k, target) for k, _ in exposed}
        self._relabelled[target] = seen
        return [(seen[k], v) for k, v in exposed]

    async def scrape(self, client: httpx.AsyncClient, target: Target) -> SampleBatch:
        """One scrape of one target: record it and hand it to the sink."""
        started = self.clock()
        began = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                text = await self._fetch(client, target)
                exposed_samples = self._parsers.setdefault(target, ExpositionParser()).parse(text)
        except (httpx.HTTPError, ExpositionError, TimeoutError) as exc:
            self._last_errors[target] = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, httpx.ConnectError):
                self._refused.add(target)
            else:
                self._refused.discard(target)
            samples: list[tuple[SeriesKey, float]] = []
            healthy = False
        else:
            self._last_errors.pop(target, None)
            self._refused.discard(target)
            self._answered_at[target] = started
            samples = self._relabel_all(target, exposed_samples)
            healthy = True
        exposed = {k for k, _ in samples}
        stale = sorted(self._exposed.get(target, set()) - exposed)
        self._exposed[target] = exposed
        self._up[target] = healthy
        synthetic = {
            "up": 1.0 if healthy else 0.0,
            "scrape_duration_seconds": time.perf_counter() - began,
            "scrape_samples_scraped": float(len(samples)),
        }
        samples += [(_relabel(SeriesKey(n), target), v) for n, v in synthetic.items()]
        batch = SampleBatch(str(target), started, samples, stale)
        self.store.add_batch(batch)
        if self.sink is not None:
            self.sink(batch)
        return batch

    async def scrape_all(self, targets: Sequence[Target] | None = None) -> list[SampleBatch]:
        """One scrape of every target (or of ``targets``) at once, e.g. to learn the exposed
        names before a run."""
        chosen = self.targets if targets is None else targets
        async with httpx.AsyncClient(timeout=self.timeout) as client:
            return list(await asyncio.gather(*(self.scrape(client, t) for t in chosen)))

    def refused(self, target: Target) -> bool:
        """Whether the last scrape of ``target`` found nothing listening (connection refused
        or unreachable), as opposed to a slow or bad answer: the endpoint is gone."""
        return target in self._refused

    def down(self, answered_since: float | None = None) -> list[Target]:
        """Targets whose last scrape failed. With ``answered_since`` (this scraper's clock), a
        target that was only slow or wrong once counts as down only if it has not answered
        since then: on a loaded machine one late answer is not a dead endpoint; a refusal is."""
        return [
            t
            for t in self.targets
            if self._up.get(t) is False
            and (
                answered_since is None
                or t in self._refused
                or self._answered_at.get(t, float("-inf")) < answered_since
            )
        ]

    async def _loop(self, client: httpx.AsyncClient, target: Target) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.scrape(client, target)
            next_at += self.interval
            # A scrape that overran its slot skips the missed beats instead of bunching up.
            while next_at < loop.time():
                next_at += self.interval
            await asyncio.sleep(next_at - loop.time())

    async def run(self) -> None:
        """Scrape all targets until cancelled."""
        async with httpx.AsyncClient(timeout=self.timeout) as client, asyncio.TaskGroup() as tg:
            for target in self.targets:
                tg.create_task(self._loop(client, target))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Scraper]:
        """Scrape in the background for the duration of the ``async with`` block."""
        task = asyncio.create_task(self.run())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
