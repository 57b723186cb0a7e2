"""PromQL label selectors in SLOs, guards and ratios: parsed as PromQL parses them, matched as
Prometheus matches them, refused with the place, the field and the fix.

Parity with a real Prometheus is in test_slo_prometheus_parity.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from chaos.experiment.errors import ExperimentError
from chaos.experiment.loader import load_experiment
from chaos.metrics.prometheus_server import free_port
from chaos.metrics.scraper import Scraper, Target
from chaos.metrics.selectors import (
    Matcher,
    ParsedSelector,
    SelectorError,
    parse_ratio,
    parse_selector,
)
from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.runner.guards import indicator
from chaos.runner.metrics import unmatched_at_start
from chaos.slo.adapt import objectives_from_experiment
from chaos.slo.evaluate import SloResult, Status, evaluate
from chaos.slo.objective import (
    Comparison,
    Context,
    Gauge,
    GaugeAggregation,
    Objective,
    Selector,
    Threshold,
)
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec

names = st.from_regex(r"\A[a-zA-Z_:][a-zA-Z0-9_:]{0,12}\Z")
labels = st.from_regex(r"\A[a-zA-Z_][a-zA-Z0-9_]{0,8}\Z")
values = st.text(max_size=12)
regexes = st.sampled_from(["", ".*", "/live.*", "a|b", "[a-z]+", "x{2,3}", r"\d+", "(mp3|ogg)"])
matchers = st.one_of(
    st.builds(Matcher, labels, st.sampled_from(["=", "!="]), values),
    st.builds(Matcher, labels, st.sampled_from(["=~", "!~"]), regexes),
)
selectors = st.builds(ParsedSelector, names, st.lists(matchers, max_size=4).map(tuple))
label_sets = st.dictionaries(st.sampled_from(["a", "mount", "job"]), values, max_size=3)


def spaced(selector: ParsedSelector, gap: str, quote: str) -> str:
    """The selector as a person might type it: spaces around the parts, other quotes."""

    def value(text: str) -> str:
        if quote == "`" and "`" not in text:
            return f"`{text}`"
        if quote == "'":
            escaped = text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n")
            return f"'{escaped}'"
        return str(Matcher("x", "=", text))[2:]

    inner = f",{gap}".join(f"{m.label}{gap}{m.op}{gap}{value(m.value)}" for m in selector.matchers)
    return f"{gap}{selector.name}{gap}{{{gap}{inner}{gap}}}{gap}"


@given(selectors)
def test_a_written_selector_reads_back_as_itself(selector: ParsedSelector) -> None:
    assert parse_selector(str(selector)) == selector


@given(selectors, st.sampled_from(["", " ", "  \t"]), st.sampled_from(['"', "'", "`"]))
def test_spacing_and_quoting_do_not_change_the_selector(
    selector: ParsedSelector, gap: str, quote: str
) -> None:
    assert parse_selector(spaced(selector, gap, quote)) == selector


@given(st.text(max_size=40))
def test_any_text_is_a_selector_or_a_located_refusal(text: str) -> None:
    try:
        parse_selector(text)
    except SelectorError as exc:
        assert 0 <= exc.offset <= len(text)
        assert exc.message


@given(selectors, selectors)
def test_a_ratio_divides_where_no_quoted_value_does(
    top: ParsedSelector, bottom: ParsedSelector
) -> None:
    assert parse_ratio(f"{top} / {bottom}") == (top, bottom)


@given(labels, values, label_sets)
def test_negated_matchers_select_the_complement(
    label: str, value: str, own: dict[str, str]
) -> None:
    equal = Matcher(label, "=", value).matches(own)
    assert Matcher(label, "!=", value).matches(own) is not equal
    assert Matcher(label, "=~", re.escape(value)).matches(own) is equal
    assert Matcher(label, "!~", re.escape(value)).matches(own) is not equal


def test_matching_follows_prometheus() -> None:
    live = {"mount": "/live.mp3", "job": "icecast"}
    assert Matcher("mount", "=~", "/live.*").matches(live)
    assert not Matcher("mount", "=~", "live").matches(live), "a regex matches the whole value"
    assert Matcher("absent", "=", "").matches(live), "a missing label is the empty string"
    assert Matcher("absent", "!=", "x").matches(live)
    assert not Matcher("absent", "=~", ".+").matches(live)


@pytest.mark.parametrize(
    ("text", "offset", "fragment"),
    [
        ("up{mount=/live}", 9, "a label value is quoted"),
        ('up{mount="/live}', 9, "unterminated"),
        ('up{mount=="/live"}', 9, "a label value is quoted"),
        ('up{mount~"/live"}', 8, "expected one of =, !=, =~, !~"),
        ('up{mount="/live" job="a"}', 17, "expected ',' or '}'"),
        ('up{mount=~"(?=x)"}', 10, "RE2"),
        ('up{mount=~"(x"}', 10, "not a regular expression"),
        ('up{mount="a\\.b"}', 11, "unknown escape"),
        ('up{mount="/live"', 16, "unclosed '{'"),
        ('{mount="/live"}', 0, "starts with its metric name"),
        ("rate(up[5m])", 4, "raw PromQL"),
        ('up{1x="a"}', 3, "a label name"),
    ],
)
def test_refusals_point_at_the_character(text: str, offset: int, fragment: str) -> None:
    with pytest.raises(SelectorError) as caught:
        parse_selector(text)
    assert fragment in caught.value.message
    assert caught.value.offset == offset


def test_the_store_selects_as_the_matchers_say() -> None:
    store = SeriesStore()
    for mount, value in (("/live", 1.0), ("/backup", 0.0), ("/live-hq", 1.0)):
        store.append(SeriesKey.of("icecast_source_up", {"mount": mount}), 10.0, value)
    store.append(SeriesKey.of("icecast_source_up"), 10.0, 0.0)

    def mounts(text: str) -> list[str | None]:
        selector = Selector.parse(text)
        return [k.label("mount") for k in store.keys(selector.name, selector.matchers)]

    assert mounts('icecast_source_up{mount="/live"}') == ["/live"]
    assert mounts('icecast_source_up{mount!="/live"}') == [None, "/backup", "/live-hq"]
    assert mounts('icecast_source_up{mount=~"/live.*"}') == ["/live", "/live-hq"]
    assert mounts('icecast_source_up{mount!~"/live.*", mount!=""}') == ["/backup"]
    up = Gauge(Selector.parse('icecast_source_up{mount="/backup"}'), GaugeAggregation.MAX)
    assert up.measure(Context(store.range), Interval(0, 20)).value == 0.0
    assert up.promql("10s") == 'max(max_over_time(icecast_source_up{mount="/backup"}[10s]))'


EXPERIMENT = """\
title: selectors
stack: icecast
workload:
  listeners:
    - {arrival: storm, count: 4, at: 0s, spread: 2s}
slos:
  - name: source-on-air
    min: icecast_source_up{mount="/live.mp3"}
    above: 0
  - name: edge-heard
    increase: heard_seconds{edge=~"icecast.*"}
    above: 0
  - name: joins-ok
    ratio: 'joins_ok{job!="canary"} / joins{job!~"canary|test"}'
    above: 99%
abort:
  - name: mount-down
    ratio: 'http_errors_total{path="/live/a.mp3"}/http_requests_total{path="/live/a.mp3"}'
    above: 50%
    for: 5s
"""


def test_slos_and_guards_read_selectors_in_full(tmp_path: Path) -> None:
    path = tmp_path / "selectors.yaml"
    path.write_text(EXPERIMENT)
    experiment = load_experiment(path).experiment
    objectives = objectives_from_experiment(experiment)
    promql = [o.indicator.promql("1m") for o in objectives if isinstance(o, Objective)]
    assert promql == [
        'min(min_over_time(icecast_source_up{mount="/live.mp3"}[1m]))',
        'sum(increase(gameday_listener_heard_seconds_total{edge=~"icecast.*"}[1m]))',
        'sum(increase(gameday_listener_joins_ok_total{job!="canary"}[1m]))'
        ' / sum(increase(gameday_listener_join_attempts_total{job!~"canary|test"}[1m]))',
    ]
    guard = indicator(experiment.abort[0])
    assert guard.promql("5s") == (
        'sum(increase(http_errors_total{path="/live/a.mp3"}[5s]))'
        ' / sum(increase(http_requests_total{path="/live/a.mp3"}[5s]))'
    )


@pytest.mark.parametrize(
    ("old", "new", "where", "fragments"),
    [
        (
            'icecast_source_up{mount="/live.mp3"}',
            "icecast_source_up{mount=/live.mp3}",
            ":8:10: slos[0].min:",
            ["a label value is quoted", "at character 25"],
        ),
        (
            'heard_seconds{edge=~"icecast.*"}',
            'heard_seconds{edgee=~"icecast.*"}',
            ":11:15: slos[1].increase:",
            ["no label 'edgee'", "did you mean 'edge'?"],
        ),
        (
            'path="/live/a.mp3"}/',
            'path=~"(?<=live)/a"}/',
            ":18:12: abort[0].ratio:",
            ["RE2", "at character 25"],
        ),
    ],
)
def test_bad_selectors_are_located_with_the_fix(
    tmp_path: Path, old: str, new: str, where: str, fragments: list[str]
) -> None:
    path = tmp_path / "selectors.yaml"
    assert old in EXPERIMENT
    path.write_text(EXPERIMENT.replace(old, new))
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    (issue,) = caught.value.issues
    assert where in str(issue), issue
    for fragment in fragments:
        assert fragment in issue.message


def test_an_unquoted_selector_in_a_flow_mapping_says_to_quote_it(tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        EXPERIMENT.replace(
            "slos:\n", 'slos:\n  - {name: up, max: icecast_source_up{mount="/live"}, above: 0}\n'
        )
    )
    with pytest.raises(ExperimentError) as caught:
        load_experiment(path)
    (issue,) = caught.value.issues
    assert "must be quoted" in issue.message and str(issue).endswith("above: 0}")


ICECAST_METRICS = (
    "# TYPE icecast_source_up gauge\n"
    'icecast_source_up{mount="/live"} 1\n'
    'icecast_source_up{mount="/backup"} 0\n'
)


async def _scraped(body: str, scrapes: int) -> tuple[SeriesStore, Interval]:
    """A real /metrics endpoint on loopback, scraped by the run's scraper ``scrapes`` times."""

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(text=body)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    store = SeriesStore()
    times = iter(range(1000, 1000 + scrapes))
    target = Target.http("icecast", f"http://127.0.0.1:{port}/metrics")
    scraper = Scraper([target], store, clock=lambda: float(next(times)))
    try:
        for _ in range(scrapes):
            await scraper.scrape_all()
    finally:
        await runner.cleanup()
    return store, Interval(1000.0, 1000.0 + scrapes - 1)


async def test_a_selector_matching_no_series_says_so_and_what_there_is() -> None:
    store, window = await _scraped(ICECAST_METRICS, 5)
    timeline = Timeline(window)
    above = Threshold(Comparison.ABOVE, 0.0)
    spec = WindowSpec(Anchor.RUN)

    def judged(text: str) -> SloResult:
        up = Gauge(Selector.parse(text), GaugeAggregation.MAX)
        return evaluate(Objective("up", up, above, spec), timeline, Context(store.range))

    nope = judged('icecast_source_up{mount="/nope"}')
    assert nope.status is Status.NO_DATA and not nope.passed
    assert (
        'icecast_source_up{mount="/nope"} matched none of the 2 series of icecast_source_up '
        '(mount: "/backup", "/live")'
    ) in nope.detail
    assert judged('icecast_source_up{mount="/live"}').status is Status.PASS
    # no note where the metric has no series at all, or where the selector matched
    assert judged('icecast_sources{mount="/nope"}').detail == "no data run"
    assert "matched none" not in judged('icecast_source_up{mount="/backup"}').detail


async def test_the_runs_first_scrape_names_slos_and_guards_whose_selector_matches_nothing(
    tmp_path: Path,
) -> None:
    store, _ = await _scraped(ICECAST_METRICS, 1)
    path = tmp_path / "nope.yaml"
    path.write_text(EXPERIMENT.replace('mount="/live.mp3"', 'mount="/nope"'))
    loaded = load_experiment(path)
    guards = [
        Objective(f"abort guard {g.label}", indicator(g), Threshold(Comparison.BELOW, 0.0))
        for g in loaded.experiment.abort
    ]
    notes = unmatched_at_start([*objectives_from_experiment(loaded.experiment), *guards], store)
    assert notes == [
        'source-on-air: icecast_source_up{mount="/nope"} matched none of the 2 series of '
        'icecast_source_up (mount: "/backup", "/live")'
    ]
