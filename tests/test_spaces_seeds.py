"""Incident seeds replayed on spaces, the stack of real servers: the 2024 flooded launch (a
flood sharing the edges' data lines fails as launched, passes fixed; both state the on-air
delay) and the stress-test gap (a steady N ramped in over a healthy network passes; a storm
of N/8 over a degraded listener path fails), with the verdicts stated. Behind the `long`
marker (about a minute each, with the stack's start)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.spaces_support import ROOT, require_binaries
from tests.spaces_support import run_experiment as _run

GAP = ROOT / "seeds" / "spaces-stress-test-gap"
pytestmark = [pytest.mark.long, pytest.mark.timeout(200)]


def test_a_steady_n_passes_on_spaces(tmp_path: Path) -> None:
    require_binaries()
    done = _run(GAP / "steady.pass.yaml", tmp_path / "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


def test_a_storm_of_n_over_8_over_a_degraded_network_fails_on_spaces(tmp_path: Path) -> None:
    require_binaries()
    done = _run(GAP / "storm.fail.yaml", tmp_path / "run")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "fail     launch-delay" in done.stdout
    assert "fail     stalls" in done.stdout


FLOOD = ROOT / "seeds" / "spaces-flooded-launch-2024"


def test_the_2024_flooded_launch_fails_as_launched_on_spaces(tmp_path: Path) -> None:
    require_binaries()
    done = _run(FLOOD / "flood.fail.yaml", tmp_path / "run")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "fail     stalls-under-flood" in done.stdout
    assert "on-air" in done.stdout  # the on-air delay is stated


def test_the_2024_flooded_launch_passes_fixed_on_spaces(tmp_path: Path) -> None:
    require_binaries()
    done = _run(FLOOD / "flood.pass.yaml", tmp_path / "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "pass     on-air" in done.stdout
