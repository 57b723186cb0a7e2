"""Validation is linear in the file and its printed issues are bounded: counted, not timed
(benchmarks/validate_cost.py measures the seconds)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from chaos.experiment import checks
from chaos.experiment.errors import MAX_SHOWN, ExperimentError
from chaos.experiment.loader import parse_experiment
from chaos.experiment.validate import validate_files
from chaos.experiment.yamldoc import MAX_BYTES

HEAD = (
    "title: many outages\nstack: soundstage\nworkload: {speakers: 1, listeners: "
    "[{arrival: storm, count: 10}]}\n"
    "slos:\n  - {name: quiet, max: gameday_listeners_connected, below: 1}\nfaults:\n"
)


def outages(count: int, link: str = "listener->edge", gap: int = 2) -> str:
    return HEAD + "".join(
        f"  - {{name: f{i}, at: {gap * i}s, for: 1s, link: {link}, down: true}}\n"
        for i in range(count)
    )


@pytest.mark.parametrize("count", [200, 400, 800])
def test_the_overlap_check_reads_each_fault_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    """It compared every pair (150,000 faults: minutes); now one sweep per resource."""
    seen = 0
    span = checks._span_ns

    def counted(fault: checks.Fault) -> tuple[int, int]:
        nonlocal seen
        seen += 1
        return span(fault)

    monkeypatch.setattr(checks, "_span_ns", counted)
    parse_experiment(outages(count), tmp_path / "many.yaml")
    assert seen == count


def test_overlaps_are_still_each_reported_at_the_later_fault(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError) as caught:
        parse_experiment(outages(30, gap=0), tmp_path / "stacked.yaml")
    paths = [issue.path for issue in caught.value.issues]
    assert paths == [f"faults[{i}].at" for i in range(1, 30)]


def test_a_file_of_thousands_of_bad_faults_prints_the_first_50_and_a_count(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(outages(2_000, link="listener->edgee"))
    assert path.stat().st_size < MAX_BYTES
    err = io.StringIO()
    assert validate_files([path], Console(file=io.StringIO()), Console(file=err, width=300)) == 2
    lines = err.getvalue().splitlines()
    assert len(lines) == MAX_SHOWN + 2  # the issues, the count, the files line
    assert lines[MAX_SHOWN] == f"{path}: ... and {2_000 - MAX_SHOWN} more issues"
    assert all("no link 'listener->edgee'" in line for line in lines[:MAX_SHOWN])
