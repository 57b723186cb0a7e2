"""Parity with a real Prometheus: the embedded evaluator must mean what PromQL means.

One Prometheus (the Debian binary, on loopback) and our own scraper watch the same
prometheus-client app for the same seconds. The app's counters and histogram are exact functions
of wall time, so any two scrapes of it — Prometheus' and ours, at different instants — describe
the same rates, and a difference can only come from evaluation.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest
import pytest_asyncio
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from chaos.errors import InfrastructureError
from chaos.metrics.backend import PrometheusChoice, prometheus_backend
from chaos.metrics.prometheus_api import PrometheusAPI
from chaos.metrics.prometheus_server import free_port
from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.store import SeriesStore
from chaos.slo.evaluate import Status, evaluate_all
from chaos.slo.objective import (
    Comparison,
    Context,
    Counter,
    CounterFunction,
    Gauge,
    GaugeAggregation,
    Objective,
    PromQL,
    Quantile,
    Ratio,
    Selector,
    Threshold,
    promql_duration,
)
from chaos.slo.prometheus import evaluate_on_prometheus
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec

pytestmark = [
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs `prometheus` on PATH"),
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.slow,
]

BOUNDS = (0.05, 0.1, 0.25, 0.5, 1.0, math.inf)
CUMULATIVE = (0.2, 0.45, 0.7, 0.9, 0.97, 1.0)
OBSERVATIONS_PER_S = 300.0
REQUESTS_PER_S = 200.0
OK_PER_S = 196.0
RESET_EVERY_S = 7.0
WINDOW = 10.0
MOUNTS = ("/live.mp3", "/live-hq.ogg", "/backup.mp3", 'odd "quoted" \\ name')
EXACT = 1e-6
"""Same samples, same arithmetic: only float timestamps (Prometheus counts integer ms) differ."""


class TimeCollector(Collector):
    """Metrics whose values are exact functions of wall time (plus a counter that resets)."""

    def __init__(self) -> None:
        self.t0 = time.time()

    def collect(self) -> Iterator[CounterMetricFamily | HistogramMetricFamily | GaugeMetricFamily]:
        age = time.time() - self.t0
        requests = CounterMetricFamily("parity_requests", "requests")
        requests.add_metric([], math.floor(REQUESTS_PER_S * age))
        ok = CounterMetricFamily("parity_ok", "successful requests")
        ok.add_metric([], math.floor(OK_PER_S * age))
        resets = CounterMetricFamily("parity_restarting", "a counter whose process restarts")
        resets.add_metric([], math.floor(100 * (age % RESET_EVERY_S)))
        level = GaugeMetricFamily("parity_level", "a sawtooth gauge")
        level.add_metric([], age % 5.0)
        by_mount = CounterMetricFamily(
            "parity_mount_requests", "requests per mount", labels=["mount"]
        )
        up = GaugeMetricFamily("parity_source_up", "a mount's source on air", labels=["mount"])
        for number, mount in enumerate(MOUNTS, 1):
            # 100/s and more: a count's floor is 1 in 1,000 of a 10 s increase, not 1 in 100
            # (at 10/s two scrapes' floors and a loaded machine's scrape jitter made 1.07 %)
            by_mount.add_metric([mount], math.floor(100 * number * age))
            up.add_metric([mount], float(number % 2))
        total = math.floor(OBSERVATIONS_PER_S * age)
        latency = HistogramMetricFamily("parity_latency_seconds", "latency")
        latency.add_metric(
            [],
            [
                (str(b) if b != math.inf else "+Inf", math.floor(f * total))
                for b, f in zip(BOUNDS, CUMULATIVE, strict=True)
            ],
            sum_value=0.2 * total,
        )
        return iter([requests, ok, resets, level, latency, by_mount, up])


@dataclass
class World:
    api: PrometheusAPI
    scraped: SeriesStore
    window: Interval


async def collected(api: PrometheusAPI, scraped: SeriesStore, scrapes: int) -> bool:
    """Both Prometheus and our scraper hold ``scrapes`` samples of the last ``scrapes`` s."""
    now = time.time()
    theirs = await api.query(f"count_over_time(parity_requests_total[{scrapes}s])", now)
    ours = scraped.range("parity_requests_total", {}, now - scrapes, now)
    return bool(theirs and ours) and min(theirs[0].values[0], len(ours[0])) >= scrapes


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world() -> AsyncIterator[World]:
    registry = CollectorRegistry()
    registry.register(TimeCollector())
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    target = Target.http("parity", f"http://127.0.0.1:{port}/metrics")
    scraped = SeriesStore()
    try:
        local = PrometheusChoice(local=True)
        async with prometheus_backend(local, [target], scrape_interval=1.0) as api:
            scraper = Scraper([target], scraped, interval=1.0)
            async with scraper.running():
                deadline = time.monotonic() + 40
                while not await collected(api, scraped, 12):
                    assert time.monotonic() < deadline, "Prometheus never collected 12 scrapes"
                    await asyncio.sleep(0.5)
                end = round(time.time() - 0.5, 3)
            yield World(api, scraped, Interval(end - WINDOW, end))
    finally:
        server.shutdown()
        thread.join(5)


def close(a: float | None, b: float | None, rel: float) -> bool:
    assert a is not None and b is not None, (a, b)
    return math.isclose(a, b, rel_tol=rel)


LAT = Selector.of("parity_latency_seconds")
INDICATORS = {
    **{f"p{int(q * 100)}": Quantile(LAT, q) for q in (0.5, 0.9, 0.95, 0.99)},
    "rate": Counter(Selector.of("parity_requests_total"), CounterFunction.RATE),
    "ratio": Ratio(Selector.of("parity_ok_total"), Selector.of("parity_requests_total")),
}
RESET = Counter(Selector.of("parity_restarting_total"))
LEVEL = Gauge(Selector.of("parity_level"), GaugeAggregation.MAX)


async def promql_value(world: World, indicator: object) -> float | None:
    assert isinstance(indicator, Quantile | Counter | Ratio | Gauge)
    expr = indicator.promql(promql_duration(world.window.duration))
    return await world.api.value(expr, world.window.end)


@pytest.mark.parametrize("name", sorted(INDICATORS))
async def test_same_samples_evaluate_exactly_as_promql(world: World, name: str) -> None:
    """Over the samples Prometheus stored, the embedded evaluator reproduces PromQL exactly."""
    indicator = INDICATORS[name]
    stored = await world.api.load_store(
        indicator.metric_names(), world.window.start, world.window.end
    )
    ours = indicator.measure(Context(stored.range), world.window).value
    assert close(ours, await promql_value(world, indicator), EXACT)


@pytest.mark.parametrize("indicator", [RESET, LEVEL], ids=["counter-reset", "gauge-max"])
async def test_resets_and_gauges_evaluate_exactly_as_promql(
    world: World, indicator: object
) -> None:
    assert isinstance(indicator, Counter | Gauge)
    stored = await world.api.load_store(
        indicator.metric_names(), world.window.start, world.window.end
    )
    ours = indicator.measure(Context(stored.range), world.window).value
    assert close(ours, await promql_value(world, indicator), EXACT)


@pytest.mark.parametrize("name", sorted(INDICATORS))
async def test_our_scrapes_agree_with_promql_within_1_percent(world: World, name: str) -> None:
    """Our scraper's own samples (taken at other instants) give the same answer as PromQL."""
    indicator = INDICATORS[name]
    ours = indicator.measure(Context(world.scraped.range), world.window)
    assert ours.samples >= WINDOW  # a 10 s window at 1 s scrapes
    assert close(ours.value, await promql_value(world, indicator), 0.01)


SELECTORS = [
    'parity_mount_requests_total{mount="/live.mp3"}',
    'parity_mount_requests_total{mount!="/live.mp3"}',
    'parity_mount_requests_total{mount=~"/live.*"}',
    'parity_mount_requests_total{mount!~"/live.*|/backup.mp3"}',
    'parity_mount_requests_total{mount=`odd "quoted" \\ name`}',
    'parity_mount_requests_total{mount=~".*[.]ogg", job="parity"}',
    'parity_mount_requests_total{absent=""}',
]


@pytest.mark.parametrize("text", SELECTORS)
async def test_label_selectors_select_what_prometheus_selects(world: World, text: str) -> None:
    """Each matcher selects the same series from our scrape as from Prometheus, and an increase
    over them is PromQL's exactly on Prometheus' samples and within 1% on ours."""
    counter = Counter(Selector.parse(text))
    w = world.window
    theirs = await world.api.series([counter.counter.promql()], w.start, w.end)
    assert theirs, f"Prometheus selected nothing for {text}"
    assert sorted(theirs) == world.scraped.keys(counter.counter.name, counter.counter.matchers)
    expected = await promql_value(world, counter)
    stored = await world.api.load_store(counter.metric_names(), w.start, w.end)
    assert close(counter.measure(Context(stored.range), w).value, expected, EXACT)
    assert close(counter.measure(Context(world.scraped.range), w).value, expected, 0.01)


@pytest.mark.parametrize("op", ["=", "!=", "=~", "!~"])
async def test_gauges_and_ratios_by_selector_match_promql(world: World, op: str) -> None:
    value = "/live.mp3" if op in ("=", "!=") else "/live.*"
    up = Gauge(Selector.parse(f'parity_source_up{{mount{op}"{value}"}}'), GaugeAggregation.MIN)
    ratio = Ratio(
        Selector.parse(f'parity_mount_requests_total{{mount{op}"{value}"}}'),
        Selector.parse("parity_mount_requests_total"),
    )
    for indicator in (up, ratio):
        stored = await world.api.load_store(
            indicator.metric_names(), world.window.start, world.window.end
        )
        expected = await promql_value(world, indicator)
        assert close(indicator.measure(Context(stored.range), world.window).value, expected, EXACT)
        ours = indicator.measure(Context(world.scraped.range), world.window).value
        assert close(ours, expected, 0.01)


async def test_known_values_are_measured(world: World) -> None:
    ctx = Context(world.scraped.range)
    ratio = INDICATORS["ratio"].measure(ctx, world.window).value
    assert close(ratio, OK_PER_S / REQUESTS_PER_S, 0.01)
    # p50: rank 0.5 falls in (0.1, 0.25] where the cumulative share goes 0.45 → 0.7
    assert close(INDICATORS["p50"].measure(ctx, world.window).value, 0.1 + 0.15 * 0.05 / 0.25, 0.01)


async def test_scraper_labels_series_as_prometheus_does(world: World) -> None:
    theirs = await world.api.series(["parity_requests_total"], world.window.start, world.window.end)
    assert theirs == world.scraped.keys("parity_requests_total")
    up = world.scraped.latest("up", {"job": "parity"}, time.time())
    assert list(up.values()) == [1.0]


async def test_evaluation_on_prometheus_matches_embedded_and_raw_promql(world: World) -> None:
    timeline = Timeline(world.window, {"storm": world.window})
    ratio = INDICATORS["ratio"]
    slos = [
        Objective(
            "p95",
            INDICATORS["p95"],
            Threshold(Comparison.BELOW, 1.0),  # p95 = 0.5 + 0.5 · 0.05/0.07 ≈ 0.857
            WindowSpec(Anchor.DURING, "storm"),
        ),
        Objective("ok", ratio, Threshold(Comparison.ABOVE, 0.99)),
        Objective(
            "ok-promql",
            PromQL(ratio.promql("$window")),
            Threshold(Comparison.ABOVE, 0.99),
            WindowSpec(sliding=5.0, step=2.5),
        ),
    ]
    on_prometheus = await evaluate_on_prometheus(slos, timeline, world.api)
    embedded = evaluate_all(slos[:2], timeline, Context(world.scraped.range))
    assert [r.status for r in on_prometheus] == [Status.PASS, Status.FAIL, Status.FAIL]
    for a, b in zip(on_prometheus, embedded, strict=False):
        assert close(a.value, b.value, 0.01)
    assert close(on_prometheus[2].value, OK_PER_S / REQUESTS_PER_S, 0.01)
    assert on_prometheus[2].evidence.windows == 3


async def test_query_range_returns_a_point_per_step(world: World) -> None:
    w = world.window
    found = await world.api.query_range("parity_level", w.start, w.end, 2.0)
    assert len(found) == 1 and len(found[0]) == 6


async def test_unreachable_prometheus_names_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with PrometheusAPI(url, timeout=1.0) as api:
        with pytest.raises(InfrastructureError, match=url) as caught:
            await api.query("up", time.time())
    assert "PROMETHEUS_URL" in (caught.value.fix or "")
