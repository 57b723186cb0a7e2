"""Helpers for the runner tests: write experiments, run `gameday run` as a user would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from chaos.faults.client import ToxiproxyClient

DATA = Path(__file__).parent / "data"

TINY = """
title: tiny
stack: ./tiny-stack.yaml
baseline: 1s
recovery: 1s
workload: {{listeners: []}}
faults:
  - {{name: slow-web, at: 0s, for: {length}, link: client->web, latency: 100ms}}
slos:
  - {{name: nobody-listening, max: gameday_listeners_connected, below: 1}}
{extra}
"""


def tiny_experiment(where: Path, *, length: str = "3s", extra: str = "") -> Path:
    """An experiment on the one-process tiny stack: a latency toxic on its only link."""
    shutil.copy(DATA / "tiny-stack.yaml", where / "tiny-stack.yaml")
    path = where / "tiny.yaml"
    path.write_text(TINY.format(length=length, extra=extra))
    return path


def gameday(
    *args: str | Path,
    timeout: float = 120,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """`gameday ARGS` in a subprocess, as a user or a CI job runs it (not a TTY); ``env``
    adds to the environment."""
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def popen_gameday(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def holders(directory: Path) -> list[int]:
    """Pids of processes with a file under ``directory`` open (logs of a run's processes)."""
    found = []
    prefix = str(directory.resolve())
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            targets = [os.readlink(fd) for fd in (entry / "fd").iterdir()]
        except OSError:
            continue
        if any(t.startswith(prefix) for t in targets):
            found.append(int(entry.name))
    return found


def toxics(url: str) -> list[str]:
    with ToxiproxyClient(url) as client:
        return [t.name for p in client.list_proxies().values() for t in p.toxics]


def kill_once(
    tmp: Path,
    url: str,
    sig: signal.Signals,
    delay: float,
    experiment: Path,
    *,
    after_first_fault: bool = False,
) -> tuple[int | None, Path]:
    """Run and kill: ``delay`` seconds after the launch, or after the journal records the first
    fault (so the kill lands while faults are on or rolling back, however slow start-up is)."""
    run_dir = tmp / f"run-{sig.name}-{delay:.2f}-{after_first_fault:d}"
    harness = popen_gameday("run", experiment, "--toxiproxy", url, "--out", run_dir)
    if after_first_fault:
        journal = run_dir / "journal.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and harness.poll() is None:
            if journal.exists() and b'"fault.start"' in journal.read_bytes():
                break
            time.sleep(0.05)
    time.sleep(delay)
    harness.send_signal(sig)
    try:
        harness.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        harness.kill()
        raise AssertionError(f"harness did not finish within 60 s of {sig.name}") from None
    return harness.returncode, run_dir


def wait_for_no_holders(run_dir: Path, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := holders(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (children, their children, ...)."""
    found, todo = set(), [pid]
    while todo:
        for child in children(todo.pop()):
            found.add(child)
            todo.append(child)
    return found


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")
