"""The report's server side: a panel per component of the stack, from whatever its /metrics had
(CPU, then its own gauges summed and counters as rates; runtime internals and histogram parts
left out), listed after the listeners' panels; the harness's own series are never a component."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from report_support import record_run

from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.report.journal import read_journal
from chaos.report.summary import summarize
from chaos.report.timeseries import (
    COMPONENT_LINES,
    Grid,
    charts,
    component_panels,
    make_grid,
    panels,
)

ORIGIN = 1_795_000_000.0


def store_of(seconds: int = 30) -> SeriesStore:
    store = SeriesStore()
    for i in range(seconds + 1):
        t = ORIGIN + i
        for job, listeners in (("edge-1", 10.0), ("edge-2", 30.0)):
            labels = {"job": job, "instance": f"127.0.0.1:{9100 + len(job)}"}
            store.append(SeriesKey.of("process_cpu_seconds_total", labels), t, 0.25 * i)
            store.append(SeriesKey.of("soundstage_edge_listeners", labels), t, listeners)
            store.append(SeriesKey.of("soundstage_edge_frames_dropped_total", labels), t, 2.0 * i)
            store.append(SeriesKey.of("python_gc_objects_collected_total", labels), t, 9.0 * i)
            store.append(SeriesKey.of("soundstage_edge_bytes_sent_total", labels), t, 8000.0 * i)
            bucket = {**labels, "le": "0.1"}
            store.append(SeriesKey.of("soundstage_edge_frame_delay_seconds_bucket", bucket), t, i)
        harness = {"job": "gameday", "instance": "harness"}
        store.append(SeriesKey.of("gameday_listeners_connected", harness), t, 40.0)
    return store


def grid_of(seconds: int = 30) -> Grid:
    return make_grid({"edge-1": [ORIGIN + i for i in range(seconds + 1)]}, ORIGIN)


def test_a_panel_per_component_with_cpu_gauges_and_counter_rates() -> None:
    found = {p.key: p for p in component_panels(store_of(), grid_of())}
    assert set(found) == {  # not the harness; bytes on their own axis
        "component-edge-1",
        "component-edge-1-bytes",
        "component-edge-2",
        "component-edge-2-bytes",
    }
    [sent] = found["component-edge-1-bytes"].lines
    assert sent.label == "soundstage_edge_bytes_sent_total /s"
    assert all(abs(v - 8000.0) < 1e-6 for v in sent.values[10:] if v == v)
    edge = found["component-edge-1"]
    assert edge.group == "servers" and edge.has_data
    lines = {line.label: line for line in edge.lines}
    assert list(lines) == [
        "CPU (cores)",
        "soundstage_edge_frames_dropped_total /s",
        "soundstage_edge_listeners",
    ]
    settled = [v for v in lines["CPU (cores)"].values[10:] if v == v]
    assert settled and all(abs(v - 0.25) < 1e-9 for v in settled)
    assert all(v == 10.0 for v in lines["soundstage_edge_listeners"].values)
    rates = [v for v in lines["soundstage_edge_frames_dropped_total /s"].values[10:] if v == v]
    assert rates and all(abs(v - 2.0) < 1e-9 for v in rates)
    other = {line.label: line for line in found["component-edge-2"].lines}
    assert all(v == 30.0 for v in other["soundstage_edge_listeners"].values)


def test_component_panels_come_after_the_listeners() -> None:
    groups = [p.group for p in panels(store_of(), grid_of())]
    assert groups == sorted(groups, key=lambda g: g == "servers") and "servers" in groups


@given(st.integers(min_value=1, max_value=30))
def test_a_busy_metrics_page_stays_readable(families: int) -> None:
    store = store_of(5)
    labels = {"job": "api", "instance": "127.0.0.1:9000"}
    for n in range(families):
        store.append(SeriesKey.of(f"api_gauge_{n:02d}", labels), ORIGIN, float(n))
    [api] = [p for p in component_panels(store, grid_of(5)) if p.key == "component-api"]
    assert len(api.lines) == min(families, COMPONENT_LINES)


def test_throughput_per_link_keeps_flood_junk_apart(tmp_path: Path) -> None:
    """The listeners' link as they received it, and a flood's junk bytes as its own line over
    its window (the bytes `fault.end` says it moved), never added to the audio."""
    path = tmp_path / "journal.jsonl"
    asyncio.run(record_run(path))
    events = [json.loads(line) for line in path.read_text().splitlines()]
    for event in events:
        if event.get("kind") == "fault.end" and event.get("name") == "flood":
            event["bytes_sent"] = 4_000_000
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    journal = read_journal(path)
    summary = summarize(journal)
    [flood] = [f for f in summary.faults if f.name == "flood"]
    assert flood.end is not None
    [panel] = [p for p in charts(journal, summary).panels if p.key == "throughput"]
    lines = {line.label: line for line in panel.lines}
    assert "listeners received (audio)" in lines
    [junk] = [line for label, line in lines.items() if label.startswith("flood flood")]
    expected = 4_000_000 / (flood.end - flood.start)
    inside = [
        v for t, v in zip(junk.times, junk.values, strict=True) if flood.start <= t < flood.end
    ]
    outside = [v for t, v in zip(junk.times, junk.values, strict=True) if t >= flood.end]
    assert inside and all(abs(v - expected) < 1e-6 for v in inside)
    assert outside and all(math.isnan(v) for v in outside)


def _with_fault_proxy(path: Path, ours: list[str], theirs: str) -> None:
    """Add to a recorded run what a scraped fault proxy says: every proxy's bytes written,
    live, 4000 B/s downstream and 1000 B/s upstream on each of ours, 9e6 B/s on another run's
    proxy of the same shared server; and the journal's list of the run's proxies."""
    events = [json.loads(line) for line in path.read_text().splitlines()]
    scrapes = [e for e in events if e.get("kind") == "metrics"]
    t0 = scrapes[0]["t"]
    added = [{"kind": "proxies", "names": {f"key{n}": name for n, name in enumerate(ours)}}]
    for scrape in scrapes:
        t = scrape["t"]
        samples = []
        for proxy, rates in [*((p, (4000, 1000)) for p in ours), (theirs, (9e6, 0))]:
            for direction, rate in zip(("downstream", "upstream"), rates, strict=True):
                labels = {"direction": direction, "proxy": proxy, "job": "fault-proxy"}
                samples.append(["gameday_proxy_sent_bytes_total", labels, rate * (t - t0)])
        added.append({"kind": "metrics", "target": "fault-proxy/127.0.0.1:8474", "t": t,
                      "samples": samples})  # fmt: skip
    path.write_text("".join(json.dumps(e) + "\n" for e in [*events[:3], *added, *events[3:]]))


def test_throughput_through_each_of_the_runs_proxies_from_the_fault_proxys_metrics(
    tmp_path: Path,
) -> None:
    """A line per proxy of this run (both directions, its run tag dropped), none for another
    run's proxy on the shared server, and the fault proxy is not drawn as a component."""
    path = tmp_path / "journal.jsonl"
    asyncio.run(record_run(path))
    ours = ["listener->edge#1@r1", "listener->edge#1~control@r1"]
    _with_fault_proxy(path, ours, "listener->edge#1@someone-else")
    journal = read_journal(path)
    drawn = charts(journal, summarize(journal)).panels
    [panel] = [p for p in drawn if p.key == "throughput"]
    through = {line.label: line for line in panel.lines if line.label.startswith("through ")}
    assert set(through) == {"through listener->edge#1", "through listener->edge#1~control"}
    for line in through.values():
        settled = [v for v in line.values[5:] if v == v]
        assert settled and all(abs(v - 5000.0) < 1e-6 for v in settled)
    assert not [p for p in drawn if p.key.startswith("component-fault-proxy")]


def test_a_join_success_plot_never_shows_above_100_percent() -> None:
    """Joins reach audio seconds after their attempts: over a trailing window after the
    attempts stop, more joins reach audio than were attempted in it (5 of 3 at 12 s). The
    plot caps the share at 100 %; a ratio that is no share (stalled / played) is not capped."""
    text = """
title: joins
stack: soundstage
workload: {listeners: [{arrival: storm, count: 10}]}
slos:
  - {name: join-success, above: 99%, window: 5s,
     ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total}
  - {name: stalls, below: 50%, window: 5s,
     ratio: gameday_listener_stall_seconds_total/gameday_listener_played_seconds_total}
"""
    from chaos.experiment.loader import parse_experiment
    from chaos.report.slo_series import slo_series
    from chaos.slo.objective import Context

    experiment = parse_experiment(text, Path("joins.yaml")).experiment
    store = SeriesStore()
    harness = {"job": "gameday", "instance": "harness"}
    for i in range(21):
        t = ORIGIN + i
        for name, value in (
            ("gameday_listener_join_attempts_total", min(i, 10)),
            ("gameday_listener_joins_ok_total", min(max(i - 3, 0), 10)),
            ("gameday_listener_stall_seconds_total", 2.0 * i),
            ("gameday_listener_played_seconds_total", 1.0 * i),
        ):
            store.append(SeriesKey.of(name, harness), t, float(value))
    grid = grid_of(20)
    joins, stalls = slo_series(experiment, [], grid, Context(store.range))
    shares = [v for v in joins.values if v == v]
    assert shares and max(shares) == 1.0
    assert min(v for v in stalls.values if v == v) > 1.5  # 2 s stalled per second played
