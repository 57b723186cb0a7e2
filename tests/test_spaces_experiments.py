"""Experiments on spaces, end to end with `gameday run`: the launch experiment of the library
passes (its SLOs on ears, on the stack's own exporters and on the speakers' RTCP all have data
from the start), and its verdict is what it says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spaces_support import require_binaries

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def _run(experiment: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", str(experiment), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
        env={**os.environ, "COLUMNS": "200"},
        timeout=280,
    )


def test_the_spaces_launch_experiment_passes(tmp_path: Path) -> None:
    require_binaries()
    done = _run(ROOT / "experiments" / "spaces-launch.yaml", tmp_path / "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for slo in (
        "broadcast-up",
        "edges-up",
        "on-air",
        "launch-delay",
        "join-success",
        "no-feedback",
    ):
        assert f"pass     {slo}" in done.stdout
    assert "pass     host-loss-seen" in done.stdout  # the lossy uplink showed in RTCP
