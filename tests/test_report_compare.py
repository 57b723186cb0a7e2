"""`gameday report A --against B`: both runs on the same T0 axes, each SLO's and each fault's
delta (A − B), in HTML and summary.md; the SLO changes are the replay diff's."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from report_support import record_run
from typer.testing import CliRunner

from chaos.cli import app
from chaos.replay.diff import verdict_diff
from chaos.replay.recorded import recorded_run
from chaos.report.compare import Comparison, compare
from chaos.report.html import render_html
from chaos.report.journal import Journal, read_journal
from chaos.report.markdown import render_markdown
from chaos.report.model import build_report

THEN, NOW = "20261124T150000Z-then", "20261201T150000Z-now"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Journal, Journal]:
    """Last week's run, where a slow edge made listeners wait 1.8 s on average, and today's,
    after a fix, where they wait 0.5 s."""
    where = tmp_path_factory.mktemp("runs")
    then, now = where / "then" / "journal.jsonl", where / "now" / "journal.jsonl"
    then.parent.mkdir()
    now.parent.mkdir()
    asyncio.run(record_run(then, slow_ttfa=1.8, run_id=THEN))
    asyncio.run(record_run(now, slow_ttfa=0.5, run_id=NOW))
    return read_journal(now), read_journal(then)


def embedded(page: str) -> dict[str, Any]:
    [blob] = re.findall(r'<script type="application/json" id="report-data">(.*?)</script>', page)
    data: dict[str, Any] = json.loads(blob)
    return data


@pytest.fixture(scope="module")
def compared(runs: tuple[Journal, Journal]) -> Comparison:
    now, then = runs
    return compare(now, build_report(now), then, build_report(then))


def test_slo_deltas_are_the_replay_diff_with_values(
    runs: tuple[Journal, Journal], compared: Comparison
) -> None:
    now, then = runs
    diff = verdict_diff(recorded_run(then, replayable=False), recorded_run(now, replayable=False))
    assert [(d.name, d.change) for d in compared.slos] == [(r.name, r.change.value) for r in diff]
    [delay] = [d for d in compared.slos if d.name == "launch-delay"]
    assert delay.direction == "better", delay
    assert delay.delta.startswith(("-", "−")), delay
    assert (compared.run_id, compared.run_id_against) == (NOW, THEN)
    assert compared.same_faults, compared.fault_decisions


def test_each_fault_costs_less_after_the_fix(compared: Comparison) -> None:
    [slow] = [d for d in compared.faults if (d.fault, d.slo) == ("slow-edge", "launch-delay")]
    assert slow.direction == "better" and slow.during_run != slow.during_against, slow
    assert {d.fault for d in compared.faults} == {"slow-edge", "flood"}


def test_summary_md_compares_the_runs(runs: tuple[Journal, Journal]) -> None:
    now, then = runs
    text = render_markdown(now, then)
    assert f"### Compared with run `{THEN}`" in text
    assert "#### What each fault cost, then and now" in text
    assert re.search(r"\| launch-delay \| [^|]+ \| [^|]+ \| [-−][^|]*better \|", text), text
    assert render_markdown(now) == render_markdown(now, None)
    assert "Compared with run" not in render_markdown(now)


def test_html_draws_both_runs_on_shared_axes(runs: tuple[Journal, Journal]) -> None:
    now, then = runs
    page = render_html(now, then)
    assert 'id="compare"' in page and 'class="compare-faults"' in page
    data, alone = embedded(page), embedded(render_html(now))
    [figure] = [f for f in data["figures"] if f["key"] == "slo-launch-delay"]
    runs_drawn = [line.get("run", "A") for line in figure["lines"]]
    assert runs_drawn == ["A", "B"], figure["lines"]
    assert NOW in figure["lines"][0]["label"] and THEN in figure["lines"][1]["label"]
    assert data["range"][0] <= alone["range"][0] and data["range"][1] >= alone["range"][1]


def test_report_command_against(runs: tuple[Journal, Journal], tmp_path: Path) -> None:
    now, then = runs
    done = CliRunner().invoke(
        app,
        ["report", str(now.path), "--against", str(then.path), "--out", str(tmp_path)],
        env={"COLUMNS": "200"},
    )
    verdict = build_report(now).verdict
    assert done.exit_code == (0 if verdict == "pass" else 1), done.output
    assert f"compared with run {THEN}" in done.stdout
    assert "launch-delay" in done.stdout and "better" in done.stdout
    assert "Compared with run" in (tmp_path / "summary.md").read_text()
    assert 'id="compare"' in (tmp_path / "report.html").read_text()
