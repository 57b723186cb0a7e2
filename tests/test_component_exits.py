"""A stack component that exits during a run without a fault or the harness ending it is the
stack's behaviour: the SLOs still give the verdict, and the exit (T0 time and wall clock, exit
code or signal, the last lines of its log) is a journal event, a console line, a line in
summary.md and a mark on the report's timeline — on soundstage and on a real Icecast."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from runner_support import popen_gameday

from chaos.report.html import render_html
from chaos.report.journal import JournalWriter, read_journal
from chaos.report.markdown import render_markdown
from chaos.runner.exits import COMPONENT_EXIT_KIND, ExitWatch
from chaos.stack import processes

WALL0 = 1_795_000_000.0


def _until(check: object, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_component_that_exits_by_itself_is_told_once_with_its_code_and_log(
    tmp_path: Path,
) -> None:
    log = tmp_path / "crashy.log"
    ref = processes.spawn(
        "crashy", ["sh", "-c", "echo loading; echo 'fatal: out of cheese'; exit 3"], log
    )
    watch = ExitWatch(lambda: [ref], {"crashy": log}, now=lambda: 7.25)
    _until(lambda: not processes.alive(ref))
    [found] = watch.check()
    assert (found.replica, found.pid, found.how) == ("crashy", ref.pid, "exited with code 3")
    assert found.returncode == 3 and found.at == 7.25
    assert found.last_lines == ("loading", "fatal: out of cheese")
    assert watch.check() == []  # told once


def test_a_signal_says_which_and_an_exit_the_harness_caused_is_not_told(tmp_path: Path) -> None:
    ours = processes.spawn("ours", ["sleep", "60"], tmp_path / "ours.log")
    theirs = processes.spawn("theirs", ["sleep", "60"], tmp_path / "theirs.log")
    watch = ExitWatch(lambda: [ours, theirs], {}, now=lambda: 1.0)
    assert watch.check() == []  # both run
    processes.signal_group(ours, signal.SIGKILL)  # what a kill fault or the teardown does
    os.kill(theirs.pid, signal.SIGKILL)  # someone else (the OOM killer, an operator)
    _until(lambda: not processes.alive(ours) and not processes.alive(theirs))
    [found] = watch.check()
    assert found.replica == "theirs" and found.how == "killed by SIGKILL"
    assert found.to_record()["signal"] == signal.SIGKILL


LEADER_LEAVES_FIRST = """
import ctypes, threading, time
threading.Thread(target=time.sleep, args=(60,)).start()
time.sleep(0.2)
ctypes.CDLL(None, use_errno=True).syscall(60, 0)  # SYS_exit: only the leader thread ends
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="SYS_exit is 60 on x86_64 only")
def test_a_leader_gone_before_its_threads_is_not_told_until_its_signal_is_known(
    tmp_path: Path,
) -> None:
    """A multithreaded component SIGKILLed shows its leader as a zombie while the other
    threads still exit, and waitpid cannot give the status yet: told then, the exit said
    "exited". Here the leader leaves by itself, so that window lasts until the kill."""
    ref = processes.spawn(
        "threads", [sys.executable, "-c", LEADER_LEAVES_FIRST], tmp_path / "t.log"
    )
    watch = ExitWatch(lambda: [ref], {}, now=lambda: 1.0)
    _until(lambda: processes._state(ref.pid) == "Z")  # the leader is gone, its thread runs
    assert processes.alive(ref) and watch.check() == []
    os.kill(ref.pid, signal.SIGKILL)
    _until(lambda: not processes.alive(ref))
    [found] = watch.check()
    assert found.how == "killed by SIGKILL" and found.returncode == -signal.SIGKILL


def _journal_with_an_exit(path: Path) -> None:
    now = [0.0]
    journal = JournalWriter(
        path,
        run_id="20261203T140000Z-abcdef12",
        seed=1,
        meta={"title": "exit"},
        wall_clock=lambda: WALL0 + now[0],
        monotonic_clock=lambda: 100.0 + now[0],
    )
    journal.phase("baseline", t0=WALL0 + 2.0, t0_mono=102.0)
    now[0] = 2.0
    journal.phase("method")
    journal.write("fault.start", name="slow", type="latency", params={"latency": "100ms"})
    now[0] = 9.5
    journal.write(
        COMPONENT_EXIT_KIND,
        replica="edge-1",
        pid=4242,
        at=7.5,
        exit_wall=WALL0 + 9.5,
        how="killed by SIGKILL",
        returncode=-9,
        signal=9,
        log="/runs/x/logs/edge-1.log",
        last_lines=["serving room 1", "frames queued: 40"],
    )
    now[0] = 12.0
    journal.write("fault.end", name="slow", type="latency", problems=[])
    journal.write("verdict", verdict="fail", exit_code=1)
    journal.close()


def test_summary_md_and_the_report_timeline_show_the_exit(tmp_path: Path) -> None:
    _journal_with_an_exit(tmp_path / "journal.jsonl")
    journal = read_journal(tmp_path / "journal.jsonl")
    summary = render_markdown(journal)
    assert "### Stack components that exited by themselves" in summary
    assert "edge-1 (pid 4242) killed by SIGKILL at T+00:07.5" in summary
    assert "(2026-11-18T11:06:49Z)" in summary  # and on the wall clock
    assert "frames queued: 40" in summary
    html = render_html(journal)
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', html, re.S).group(1))  # type: ignore[union-attr]
    [timeline] = [f for f in data["figures"] if f["key"] == "timeline"]
    assert timeline["markers"] == [
        {"x": 7.5, "label": "edge-1 killed by SIGKILL", "kind": "component-exit"}
    ]
    assert 'data-exit="edge-1"' in html


def _pid_of(journal: Path, replica: str, harness: subprocess.Popen[str]) -> int:
    _until(lambda: journal.exists() and b'"fault.start"' in journal.read_bytes(), timeout=90)
    assert harness.poll() is None
    [up] = read_journal(journal).of_kind("stack.up")
    return next(int(p["pid"]) for p in up["processes"] if p["name"] == replica)


def _run_and_kill(
    tmp_path: Path, experiment: Path, replica: str
) -> tuple[subprocess.Popen[str], str, Path]:
    run_dir = tmp_path / "run"
    harness = popen_gameday("run", experiment, "--out", run_dir, "--report", tmp_path / "report")
    journal = run_dir / "journal.jsonl"
    try:
        os.kill(_pid_of(journal, replica, harness), signal.SIGKILL)
        out, _ = harness.communicate(timeout=150)
    finally:
        harness.kill()
    return harness, out, run_dir


def _assert_reported(out: str, run_dir: Path, tmp_path: Path, replica: str) -> dict[str, object]:
    exits = [e for e in read_journal(run_dir / "journal.jsonl").of_kind(COMPONENT_EXIT_KIND)]
    found = next(e for e in exits if e["replica"] == replica)
    assert found["how"] == "killed by SIGKILL" and found["signal"] == 9
    assert isinstance(found["at"], float) and found["at"] > 0  # in the method, T0 time
    assert f"stack component {replica} (pid {found['pid']}) killed by SIGKILL" in out
    assert f"stack component exited by itself: {replica} (pid {found['pid']})" in out
    summary = (run_dir / "summary.md").read_text()
    assert "Stack components that exited by themselves" in summary
    assert f"{replica} (pid {found['pid']}) killed by SIGKILL" in summary
    html = (tmp_path / "report" / "report.html").read_text()
    assert f'data-exit="{replica}"' in html and f"{replica} killed by SIGKILL" in html
    return found


SOUNDSTAGE = """
title: edge-1 dies by itself
seed: 5
stack: soundstage
baseline: 4s
recovery: 6s
workload: {listeners: []}  # no load generator to be late on a loaded machine
faults:
  - {name: slow-edge, at: 1s, for: 8s, link: listener->edge, latency: 20ms}
slos:
  - {name: edges-up, min: soundstage_api_edge_up, equals: 1, during: recovery}
"""


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_an_edge_sigkilled_mid_run_is_reported_and_the_slos_judge(tmp_path: Path) -> None:
    experiment = tmp_path / "edge-dies.yaml"
    experiment.write_text(SOUNDSTAGE)
    harness, out, run_dir = _run_and_kill(tmp_path, experiment, "edge-1")
    assert harness.returncode == 1, out  # the SLOs' verdict (the api lost an edge), not ours
    assert "fail     edges-up" in out
    _assert_reported(out, run_dir, tmp_path, "edge-1")
    kinds = {e["kind"] for e in read_journal(run_dir / "journal.jsonl").events}
    assert "infrastructure.failure" not in kinds  # its metrics going silent is the crash


ICECAST = """
title: Icecast dies by itself
seed: 5
stack: icecast
baseline: 8s  # the listeners' workers start in it, slowly on a loaded machine
recovery: 3s
workload:
  listeners:
    - {arrival: storm, count: 10, at: 0s, spread: 1s}
  reconnect: {policy: fixed, delay: 500ms}
faults:
  - {name: slow-link, at: 1s, for: 8s, link: listener->icecast, latency: 20ms}
slos:
  - {name: join-success, above: 99%,
     ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total}
"""


@pytest.mark.slow
@pytest.mark.timeout(200)
def test_a_real_icecast_sigkilled_mid_run_is_reported(tmp_path: Path) -> None:
    if shutil.which("icecast2") is None or shutil.which("ffmpeg") is None:
        pytest.skip("needs Debian packages icecast2 and ffmpeg (`make apt` as root)")
    experiment = tmp_path / "icecast-dies.yaml"
    experiment.write_text(ICECAST)
    harness, out, run_dir = _run_and_kill(tmp_path, experiment, "icecast")
    assert harness.returncode == 1, out  # listeners reconnect to nothing: join-success fails
    _assert_reported(out, run_dir, tmp_path, "icecast")
