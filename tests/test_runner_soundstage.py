"""End to end on soundstage: a shortened launch storm passes on a healthy stack and fails,
naming the SLO, when the edges' admission capacity is far below the audience.

The experiment is the demo's shape (storm at T0, a degraded edge link, the same SLO kinds)
cut to about 25 s so the suite stays fast; `make demo` runs the full one.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from runner_support import alive, descendants, gameday, popen_gameday

from chaos.experiment.loader import builtin_stacks
from chaos.report.journal import read_journal

SHORT_STORM = """
title: Short launch storm
seed: 42
stack: {stack}
baseline: 4s
recovery: 8s
workload:
  speakers: 1
  listeners:
    - {{arrival: storm, count: 40, at: 0s, spread: 1s}}
  reconnect: {{policy: fixed, delay: 500ms}}
faults:
  - {{name: slow-edge, at: 3s, for: 6s, link: listener->edge, direction: downstream,
     latency: 100ms, jitter: 20ms}}
slos:
  - {{name: edges-up, min: soundstage_api_edge_up, equals: 1, during: baseline}}
  - {{name: launch-delay, p95: gameday_listener_time_to_first_audio_seconds, below: 3s,
     during: storm}}
  - {{name: join-success, above: 99%,
     ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total}}
  - {{name: stalls, below: 25%, during: slow-edge,
     ratio: gameday_listener_stall_seconds_total/gameday_listener_played_seconds_total}}
  - {{name: on-air, on_air_within: 5s}}
"""


def _experiment(where: Path, stack: str = "soundstage") -> Path:
    path = where / "short-storm.yaml"
    path.write_text(SHORT_STORM.format(stack=stack))
    return path


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_the_launch_storm_passes_on_a_healthy_soundstage(tmp_path: Path) -> None:
    done = gameday("run", _experiment(tmp_path), "--out", tmp_path / "run", timeout=140)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: pass" in done.stdout
    journal = read_journal(tmp_path / "run" / "journal.jsonl")
    phases = [e["phase"] for e in journal.of_kind("phase")]
    assert phases == ["stack", "baseline", "method", "recovery", "rollback", "evaluation"]
    assert {e["name"]: e["status"] for e in journal.of_kind("slo")} == {
        "edges-up": "pass",
        "launch-delay": "pass",
        "join-success": "pass",
        "stalls": "pass",
        "on-air": "pass",
    }
    # The host was heard within seconds of T0: the first ear's first sound, journaled, less
    # how late the load generator began that listener (workers starting on a loaded machine).
    heard = [e["heard_at"] - e["late_seconds"] for e in journal.of_kind("ear.on_air")]
    t0 = next(e for e in journal.of_kind("phase") if e["phase"] == "baseline")["t0"]
    assert heard and 0 < min(heard) - t0 < 5
    start = next(journal.of_kind("fault.start"))
    assert {t["proxy"] for t in start["toxics"]} == {"listener->edge#1", "listener->edge#2"}


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_too_little_admission_capacity_fails_the_run_naming_the_slo(tmp_path: Path) -> None:
    spec = builtin_stacks()["soundstage"].read_text()
    tight = spec.replace(
        '--origin, "{link:origin->edge}"]', '--origin, "{link:origin->edge}", --capacity, "5"]'
    )
    assert tight != spec
    (tmp_path / "tight.yaml").write_text(tight)
    done = gameday(
        "run", _experiment(tmp_path, "./tight.yaml"), "--out", tmp_path / "run", timeout=140
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "verdict: fail" in done.stdout
    failed = [line for line in done.stdout.splitlines() if line.strip().startswith("fail")]
    assert any("join-success" in line for line in failed), done.stdout
    refusals = [
        e
        for e in read_journal(tmp_path / "run" / "journal.jsonl").of_kind("metrics")
        if any(
            "soundstage_edge_listener_refusals" in str(s) and "capacity" in str(s)
            for s in e.get("samples", [])
        )
    ]
    assert refusals  # the edges really turned listeners away


def _cmdline(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_sigkilled_run_leaves_no_soundstage_proxy_or_listener_process(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    harness = popen_gameday("run", _experiment(tmp_path), "--out", run_dir)
    journal = run_dir / "journal.jsonl"
    deadline = time.monotonic() + 90
    while not (journal.exists() and b'"fault.start"' in journal.read_bytes()):
        assert time.monotonic() < deadline and harness.poll() is None, "no fault was applied"
        time.sleep(0.1)
    started = descendants(harness.pid)
    # python -m soundstage.edge / -m chaos.faults.server / -c (a spawned listener worker)
    kinds = {_cmdline(p)[2:3][0] for p in started if len(_cmdline(p)) > 2}
    assert {b"soundstage.edge", b"soundstage.origin", b"chaos.faults.server", b"-c"} <= kinds, kinds
    harness.send_signal(signal.SIGKILL)
    harness.wait(10)
    deadline = time.monotonic() + 15
    while (left := [p for p in started if alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert left == [], [_cmdline(p) for p in left]
