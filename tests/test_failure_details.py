"""Every failure reason a probe records carries its detail to the journal and summary.md: a
reason is a metric label (`protocol`), the detail says what the listener met (a stream that
announces no bitrate and is no format the ears know, and what to set)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from runner_support import gameday

from chaos.report.failures import FAILURES_KIND, failure_rows, failures_record
from chaos.report.journal import Journal, read_journal
from chaos.report.markdown import render_markdown
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
"""


@pytest.mark.slow
def test_a_run_journals_and_summarises_why_listeners_failed(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    (media / "noise.bin").write_bytes(os.urandom(256 * 1024))
    (tmp_path / "noise.yaml").write_text(NOISE_STACK.replace("DIR", str(media)))
    (tmp_path / "noise-mount.yaml").write_text(EXPERIMENT)
    out = tmp_path / "run"
    done = gameday("run", tmp_path / "noise-mount.yaml", "--out", out, timeout=180)
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
