"""The scraper against real HTTP endpoints on loopback: labels, up, staleness, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web
from prometheus_client import CollectorRegistry, Counter

from chaos.metrics.batch import RECORD_KIND, SampleBatch
from chaos.metrics.prometheus_server import free_port
from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.report.journal import JournalWriter, read_journal
from chaos.slo.evaluate import evaluate
from chaos.slo.objective import Comparison, Context, Objective, Selector, Threshold
from chaos.slo.objective import Counter as Counter_
from chaos.slo.window import Interval, Timeline


class App:
    """A /metrics endpoint whose body, status and delay the test controls."""

    def __init__(self) -> None:
        self.body = (
            '# TYPE joins_total counter\njoins_total{edge="e1"} 1\njoins_total{edge="e2"} 2\n'
        )
        self.status = 200
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.delay)
        return web.Response(text=self.body, status=self.status)


@pytest_asyncio.fixture
async def served() -> AsyncIterator[tuple[App, Target]]:
    app = App()
    web_app = web.Application()
    web_app.router.add_get("/metrics", app.handle)
    runner = web.AppRunner(web_app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield app, Target.http("edge", f"http://127.0.0.1:{port}/metrics")
    finally:
        await runner.cleanup()


def key(name: str, target: Target, **labels: str) -> SeriesKey:
    return SeriesKey.of(name, {**labels, "job": target.job, "instance": target.instance})


async def scrape(scraper: Scraper, target: Target) -> SampleBatch:
    async with httpx.AsyncClient() as client:
        return await scraper.scrape(client, target)


async def test_samples_carry_job_and_instance_and_up(served: tuple[App, Target]) -> None:
    _, target = served
    store, seen = SeriesStore(), []
    scraper = Scraper([target], store, sink=seen.append, clock=lambda: 100.0)
    batch = await scrape(scraper, target)
    assert seen == [batch] and batch.timestamp == 100.0 and batch.target == str(target)
    assert store.latest("joins_total", {}, 100.0) == {
        key("joins_total", target, edge="e1"): 1.0,
        key("joins_total", target, edge="e2"): 2.0,
    }
    assert store.latest("up", {}, 100.0) == {key("up", target): 1.0}
    assert store.latest("scrape_samples_scraped", {}, 100.0) == {
        key("scrape_samples_scraped", target): 2.0
    }
    assert scraper.up(target) is True


async def test_clashing_labels_survive_as_exported(served: tuple[App, Target]) -> None:
    app, target = served
    app.body = 'x{job="inner"} 1\n'
    store = SeriesStore()
    await scrape(Scraper([target], store), target)
    assert store.keys("x") == [key("x", target, exported_job="inner")]


async def test_vanished_series_get_staleness_markers(served: tuple[App, Target]) -> None:
    app, target = served
    now = iter([1.0, 2.0])
    store = SeriesStore()
    scraper = Scraper([target], store, clock=lambda: next(now))
    await scrape(scraper, target)
    app.body = 'joins_total{edge="e1"} 3\n'
    batch = await scrape(scraper, target)
    assert batch.stale == [key("joins_total", target, edge="e2")]
    assert list(store.latest("joins_total", {}, 2.0)) == [key("joins_total", target, edge="e1")]


@pytest.mark.parametrize("failure", ["status", "garbage", "timeout"])
async def test_a_failed_scrape_is_down_and_makes_everything_stale(
    served: tuple[App, Target], failure: str
) -> None:
    app, target = served
    now = iter([1.0, 2.0])
    store = SeriesStore()
    scraper = Scraper([target], store, timeout=0.2, clock=lambda: next(now))
    await scrape(scraper, target)
    if failure == "status":
        app.status = 503
    elif failure == "garbage":
        app.body = "joins_total{ not exposition"
    else:
        app.delay = 1.0
    batch = await scrape(scraper, target)
    assert len(batch.stale) == 2
    assert store.latest("joins_total", {}, 2.0) == {}
    assert store.latest("up", {}, 2.0) == {key("up", target): 0.0}
    assert scraper.up(target) is False
    assert scraper.last_error(target)


async def test_unreachable_target_is_down() -> None:
    target = Target.http("gone", f"http://127.0.0.1:{free_port()}/metrics")
    store = SeriesStore()
    scraper = Scraper([target], store, timeout=1.0)
    await scrape(scraper, target)
    assert scraper.up(target) is False
    assert "Connect" in (scraper.last_error(target) or "")


async def test_the_harness_registry_is_scraped_in_process() -> None:
    registry = CollectorRegistry()
    Counter("gameday_faults", "faults", registry=registry).inc(4)
    own = Target("gameday", "harness", registry=registry)
    store = SeriesStore()
    await scrape(Scraper([own], store), own)
    assert list(store.latest("gameday_faults_total", {}, time.time()).values()) == [4.0]


async def test_running_scrapes_every_target_on_the_interval(served: tuple[App, Target]) -> None:
    _, target = served
    registry = CollectorRegistry()
    own = Target("gameday", "harness", registry=registry)
    store, seen = SeriesStore(), []
    scraper = Scraper([target, own], store, interval=0.1, sink=seen.append)

    def per_target() -> dict[str, list[float]]:
        return {str(t): [b.timestamp for b in seen if b.target == str(t)] for t in (target, own)}

    async with scraper.running():
        # Wall-clock counts are at the mercy of a loaded machine; what must hold is that every
        # target is scraped repeatedly and never faster than the interval. Scrapes start on a
        # fixed grid, skipping the beats a late one missed: a late start may come close to the
        # next on-grid one, but no third starts within one interval of the first.
        deadline = time.monotonic() + 30
        while min(len(stamps) for stamps in per_target().values()) < 4:
            assert time.monotonic() < deadline, per_target()
            await asyncio.sleep(0.05)
    for stamps in per_target().values():
        assert all(c - a >= 0.099 for a, c in zip(stamps, stamps[2:], strict=False)), stamps
    count = len(seen)
    await asyncio.sleep(0.2)
    assert len(seen) == count  # stopped


def test_targets_need_exactly_one_source() -> None:
    with pytest.raises(ValueError, match="either"):
        Target("x", "y")
    with pytest.raises(ValueError, match="positive"):
        Scraper([], SeriesStore(), interval=0)


async def test_scrape_all_learns_names_and_reports_down_targets(served: tuple[App, Target]) -> None:
    _, target = served
    gone = Target.http("gone", f"http://127.0.0.1:{free_port()}/metrics")
    store = SeriesStore()
    scraper = Scraper([target, gone], store, timeout=1.0)
    batches = await scraper.scrape_all()
    assert [b.target for b in batches] == [str(target), str(gone)]
    assert {"joins_total", "up"} <= store.names()
    assert scraper.down() == [gone]


async def test_a_run_re_evaluates_from_its_journal_alone(
    served: tuple[App, Target], tmp_path: Path
) -> None:
    app, target = served
    path = tmp_path / "journal.jsonl"
    live = SeriesStore()
    with JournalWriter(path) as journal:
        scraper = Scraper(
            [target],
            live,
            sink=lambda batch: journal.write(RECORD_KIND, **batch.to_record()),
            clock=iter(range(100, 110)).__next__,
        )
        for joins in range(1, 6):
            app.body = f'joins_total{{edge="e1"}} {joins * 10}\n'
            await scrape(scraper, target)
    replayed = SeriesStore.from_journal_samples(read_journal(path).events)
    slo = Objective("joins", Counter_(Selector.of("joins_total")), Threshold(Comparison.ABOVE, 1))
    timeline = Timeline(Interval(100, 104))
    results = [evaluate(slo, timeline, Context(s.range)).to_record() for s in (live, replayed)]
    assert results[0] == results[1]
    assert results[0]["value"] == 40.0 and results[0]["samples"] == 5


async def test_a_late_answer_after_an_answer_since_the_baseline_began_is_not_down(
    served: tuple[App, Target],
) -> None:
    """At T0 one slow scrape of an endpoint that answered during the baseline is a loaded
    machine, not a dead endpoint; an endpoint that refuses, or never answered since, is down."""
    app, target = served
    gone = Target.http("gone", f"http://127.0.0.1:{free_port()}/metrics")
    now = iter([10.0, 11.0, 12.0, 13.0])
    scraper = Scraper([target, gone], SeriesStore(), timeout=0.2, clock=lambda: next(now))
    await scrape(scraper, target)  # answered at 10
    app.delay = 1.0
    await scrape(scraper, target)  # late at 11
    await scrape(scraper, gone)  # refused at 12
    assert scraper.down() == [target, gone]
    assert scraper.down(answered_since=9.0) == [gone]
    assert scraper.down(answered_since=10.5) == [target, gone], "no answer since 10.5"


async def test_a_run_starts_past_a_late_first_answer_and_refuses_a_wrong_port(
    served: tuple[App, Target], tmp_path: Path
) -> None:
    from chaos.runner.metrics import BaselineUnhealthy, RunMetrics

    app, target = served
    app.delay = 5.0  # longer than the timeout: the first scrape is late
    assert target.url is not None

    async def answer_soon() -> None:
        await asyncio.sleep(0.5)
        app.delay = 0.0

    async with contextlib.AsyncExitStack() as resources:
        with JournalWriter(tmp_path / "journal.jsonl") as journal:
            metrics = RunMetrics(
                {"edge": target.url}, CollectorRegistry(), journal,
                interval=0.4, prometheus=None, resources=resources,
            )  # fmt: skip
            recovering = asyncio.create_task(answer_soon())
            await metrics.start([], [], tmp_path)
            await recovering
            assert metrics.scraper.down() == []
            gone = f"http://127.0.0.1:{free_port()}/metrics"
            refused = RunMetrics(
                {"edge": gone}, CollectorRegistry(), journal,
                interval=0.4, prometheus=None, resources=resources,
            )  # fmt: skip
            with pytest.raises(BaselineUnhealthy, match="not answering"):
                await refused.start([], [], tmp_path)
