"""The unheard measure in real runs: a real Icecast whose source (ffmpeg) dies, and soundstage
whose listener link goes down. Either way the server drops every listener and refuses them
until it is back: nobody is "stalled", so the stall SLO misses the outage, while the unheard
ratio sees all of it and a recovery judged on it waits until listeners hear audio again."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from runner_support import gameday

from chaos.report.journal import read_journal

EXPERIMENT = """
title: {title}
seed: 3
stack: {stack}
baseline: 4s
recovery: 25s
workload:
{speakers}  listeners:
    - {{arrival: storm, count: 10, at: 0s, spread: 1s}}
  reconnect: {{policy: fixed, delay: 500ms}}
faults:
  - {{name: outage, at: 4s, for: 8s, {fault}}}
slos:
  - {{name: stalls, ratio: stall_ratio, below: 5%, during: outage}}
  - {{name: heard, ratio: unheard_ratio, below: 5%, during: outage}}
  - {{name: nobody-heard, max: listeners_unheard, below: 10, during: outage}}
  - {{name: back-by-stalls, recovers_within: 15s, after: outage, of: [stalls]}}
  - {{name: back-by-heard, recovers_within: 15s, after: outage, of: [heard]}}
"""


def _run(tmp_path: Path, stack: str, fault: str, speakers: str = "") -> dict[str, dict[str, Any]]:
    path = tmp_path / "outage.yaml"
    path.write_text(
        EXPERIMENT.format(title=f"{stack} outage", stack=stack, fault=fault, speakers=speakers)
    )
    done = gameday("run", path, "--out", tmp_path / "run", timeout=170)
    assert done.returncode == 1, done.stdout[-4000:] + done.stderr[-2000:]
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    return {str(e["name"]): e for e in journal.of_kind("slo")}


def _the_outage_was_heard(slos: dict[str, dict[str, Any]]) -> None:
    # the stall ratio sees nothing wrong: nobody was connected to stall
    assert slos["stalls"]["status"] in ("pass", "no-data"), slos["stalls"]
    # Icecast's 64 KB burst on connect leaves listeners up to 4 s of audio to play after the
    # source dies, so the unheard share of the 8 s outage is what the buffers could not cover.
    assert slos["heard"]["status"] == "fail" and slos["heard"]["value"] > 0.25, slos["heard"]
    assert slos["nobody-heard"]["value"] == 10, slos["nobody-heard"]  # all ten at once
    by_heard, by_stalls = slos["back-by-heard"], slos["back-by-stalls"]
    assert by_heard["value"] is not None, by_heard  # they did hear audio again
    # listeners back and hearing, over a whole look-back window, comes after the first
    # window with a played second and no stall in it
    assert by_stalls["value"] is None or by_heard["value"] > by_stalls["value"], (
        by_heard,
        by_stalls,
    )


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_an_icecast_whose_source_dies_is_unheard_though_nothing_stalled(tmp_path: Path) -> None:
    if shutil.which("icecast2") is None or shutil.which("ffmpeg") is None:
        pytest.skip("needs Debian packages icecast2 and ffmpeg (`make apt` as root)")
    _the_outage_was_heard(_run(tmp_path, "icecast", "kill: source"))


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_soundstage_listeners_cut_off_their_edges_are_unheard(tmp_path: Path) -> None:
    slos = _run(
        tmp_path, "soundstage", "link: listener->edge, down: true", speakers="  speakers: 1\n"
    )
    _the_outage_was_heard(slos)
