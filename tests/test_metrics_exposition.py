"""The exposition parser agrees sample-for-sample with prometheus_client's, and refuses garbage."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from chaos.metrics.exposition import ExpositionError, ExpositionParser, parse_exposition
from chaos.metrics.series import SeriesKey, labels_of


def reference(text: str) -> list[tuple[SeriesKey, str]]:
    """prometheus_client's reading, values as repr so NaN compares equal to NaN."""
    return sorted(
        (SeriesKey(s.name, labels_of(s.labels)), repr(float(s.value)))
        for family in text_string_to_metric_families(text)
        for s in family.samples
    )


def ours(text: str) -> list[tuple[SeriesKey, str]]:
    return sorted((k, repr(v)) for k, v in parse_exposition(text))


label_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
values = st.floats(allow_nan=True, allow_infinity=True)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(
    st.lists(st.tuples(label_values, label_values, values), max_size=8),
    st.lists(st.floats(0, 10), max_size=8),
)
def test_agrees_with_prometheus_client_on_what_it_exposes(
    gauges: list[tuple[str, str, float]], observations: list[float]
) -> None:
    registry = CollectorRegistry()
    gauge = Gauge("level", 'a gauge\\with "odd" help\n', ["a", "b"], registry=registry)
    for a, b, value in gauges:
        gauge.labels(a, b).set(value)
    histogram = Histogram("lat_seconds", "latency", ["edge"], registry=registry)
    counter = Counter("joins", "joins", registry=registry)
    for x in observations:
        histogram.labels("e1").observe(x)
        counter.inc(x)
    text = generate_latest(registry).decode()
    assert ours(text) == reference(text)


names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,10}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,6}", fullmatch=True)  # no reserved __
space = st.sampled_from(["", " ", "\t", "  "])


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@st.composite
def hand_written_lines(draw: st.DrawFn) -> str:
    """Lines as other exporters write them: spacing, trailing commas, timestamps, specials."""
    name = draw(names)
    labels = draw(st.dictionaries(label_names, label_values, max_size=3))
    sep = draw(space)
    inner = ",".join(f'{sep}{k}{sep}={sep}"{escape(v)}"' for k, v in labels.items())
    if inner and draw(st.booleans()):
        inner += ","
    value = draw(
        st.sampled_from(["NaN", "+Inf", "-Inf", "1e3", "-0.5", "42"])
        | values.filter(math.isfinite).map(repr)
    )
    stamp = draw(st.sampled_from(["", " 1700000000000", " -5"]))
    head = f"{name}{{{inner}{sep}}}" if labels or draw(st.booleans()) else name
    return f"{draw(space)}{head} {value}{stamp}{draw(space)}"


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.lists(hand_written_lines(), max_size=6))
def test_agrees_with_prometheus_client_on_hand_written_text(lines: list[str]) -> None:
    text = "# HELP x anything\n# TYPE x untyped\n\n" + "\n".join(lines) + "\n"
    assert ours(text) == reference(text)


def test_escapes_timestamps_and_exemplars() -> None:
    text = (
        'a{path="C:\\\\dir",quote="say \\"hi\\"",nl="1\\n2"} 3 1700000000000\n'
        'b_total{le="+Inf"} 7 # {trace_id="abc"} 1.0\n'
        "c NaN\n"
    )
    parsed = dict(parse_exposition(text))
    assert parsed[SeriesKey.of("a", {"path": "C:\\dir", "quote": 'say "hi"', "nl": "1\n2"})] == 3
    assert parsed[SeriesKey.of("b_total", {"le": "+Inf"})] == 7
    assert math.isnan(parsed[SeriesKey.of("c")])


@pytest.mark.parametrize(
    "body",
    [
        "x{ 1",
        "x_total abc",
        'x{a="1} 2',
        'x{a="1" b="2"} 3',
        'x{a="1",a="2"} 3',
        "x",
        "x 1 2 3",
        "x 1 soon",
        "x 1_000",
        "9x 1",
        "x-y 1",
    ],
)
def test_bad_exposition_is_an_exposition_error_naming_the_line(body: str) -> None:
    with pytest.raises(ExpositionError, match="line 2"):
        parse_exposition("ok 1\n" + body)


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(st.lists(st.lists(hand_written_lines(), max_size=5), min_size=2, max_size=4))
def test_a_parser_reused_across_scrapes_reads_each_like_a_fresh_one(
    scrapes: list[list[str]],
) -> None:
    parser = ExpositionParser()
    for lines in scrapes:
        text = "\n".join(lines)
        assert sorted(parser.parse(text), key=repr) == sorted(parse_exposition(text), key=repr)


def test_a_remembered_series_still_needs_a_valid_value() -> None:
    parser = ExpositionParser()
    parser.parse('x{a="1"} 1')
    with pytest.raises(ExpositionError, match="line 1"):
        parser.parse('x{a="1"}1')


@settings(deadline=None)  # a loaded CI machine must not turn slowness into failures
@given(names, st.dictionaries(label_names, label_values, max_size=4))
def test_selectors_we_write_read_back_as_the_same_series(name: str, labels: dict[str, str]) -> None:
    key = SeriesKey.of(name, labels)
    assert parse_exposition(f"{key} 1") == [(key, 1.0)]
