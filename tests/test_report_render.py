"""The HTML report and the Markdown summary, from journals with real scraped metrics: what the
plots compute, what the tables say, the command that writes them, and that no journal the
writer can produce makes a renderer fail."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_support import WALL0, record_run

from chaos.errors import InvalidInput
from chaos.metrics.series import Series, SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.report.figures import bar_position
from chaos.report.files import (
    append_step_summary,
    parse_formats,
    requested_formats,
    write_reports,
)
from chaos.report.html import embedded_json, render_html
from chaos.report.journal import HEADER_KEYS, RESERVED_KEYS, Journal, JournalWriter, read_journal
from chaos.report.markdown import render_markdown
from chaos.report.summary import summarize
from chaos.report.timeseries import (
    MAX_POINTS,
    TTFA,
    Charts,
    Line,
    _counted,
    charts,
    howling_panel,
    load_store,
    make_grid,
)

GAMEDAY = [sys.executable, "-m", "chaos.cli"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Journal:
    import asyncio

    path = tmp_path_factory.mktemp("run") / "journal.jsonl"
    asyncio.run(record_run(path))
    return read_journal(path)


@pytest.fixture(scope="module")
def drawn(recorded: Journal) -> Charts:
    return charts(recorded, summarize(recorded))


def line(drawn: Charts, panel: str, label: str) -> Line:
    [found] = [ln for p in drawn.panels if p.key == panel for ln in p.lines if ln.label == label]
    return found


def at(found: Line, second: float) -> float:
    return found.values[found.times.index(second)]


def test_time_to_first_audio_rises_while_the_edge_is_slow(drawn: Charts) -> None:
    p95 = line(drawn, "ttfa", "p95")
    # Probes join with exp(mean 0.25 s) normally and exp(mean 1.8 s) during slow-edge, so
    # p95 is about 0.75 s outside it and about 5.4 s inside (bucket interpolation aside).
    assert at(p95, -2.0) < 1.5  # times are seconds from T0, 10 s after the journal opened
    assert 3.0 < at(p95, 12.0) < 9.0
    assert line(drawn, "ttfa", "p50").values[-1] < at(p95, 12.0)


def test_delay_behind_live_grows_while_the_edge_is_slow(drawn: Charts) -> None:
    p50 = line(drawn, "latency", "p50")
    assert 0.2 <= at(p50, -2.0) <= 0.3  # every sample 0.3 s: inside the (0.2, 0.3] bucket
    assert 0.75 <= at(p50, 15.0) <= 1.5


def test_stall_ratio_follows_the_fault(drawn: Charts) -> None:
    ratio = line(drawn, "stalls", "stall ratio")
    assert at(ratio, 15.0) == pytest.approx(0.3 / 0.7, abs=1e-6)  # stalled / played seconds
    assert at(ratio, 35.0) == pytest.approx(0.01 / 0.99, abs=1e-6)


def test_join_failures_appear_only_with_the_flood(drawn: Charts) -> None:
    failed = line(drawn, "joins", "failed/s: timeout")
    outside = [v for t, v in zip(failed.times, failed.values, strict=True) if t < 15 or t > 31]
    inside = [v for t, v in zip(failed.times, failed.values, strict=True) if 16 <= t <= 25]
    assert all(v == 0 or math.isnan(v) for v in outside)
    assert any(v > 0 for v in inside)  # NaN where the series had one sample in the window


def test_listeners_and_howling_come_from_the_scraped_gauges(
    recorded: Journal, drawn: Charts
) -> None:
    store, skipped = load_store(recorded.events)
    assert skipped == 0
    last = max(store.latest("gameday_listeners_connected", None, WALL0 + 100).values())
    assert line(drawn, "listeners", "connected (probes)").values[-1] == last
    howling = line(drawn, "howling", "probes hearing a howl now")
    assert at(howling, 10.0) == 0 and at(howling, 17.0) == 3  # both faults at once, T+15-20 s
    heard = line(drawn, "howling", "probes: howling listener-seconds/s")
    assert at(heard, 10.0) == 0 and at(heard, 19.0) == pytest.approx(3.0, rel=0.25)


def test_launch_distribution_counts_every_join_after_the_baseline(
    recorded: Journal, drawn: Charts
) -> None:
    store, _ = load_store(recorded.events)
    joins = store.latest(TTFA + "_count", None, WALL0 + 100)
    before = store.latest(TTFA + "_count", None, WALL0 + 10 - 1e-9)
    distribution = drawn.distribution
    assert distribution is not None and distribution.window_label == "from T0 to the end"
    assert distribution.total == sum(joins.values()) - sum(before.values())
    assert math.isinf(distribution.bounds[-1])
    p50, p95 = distribution.quantiles[0.5], distribution.quantiles[0.95]
    assert p50 is not None and p95 is not None and p50 < p95


def test_howling_is_no_data_when_nothing_listened_for_it() -> None:
    store = SeriesStore()
    times = [WALL0 + t for t in range(12)]
    for t in times[:10]:
        store.append(SeriesKey.of("gameday_listener_howl_monitored_total"), t, 0.0)
        store.append(SeriesKey.of("gameday_listeners_howling"), t, 0.0)
    panel = howling_panel(store, make_grid({"h": times[:10]}, WALL0))
    assert not panel.has_data and "ears:" in panel.no_data
    store.append(SeriesKey.of("gameday_listener_howl_monitored_total"), times[10], 4.0)
    store.append(SeriesKey.of("gameday_listeners_howling"), times[10], 0.0)
    panel = howling_panel(store, make_grid({"h": times[:11]}, WALL0))
    assert panel.has_data, "four monitored listeners hearing no howl is a measured zero"


def test_howling_from_a_feedback_fault_and_the_stack_suppressing_it() -> None:
    store = SeriesStore()
    times = [WALL0 + t for t in range(12)]
    for i, t in enumerate(times):
        heard = SeriesKey.of("gameday_feedback_howl_seconds_total", {"fault": "loop"})
        store.append(heard, t, float(min(i, 6)))  # howls 1 s per second until suppressed at 6 s
        suppressed = SeriesKey.of("soundstage_origin_howl_suppressed_speakers")
        store.append(suppressed, t, 1.0 if i >= 6 else 0.0)
    panel = howling_panel(store, make_grid({"h": times}, WALL0))
    labels = [ln.label for ln in panel.lines]
    assert labels == ["feedback monitor: howling s/s", "speakers suppressed (origin)"]
    assert panel.lines[0].values[5] == pytest.approx(1.0)
    assert panel.lines[1].values[-1] == 1.0


def test_counter_growth_counts_resets_as_promql_does() -> None:
    series = Series(SeriesKey.of("x_total"), (1.0, 2.0, 3.0, 4.0), (5.0, 7.0, 2.0, 4.0))
    assert _counted(series, 3.0) == (5 - 3) + (7 - 5) + 2 + (4 - 2)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), max_size=3000))
def test_grid_is_regular_and_bounded(times: list[float]) -> None:
    times = sorted(times)
    grid = make_grid({"t": times}, origin=0.0)
    assert len(grid.times) <= MAX_POINTS
    if times:
        assert grid.times[0] == times[0] and grid.times[-1] <= times[-1] + 1e-6
        steps = {round(b - a, 6) for a, b in zip(grid.times, grid.times[1:], strict=False)}
        assert len(steps) <= 2  # one step (float rounding may split it)
        assert grid.window >= 5.0


def test_grid_cadence_is_per_target_not_across_targets() -> None:
    # Six targets scraped together every 2 s land a millisecond apart.
    scrapes = {f"t{i}": [100.0 + 2 * k + i / 1000 for k in range(30)] for i in range(6)}
    grid = make_grid(scrapes, origin=100.0)
    assert grid.times[1] - grid.times[0] == pytest.approx(2.0)
    assert grid.window == pytest.approx(8.0)


def test_markdown_summary_tells_the_verdict_slos_and_faults(recorded: Journal) -> None:
    text = render_markdown(recorded)
    assert text.startswith("## ❌ gameday: Launch storm over a degraded edge — **fail**")
    assert "T0 2026-11-18T11:06:50Z" in text and "(T-00:10.0 → T+00:41.0)" in text
    assert "### SLOs (1 of 4 passed)" in text
    # values in the unit the SLO was written in, thresholds as written, windows in T0 time
    assert re.search(
        r"\| launch-delay \| ❌ fail \| 4\.\d+ s \| below 2s \| T\+00:00\.0 → T\+00:25\.0 \|", text
    )
    assert re.search(r"\| join-success \| ❌ fail \| 9\d\.\d %\s\| above 99\.5% \|", text)
    fault = "| slow-edge | T+00:05.0 → T+00:20.0 | 2026-11-18T11:06:55Z | listener->edge |"
    assert fault + " latency 200ms ± 50ms, downstream |" in text
    assert "params=" not in text and "{'" not in text, "no dict reprs"
    assert "seed 42" in text and "stack soundstage" in text
    assert render_markdown(recorded) == text


def test_markdown_says_what_each_fault_cost(recorded: Journal) -> None:
    text = render_markdown(recorded)
    cost = text[text.index("### What each fault cost") : text.index("### Faults")]
    assert "**slow-edge** — latency 200ms ± 50ms, downstream on listener->edge" in cost
    # stalls: 0.3 / 0.7 of played seconds in the fault (the edges of the window average in a
    # little of the time around it) against 0.01 / 0.99 in the baseline
    row = next(ln for ln in cost.splitlines() if ln.startswith("| stalls |"))
    during, change = re.search(
        r"\| ❌ ([\d.]+) % \| 1\.01 % \(baseline\) \| \+([\d.]+) pp, worse", row
    ).groups()
    assert 35 < float(during) <= 42.9 and float(change) == pytest.approx(
        float(during) - 1.01, abs=0.1
    )
    launch = next(ln for ln in cost.splitlines() if ln.startswith("| launch-delay |"))
    assert "worse" in launch and "(×" in launch


def test_markdown_cells_cannot_break_the_table(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with JournalWriter(path, seed=1) as journal:
        journal.write("slo", name="a|b\nc", status="pass", value=1, detail="x | y", windows=3)
    text = render_markdown(read_journal(path))
    assert "| a\\|b c | ✅ pass | 1 | — | — | 3 windows |" in text.splitlines()
    assert "- **a\\|b c**: x \\| y" in text.splitlines()
    assert "No SLO" not in text and "No verdict was recorded" in text


def test_html_is_self_contained_and_regenerates_identically(recorded: Journal) -> None:
    html = render_html(recorded)
    assert html == render_html(recorded), "the same journal must give the same report"
    assert not re.search(r"""(src|href)=["']?https?:|url\(\s*["']?https?:|<script[^>]+src""", html)
    assert not re.search(r"fetch\(|XMLHttpRequest|import\(", html), "the script loads nothing"
    assert html.count("<script") == 2, "the figures' data and our own script, both inline"
    assert html.count("data-fault-windows='[0, 1]'") >= 7
    assert "launch-delay" in html and "scale</dt><dd>400" in html
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))
    assert data["t0"] == WALL0 + 10 and data["t0Known"] is True
    slo = next(f for f in data["figures"] if f["key"] == "slo-launch-delay")
    assert slo["unit"] == "s" and slo["thresholds"][0]["y"] == 2.0
    assert slo["shades"][0]["kind"] == "slo-window" and slo["shades"][0]["start"] == 0.0


def test_a_script_in_a_name_cannot_end_the_data_element() -> None:
    text = embedded_json({"name": "</script><script>alert(1)</script>"})
    assert "</script" not in text and json.loads(text)["name"].startswith("</script>")


def test_report_command_writes_html_and_markdown(recorded: Journal, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [*GAMEDAY, "report", str(recorded.path), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, "exit as the journal's verdict says: the run failed"
    assert json.loads(done.stdout)["verdict"] == "fail", "--json output stays clean JSON"
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "summary.md"]
    assert (out / "summary.md").read_text() == render_markdown(recorded)
    assert f"wrote {out / 'report.html'}" in done.stderr


def test_report_command_writes_only_the_formats_asked(recorded: Journal, tmp_path: Path) -> None:
    out = tmp_path / "md-only"
    done = subprocess.run(
        [*GAMEDAY, "report", str(recorded.path), "--out", str(out), "--format", "md"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1, done.stderr
    assert [p.name for p in out.iterdir()] == ["summary.md"]


def test_unknown_format_is_invalid_input_before_anything_is_written(
    recorded: Journal, tmp_path: Path
) -> None:
    out = tmp_path / "never"
    done = subprocess.run(
        [*GAMEDAY, "report", str(recorded.path), "--out", str(out), "--format", "html,pdf"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "--format" in done.stderr and "pdf" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    with pytest.raises(InvalidInput):
        parse_formats(" , ")
    with pytest.raises(InvalidInput, match="no --out"):
        requested_formats("md", None)
    assert requested_formats(None, tmp_path) == ["html", "md"]
    assert parse_formats("md, HTML,md") == ["md", "html"]


def test_step_summary_is_appended_when_github_asks(recorded: Journal, tmp_path: Path) -> None:
    target = tmp_path / "step_summary.md"
    target.write_text("earlier step\n")
    assert append_step_summary(recorded, {}) is None
    assert append_step_summary(recorded, {"GITHUB_STEP_SUMMARY": str(target)}) == target
    text = target.read_text()
    assert text.startswith("earlier step\n") and "Launch storm over a degraded edge" in text


def test_an_unwritable_out_dir_is_invalid_input(recorded: Journal, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInput) as caught:
        write_reports(recorded, blocker / "sub", ["md"])
    assert caught.value.where == str(blocker / "sub")


# -- property: no journal the writer can produce makes a renderer fail -----------------------

_NAMES = [
    "gameday_listeners_connected",
    "gameday_listener_joins_ok_total",
    "gameday_listener_join_failures_total",
    "gameday_listener_stall_seconds_total",
    "gameday_listener_played_seconds_total",
    "gameday_listener_concealed_seconds_total",
    TTFA + "_bucket",
    "soundstage_api_room_listeners",
    "gameday_listener_howl_monitored_total",
    "gameday_listeners_howling",
]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_fields = st.dictionaries(
    st.text(max_size=8).filter(lambda k: k not in RESERVED_KEYS), _json, max_size=4
)
_sample = st.tuples(
    st.sampled_from(_NAMES),
    st.dictionaries(
        st.sampled_from(["le", "reason", "instance"]),
        st.sampled_from(["0.5", "1.0", "+Inf", "timeout", "a"]),
        max_size=2,
    ),
    st.floats(0, 1e4) | st.sampled_from(["NaN", "+Inf"]),
)
_event = st.one_of(
    st.tuples(st.sampled_from(["phase"]), st.fixed_dictionaries({"phase": st.text(max_size=6)})),
    st.tuples(
        st.sampled_from(["fault.start", "fault.end"]),
        st.fixed_dictionaries({"name": st.sampled_from(["a", "b", "c|d"])}),
    ),
    st.tuples(st.sampled_from(["slo", "verdict", "metrics", "other"]), _fields),
    st.tuples(
        st.just("metrics"),
        st.fixed_dictionaries(
            {
                "target": st.just("t"),
                "t": st.floats(WALL0 - 5, WALL0 + 120),
                "samples": st.lists(_sample.map(list), max_size=6),
            }
        ),
    ),
    st.tuples(
        st.just("slo"),
        st.fixed_dictionaries(
            {
                "name": st.text(max_size=6),
                "status": st.sampled_from(["pass", "fail", "no-data"]),
                "value": st.none() | st.floats(),
                "threshold": st.floats(),
                "window": st.lists(st.floats(), min_size=2, max_size=2),
                "series": st.lists(st.text(max_size=6), max_size=5),
            }
        ),
    ),
)
journals = st.tuples(
    _fields.map(lambda meta: {k: v for k, v in meta.items() if k not in HEADER_KEYS}),
    st.lists(st.tuples(_event, st.floats(0, 5)), max_size=25),
    st.booleans(),
)


def _write(path: Path, spec: tuple[dict[str, Any], list[Any], bool]) -> Journal:
    meta, events, close = spec
    now = [0.0]
    ticks = count()
    clock: Callable[[], float] = lambda: now[0] + next(ticks) * 1e-6  # noqa: E731
    writer = JournalWriter(
        path, seed=3, meta=meta, wall_clock=lambda: WALL0 + clock(), monotonic_clock=clock
    )
    for (kind, fields), gap in events:
        now[0] += gap
        writer.write(kind, **fields)
    if close:
        writer.close()
    return read_journal(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journals)
def test_markdown_renders_any_journal_the_writer_can_produce(
    tmp_path_factory: pytest.TempPathFactory, spec: tuple[dict[str, Any], list[Any], bool]
) -> None:
    path = tmp_path_factory.mktemp("md") / "journal.jsonl"
    text = render_markdown(_write(path, spec))
    assert text.startswith("## ")


@pytest.mark.timeout(300)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journals)
def test_html_renders_any_journal_the_writer_can_produce(
    tmp_path_factory: pytest.TempPathFactory, spec: tuple[dict[str, Any], list[Any], bool]
) -> None:
    path = tmp_path_factory.mktemp("html") / "journal.jsonl"
    html = render_html(_write(path, spec))
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")


@given(st.floats(0, 100), st.floats(0, 100))
def test_quantile_markers_sit_on_their_bucket_bar_in_order(a: float, b: float) -> None:
    bounds = (0.05, 0.1, 0.5, 1.0, 5.0, 10.0, math.inf)
    low, high = sorted((a, b))
    assert bar_position(bounds, low) <= bar_position(bounds, high)
    bucket = next(i for i, bound in enumerate(bounds) if low <= bound)
    assert bucket - 0.5 <= bar_position(bounds, low) <= bucket + 0.5
