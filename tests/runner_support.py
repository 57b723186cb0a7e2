"""Helpers for the runner tests: write experiments, run `gameday run` as a user would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def gameday(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`gameday ARGS` in a subprocess, as a user or a CI job runs it (not a TTY)."""
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def popen_gameday(*args: str | Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "chaos.cli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
