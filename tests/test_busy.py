"""`make test-loaded`'s load maker: busy processes while a command runs, none left after."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

BUSY = Path(__file__).with_name("busy.py")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_the_command_runs_beside_busy_processes_and_none_outlives_it() -> None:
    probe = "import os, sys; print('load', os.getloadavg()[0]); sys.exit(3)"
    done = subprocess.run(
        [sys.executable, str(BUSY), "2", "--", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 3, done.stdout + done.stderr  # the command's own status
    pids = [int(p) for p in re.findall(r"\d+", done.stdout.split("running:")[1].splitlines()[0])]
    assert len(pids) == 2 and os.getpid() not in pids
    assert "load" in done.stdout
    assert not [pid for pid in pids if _alive(pid)], "a busy process outlived the command"


def test_bad_arguments_exit_2_with_the_usage() -> None:
    for args in (["x", "--", "true"], ["2", "true"], ["99", "--", "true"]):
        done = subprocess.run(
            [sys.executable, str(BUSY), *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 2 and "usage: python tests/busy.py N" in done.stderr, args
