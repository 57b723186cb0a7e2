"""Whatever kills the harness, every process it started and their children go: each component
in a process group of its own, and a reaper that ends those groups (and the lone listener
workers) when the kernel closes the harness's pipe. `gameday stack down --run-id` finds what
is left should the reaper be gone too."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from runner_support import alive, children, descendants

from chaos.report.journal import read_journal
from chaos.stack.reaper import Lone, serve

DEADLINE = 30.0
"""Seconds a test waits for what it expects (a loaded machine is slow, never wrong)."""


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _until(check: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_the_reaper_forgets_what_the_harness_stopped_itself() -> None:
    lines = ["group 10", "group 11", "process 20 555", "process 21 -", "process 22 7 patient"]
    told = serve([*lines, "ungroup 10", "unprocess 20", "ledger /state/processes/a b.json"])
    assert told.groups == {11} and told.lone == {21: Lone(None), 22: Lone(7, patient=True)}
    assert told.ledgers == {"/state/processes/a b.json"}


HARNESS = """
import sys, time
from pathlib import Path
from chaos.stack import processes
ref = processes.spawn("web", ["sh", "-c", "sleep 300; echo done"], Path(sys.argv[1]), tied=True)
worker = __import__("subprocess").Popen(["sleep", "300"])  # a listener worker, say
processes.reap_with_harness(worker.pid)
print(ref.pid, worker.pid, processes.REAPER.pid, flush=True)
time.sleep(300)
"""


@pytest.mark.timeout(90)
def test_a_sigkilled_harness_takes_a_wrapper_components_children_and_its_workers(
    tmp_path: Path,
) -> None:
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, str(tmp_path / "web.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert harness.stdout is not None
    shell, worker, reaper = map(int, harness.stdout.readline().split())
    _until(lambda: bool(children(shell)), "the wrapper never started its child")
    [sleeper] = children(shell)
    harness.send_signal(signal.SIGKILL)
    harness.wait(10)
    left = [shell, sleeper, worker, reaper]
    _until(lambda: not any(map(alive, left)), f"left behind: {list(map(_cmdline, left))}")


WRAPPED_STACK = """
name: wrapped
components:
  web:  # through a wrapper: the shell's child holds the port
    command: [sh, -c, "python3 -m http.server {port:http} --bind {host}; echo stopped"]
    ports: {http: {protocol: tcp}}
    health: {port: http, path: /}
links:
  client->web: {to: web.http, protocol: tcp}
"""

EXPERIMENT = """
title: wrapped
stack: ./wrapped.yaml
baseline: 1s
recovery: 1s
workload: {listeners: []}
faults:
  - {name: slow-web, at: 0s, for: 120s, link: client->web, latency: 10ms}
slos:
  - {name: nobody-listening, max: gameday_listeners_connected, below: 1}
"""


def _start_wrapped_run(tmp_path: Path) -> tuple[subprocess.Popen[str], dict[str, str], Path]:
    (tmp_path / "wrapped.yaml").write_text(WRAPPED_STACK)
    (tmp_path / "wrapped-run.yaml").write_text(EXPERIMENT)
    env = {**os.environ, "GAMEDAY_STATE_DIR": str(tmp_path / "state")}
    run_dir = tmp_path / "run"
    harness = subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", "run", tmp_path / "wrapped-run.yaml", "--out", run_dir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    journal = run_dir / "journal.jsonl"
    _until(
        lambda: journal.exists() and b'"fault.start"' in journal.read_bytes(),
        "no fault was applied",
        timeout=90,
    )
    return harness, env, journal


def _the_server(journal: Path) -> tuple[int, int, int]:
    """(the wrapper shell's pid, its http.server child's pid, the port it holds)."""
    [up] = read_journal(journal).of_kind("stack.up")
    [shell] = [int(p["pid"]) for p in up["processes"] if p["name"] == "web"]
    _until(lambda: bool(children(shell)), "the wrapper never started its server")
    [server] = children(shell)
    port = int(_cmdline(server).split("http.server")[1].split()[0])
    return shell, server, port


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_sigkilled_run_frees_a_wrapper_components_port(tmp_path: Path) -> None:
    harness, _, journal = _start_wrapped_run(tmp_path)
    try:
        shell, server, port = _the_server(journal)
        started = descendants(harness.pid)
        assert not _port_free(port)
    finally:
        harness.send_signal(signal.SIGKILL)
        harness.wait(10)
    _until(lambda: _port_free(port), f"port {port} still held by {_cmdline(server)}")
    left = [shell, server, *started]
    _until(lambda: not any(map(alive, left)), f"left behind: {list(map(_cmdline, left))}")
    ledgers = tmp_path / "state" / "processes"
    assert ledgers.is_dir() and list(ledgers.iterdir()) == []  # reaped: no stale list left


def _stack_down(run_id: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", "stack", "down", "--run-id", run_id],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_stack_down_by_run_id_stops_what_a_killed_run_and_its_reaper_left(
    tmp_path: Path,
) -> None:
    harness, env, journal = _start_wrapped_run(tmp_path)
    try:
        shell, server, port = _the_server(journal)
        reapers = [p for p in descendants(harness.pid) if "chaos.stack.reaper" in _cmdline(p)]
        assert len(reapers) == 1, [_cmdline(p) for p in descendants(harness.pid)]
        os.kill(reapers[0], signal.SIGKILL)  # the worst case: nothing reaps for us
    finally:
        harness.send_signal(signal.SIGKILL)
        harness.wait(10)
    run_id = json.loads(journal.read_text().splitlines()[0])["run"]
    done = _stack_down(run_id, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "process group of web" in done.stdout, done.stdout
    _until(lambda: _port_free(port) and not alive(server), f"port {port} still held")
    again = _stack_down(run_id, env)
    assert f"no process, container, network or namespace of run {run_id} left" in again.stdout
    assert not alive(shell)
