"""Every failure reason a probe records carries its detail to the journal, summary.md and
junit.xml, whichever load engine ran the listeners: a reason is a metric label (`protocol`),
the detail says what the listener met (a stream that announces no bitrate and is no format the
ears know, and what to set). The same run has an SLO whose selector matches none of its
metric's series, which the run must say, not pass."""

from __future__ import annotations

import json
import os
from pathlib import Path
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st
from runner_support import gameday

from chaos.report.failures import FAILURES_KIND, failure_rows, failure_rows_of, failures_record
from chaos.report.journal import Journal, read_journal
from chaos.report.markdown import render_markdown
from chaos.runner.junit import junit_xml
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.objective import Comparison, Threshold
from chaos.slo.window import Interval
from chaos.workload.locust.exposition import examples_by_cohort
from chaos.workload.probe import Dropped, Failed
from chaos.workload.stats import EXAMPLES_PER_REASON, ListenerStats


def test_each_reason_keeps_its_first_distinct_details() -> None:
    stats = ListenerStats()
    for n in range(10):
        stats.record_event(Failed(float(n), "protocol", f"bad stream {n % 5}"))
    stats.record_event(Failed(1.0, "protocol", "bad stream 0"))
    stats.record_event(Failed(1.0, "connect_refused", ""))
    stats.record_event(Dropped(2.0, "reset", "connection reset by peer"))
    assert stats.examples["join_failures:protocol"] == [
        "bad stream 0",
        "bad stream 1",
        "bad stream 2",
    ]
    assert stats.examples["join_failures:connect_refused"] == []
    other = ListenerStats()
    other.record_event(Failed(3.0, "protocol", "from another worker"))
    other.record_event(Dropped(3.0, "reset", "from another worker"))
    merged = other.merged(stats)
    assert merged.failures["protocol"] == 12
    assert len(merged.examples["join_failures:protocol"]) == EXAMPLES_PER_REASON
    assert merged.examples["join_failures:protocol"][0] == "from another worker"
    assert merged.examples["drops:reset"] == ["from another worker", "connection reset by peer"]


def test_the_record_reads_back_as_rows_by_count() -> None:
    stats = ListenerStats()
    stats.record_event(Failed(0.0, "http_503", "answered HTTP 503 with Retry-After 2s"))
    for _ in range(3):
        stats.record_event(Failed(0.0, "protocol", "no MPEG frame sync"))
    record = {"kind": FAILURES_KIND, **failures_record(stats)}
    rows = failure_rows(Journal(Path("j"), [json.loads(json.dumps(record))]))
    assert [(r.reason, r.count, r.examples) for r in rows] == [
        ("protocol", 3, ("no MPEG frame sync",)),
        ("http_503", 1, ("answered HTTP 503 with Retry-After 2s",)),
    ]


NOISE_STACK = """\
# A web server whose "mount" is noise with an audio content type and no bitrate header.
name: noise
components:
  web:
    command: [python, -m, http.server, "{port:http}", --bind, "{host}", --directory, "DIR"]
    ports: {http: {protocol: tcp}}
    health: {port: http, path: /noise.bin}
links:
  listener->web: {to: web.http, protocol: tcp}
audience:
  listeners: {link: listener->web, path: /noise.bin, format: progressive}
"""

EXPERIMENT = """\
title: noise mount
stack: ./noise.yaml
baseline: 8s
recovery: 5s
workload:
  listeners:
    - {arrival: storm, count: 5, at: 0s, spread: 1s}
slos:
  - {name: joins, ratio: joins_ok/joins, above: 99%}
  - {name: lost-frames, increase: 'gameday_listener_frames_total{kind="lost"}', below: 1}
"""
UNMATCHED = (
    'gameday_listener_frames_total{kind="lost"} matched none of the 3 series of '
    'gameday_listener_frames_total (kind: "duplicate", "late", "out_of_order")'
)


ENGINES = {"native": (), "locust": ("--load-engine", "locust", "--locust-workers", "1")}


@pytest.mark.slow
@pytest.mark.timeout(240)
@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_run_journals_and_summarises_why_listeners_failed(tmp_path: Path, engine: str) -> None:
    """Whichever engine ran the listeners: a Locust worker's failure details come from its
    ``/failures`` beside its metrics, merged into the run's as the swarm's workers' are."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "noise.bin").write_bytes(os.urandom(256 * 1024))
    (tmp_path / "noise.yaml").write_text(NOISE_STACK.replace("DIR", str(media)))
    (tmp_path / "noise-mount.yaml").write_text(EXPERIMENT)
    out = tmp_path / "run"
    done = gameday(
        "run", tmp_path / "noise-mount.yaml", "--out", out, *ENGINES[engine], timeout=220
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "listeners join failed, protocol ×" in done.stdout, output
    journal = read_journal(out / "journal.jsonl")
    (protocol,) = [row for row in failure_rows(journal) if row.reason == "protocol"]
    assert protocol.kind == "join_failures" and protocol.count >= 5
    assert any("no bitrate (no icy-br header)" in e for e in protocol.examples), protocol
    assert any("audience.listeners.bitrate" in e for e in protocol.examples)
    summary = (out / "summary.md").read_text()
    assert summary == render_markdown(journal)
    assert "### Why listeners failed" in summary
    assert "no icy-br header" in summary.split("### Why listeners failed")[1]
    case = ElementTree.parse(out / "junit.xml").find(".//testcase[@name='joins']")
    assert case is not None and case.find("failure") is not None
    assert "no icy-br header" in (case.findtext("system-out") or ""), ElementTree.tostring(case)
    # a selector matching none of its metric's series: said at the first scrape, and again
    # by the SLO's no-data result, never a pass
    assert f"no series matches yet: lost-frames: {UNMATCHED}" in done.stdout, output
    (lost,) = [e for e in journal.of_kind("slo") if e["name"] == "lost-frames"]
    assert lost["status"] == "no-data" and UNMATCHED in lost["detail"], lost


def _result(name: str, status: Status) -> SloResult:
    evidence = Evidence(Interval(1000.0, 1060.0), 12, ("x",))
    return SloResult(name, status, 0.5, Threshold(Comparison.ABOVE, 0.99), evidence, "measured")


def test_junit_tells_why_listeners_failed_beside_each_slo_that_did_not_pass() -> None:
    stats = ListenerStats()
    for _ in range(4):
        stats.record_event(Failed(0.0, "protocol", "no MPEG frame sync in the first 64 KiB"))
    stats.record_event(Dropped(1.0, "reset", "connection reset by peer"))
    results = [_result("ok", Status.PASS), _result("joins", Status.FAIL)]
    document = junit_xml(
        "t", results, 1000.0, duration=1.0, listener_failures=failure_rows_of(stats)
    )
    cases = {c.get("name"): c for c in ElementTree.fromstring(document).iter("testcase")}
    assert cases["ok"].find("system-out") is None
    out = cases["joins"].findtext("system-out") or ""
    assert out.splitlines() == [
        "why listeners failed:",
        "  join failed, protocol ×4",
        "    no MPEG frame sync in the first 64 KiB",
        "  dropped, reset ×1",
        "    connection reset by peer",
    ]
    assert [child.tag for child in cases["joins"]] == ["failure", "system-out"]


_details = st.lists(st.text(max_size=20), max_size=3)


@given(
    st.dictionaries(
        st.sampled_from(["", "control", "experiment"]),
        st.dictionaries(st.text(max_size=12), _details, max_size=3),
    )
)
def test_a_locust_workers_failure_details_read_back_as_they_were_kept(
    examples: dict[str, dict[str, list[str]]],
) -> None:
    assert examples_by_cohort(json.loads(json.dumps(examples))) == examples


def test_what_is_not_a_failure_detail_is_left_out() -> None:
    document = {"": {"join_failures:protocol": ["kept", 3, None], "drops:x": "no list"}, "c": 1}
    assert examples_by_cohort(document) == {"": {"join_failures:protocol": ["kept"]}}
    assert examples_by_cohort(["not", "a", "mapping"]) == {}
