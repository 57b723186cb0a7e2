"""The scale model behind `gameday plan`: pure planning properties and the command's output."""

from __future__ import annotations

import json
import math
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from runner_support import gameday

from chaos.workload.capacity import LAB_FIGURES, Assumptions, Figures, plan
from chaos.workload.limits import RESERVED_FDS

rates = st.floats(1, 1e6, allow_nan=False)
figures = st.builds(
    Figures,
    native_listeners_per_core=rates,
    locust_listeners_per_core=rates,
    joins_per_core_second=rates,
    measured=st.just("now"),
    where=st.just("here"),
)
assumptions = st.builds(
    Assumptions,
    bitrate=st.floats(1, 1e7),
    fd_limit=st.integers(RESERVED_FDS + 1, 10**6),
    ports_per_source=st.integers(1, 65535),
    cores_per_machine=st.integers(1, 256),
    headroom=st.floats(0.1, 1.0),
)
engines = st.sampled_from(["native", "locust"])


@given(st.integers(1, 10**9), figures, assumptions, engines)
def test_a_plan_holds_everyone_within_every_limit_with_no_idle_worker(
    listeners: int, f: Figures, a: Assumptions, engine: str
) -> None:
    p = plan(listeners, f, a, engine)
    cap = max(1, min(math.floor(f.per_core(engine) * a.headroom), a.fd_limit - RESERVED_FDS))
    assert p.workers * p.connections_per_worker >= listeners
    assert p.connections_per_worker <= cap  # within the measured rate and the fd limit
    assert (p.workers - 1) * cap < listeners  # one worker fewer would not do
    assert p.machines * a.cores_per_machine >= p.workers > (p.machines - 1) * a.cores_per_machine
    assert p.source_addresses * a.ports_per_source >= listeners
    assert (p.source_addresses - 1) * a.ports_per_source < listeners
    assert p.bandwidth_bps == listeners * a.bitrate * a.overhead


@given(st.integers(1, 10**8), st.integers(1, 10**8), figures, assumptions, engines)
def test_more_listeners_never_need_fewer_workers(
    a_few: int, more: int, f: Figures, a: Assumptions, engine: str
) -> None:
    small, large = sorted((a_few, more))
    assert plan(small, f, a, engine).workers <= plan(large, f, a, engine).workers


def test_eight_million_listeners_are_planned_from_the_lab_figures(tmp_path: Path) -> None:
    done = gameday("plan", "--listeners", "8000000", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    expected = plan(8_000_000, LAB_FIGURES, Assumptions(), "locust")
    out = done.stdout
    assert f"workers (one per core)       {expected.workers:,}" in out
    assert f"connections per worker       {expected.connections_per_worker:,}" in out
    assert "source addresses             284" in out  # 8e6 / 28,232 ports per address
    assert "bandwidth                    537.60 Gb/s" in out  # 8e6 x 64 kb/s x 1.05
    assert "built-in lab figures" in out and LAB_FIGURES.measured in out
    assert "20,000 file descriptors per worker process" in out


def test_figures_measured_by_the_benchmark_are_read_from_reports(tmp_path: Path) -> None:
    Figures(5000, 1000, 3000, "2026-11-24 12:00 UTC", "test box").write(
        tmp_path / "reports" / "capacity.json"
    )
    done = gameday("plan", "--listeners", "100000", "--engine", "locust", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "workers (one per core)       143" in done.stdout  # 100,000 / (1,000 x 70%)
    assert "reports/capacity.json" in done.stdout and "test box" in done.stdout


def test_bad_input_to_plan_is_refused_naming_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "figures.json"
    bad.write_text(json.dumps({"native_listeners_per_core": 1}))
    for args, complaint in (
        (["--listeners", "0"], "give 1 or more listeners"),
        (["--listeners", "10", "--figures", str(bad)], "benchmarks/swarm.py"),
        (["--listeners", "10", "--bitrate", "fast"], "--bitrate"),
        (["--listeners", "10", "--engine", "k6"], "native or locust"),
    ):
        done = gameday("plan", *args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert complaint in done.stderr.replace("\n", " "), (args, done.stderr)
