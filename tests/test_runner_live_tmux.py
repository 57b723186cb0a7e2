"""The live view as a person at a terminal sees it: `gameday run` inside a real tmux pane on
soundstage, the pane captured as it goes.

It must count down to T0, show values with their units, never print a verdict (`fail`) for an
SLO whose window is still open (a join ratio is low while the storm's joins are in flight),
show the active fault with its time left, and, after Ctrl-C, leave a last frame in which
rollback has removed every fault. tmux runs on a socket of this test's own (``-L``), so no
other tmux server is touched.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(
    TMUX is None, reason="Debian package tmux is not installed (make apt installs it)"
)

EXPERIMENT = """
title: Live view under tmux
stack: soundstage
baseline: 6s
recovery: 4s
workload:
  speakers: 1
  listeners:
    - {arrival: storm, count: 30, at: 0s, spread: 2s}
faults:
  - {name: slow-edge, at: 3s, for: 8s, link: listener->edge, latency: 100ms}
slos:
  - name: launch-delay
    p95: gameday_listener_time_to_first_audio_seconds
    below: 3s
    during: storm
  - name: join-success
    ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total
    above: 99%
abort:
  - name: join-collapse
    ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total
    below: 5%
    for: 10s
"""


@contextmanager
def pane(tmp_path: Path, *args: str) -> Iterator[str]:
    """`gameday ARGS` in a 170x60 tmux pane on a private socket; yields the socket name."""
    assert TMUX is not None
    socket = f"gameday-test-{os.getpid()}-{tmp_path.name}"
    command = " ".join([sys.executable, "-m", "chaos.cli", *args])
    subprocess.run(
        [TMUX, "-L", socket, "new-session", "-d", "-x", "170", "-y", "60", "-s", "run",
         f"cd {Path(__file__).parent.parent} && {command}; echo EXIT=$?; sleep 600"],
        check=True,
    )  # fmt: skip
    try:
        yield socket
    finally:
        subprocess.run([TMUX, "-L", socket, "kill-server"], check=False)


def capture(socket: str) -> str:
    assert TMUX is not None
    done = subprocess.run(
        [TMUX, "-L", socket, "capture-pane", "-p", "-t", "run"], capture_output=True, text=True
    )
    return done.stdout


def frames_until(
    socket: str, done: re.Pattern[str], timeout: float, every: float = 0.4
) -> list[str]:
    frames: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames.append(capture(socket))
        if done.search(frames[-1]):
            return frames
        time.sleep(every)
    raise AssertionError("the run did not finish in time; last frame:\n" + frames[-1])


def _experiment(tmp_path: Path) -> Path:
    path = tmp_path / "live.yaml"
    path.write_text(EXPERIMENT)
    return path


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_live_view_counts_down_shows_units_and_no_verdict_before_its_window_closes(
    tmp_path: Path,
) -> None:
    path = _experiment(tmp_path)
    with pane(tmp_path, "run", str(path), "--out", str(tmp_path / "run")) as socket:
        frames = frames_until(socket, re.compile(r"EXIT=\d+"), timeout=200)
    running = [f for f in frames if "verdict:" not in f]
    assert any(re.search(r"\bT-00:0\d\b", f) for f in running), "no T-minus during the baseline"
    assert any("waiting for" in f or "T-00:" in f for f in running)
    assert any(re.search(r"\b\d+(\.\d+)? s\b", f) for f in running), "no value in seconds"
    assert any(re.search(r"\b\d+(\.\d+)? %", f) for f in running), "no value in percent"
    assert any("below 3s" in f and "above 99%" in f for f in running), "thresholds as written"
    assert any(re.search(r"slow-edge \(latency 100ms on listener->edge, \d+(\.\d)?s left\)", f)
               for f in running), "the active fault with its time left"  # fmt: skip
    assert any("next" in f and "end slow-edge" in f for f in running)
    assert any(re.search(r"join-collapse .*trips below 5% for 10s", f) for f in running)
    assert any("targets up" in f for f in running)
    for frame in running:
        assert not re.search(r"\bfail\b", frame), "a verdict before the window closed:\n" + frame
    assert any(re.search(r"join-success\s+(on track|at risk|pending)", f) for f in running)
    assert re.search(r"EXIT=[01]\b", frames[-1]), frames[-1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_after_ctrl_c_the_last_frame_shows_no_fault_as_active(tmp_path: Path) -> None:
    assert TMUX is not None
    path = _experiment(tmp_path)
    with pane(tmp_path, "run", str(path), "--out", str(tmp_path / "run")) as socket:
        frames_until(socket, re.compile(r"slow-edge \(latency 100ms"), timeout=150, every=0.2)
        subprocess.run([TMUX, "-L", socket, "send-keys", "-t", "run", "C-c"], check=True)
        frames = frames_until(socket, re.compile(r"EXIT=\d+"), timeout=60)
    last = frames[-1]
    assert "EXIT=130" in last, last
    start = last.rfind("Live view under tmux")  # the panel's last frame, left after the run
    panel = last[start : last.index("verdict:")] if "verdict:" in last else last[start:]
    assert "rolled back 1 active fault(s)" in panel, panel
    assert not re.search(r"slow-edge \(latency", panel), panel
    assert re.search(r"active faults\s+none", panel), panel
