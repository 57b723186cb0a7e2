"""A run's local processes, listed where `gameday stack down --run-id` finds them.

A run's stack has no state file (that is `stack up`'s), and a SIGKILLed run runs no
``finally``: so while a run's local or namespace stack is up, its process groups (leader pid
and start time, the group's id) and its replicas' directory are listed in one small file per
run, ``runs_dir()/../processes/RUN-ID.json`` (``chaos.runner.owners``), rewritten atomically
on every change (a restart) and removed once the stack has stopped. Should the reaper itself
be gone too, `gameday stack down --run-id RUN-ID` stops every group still there.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from chaos.runner.owners import runs_dir
from chaos.runner.run_tag import check_run_id
from chaos.stack.processes import ProcessRef, group_running, stop_all

VERSION = 1
WORKDIR_PREFIX = "gameday-stack-"
"""Every stack's replica directories live in one temporary directory named so: `stack down`
removes only a directory of this name that the state file or a ledger lists."""


def ledger_path(run_id: str) -> Path:
    return runs_dir().parent / "processes" / f"{check_run_id(run_id)}.json"


def write(path: Path, refs: list[ProcessRef], workdir: Path | None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    record = {
        "version": VERSION,
        "processes": [{"name": r.name, "pid": r.pid, "start_ticks": r.start_ticks} for r in refs],
        "workdir": None if workdir is None else str(workdir),
    }
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, path)


def read(path: Path) -> tuple[list[ProcessRef], Path | None]:
    """The groups and directory a ledger lists; nothing when there is none (or it is torn)."""
    try:
        data = json.loads(path.read_text())
        refs = [
            ProcessRef(str(p["name"]), int(p["pid"]), p.get("start_ticks"))
            for p in data["processes"]
        ]
    except (OSError, ValueError, KeyError, TypeError):
        return [], None
    workdir = data.get("workdir")
    return refs, Path(workdir) if isinstance(workdir, str) and workdir else None


async def stop_run(run_id: str, grace: float = 2.0) -> list[str]:
    """Stop every process group a run's ledger lists that still runs; what was stopped."""
    path = ledger_path(run_id)
    refs, workdir = read(path)
    running = [r for r in refs if group_running(r)]
    await stop_all(running, grace)
    if workdir is not None and workdir.name.startswith(WORKDIR_PREFIX):
        shutil.rmtree(workdir, ignore_errors=True)
    path.unlink(missing_ok=True)
    return [f"process group of {r.name} (pgid {r.pid})" for r in running]
