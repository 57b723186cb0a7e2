"""The state file `gameday stack up` leaves behind, so `gameday stack down` can stop the stack.

JSON, written atomically (temp file + rename) so a crash never leaves half a state file, and
removed once everything it lists has stopped. It names processes by pid and start time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from chaos.errors import InvalidInput
from chaos.stack.local import RunningStack
from chaos.stack.processes import ProcessRef

DEFAULT_STATE = Path(".gameday") / "stack.json"
VERSION = 1


def to_json(
    stack: RunningStack, *, backend: str = "local", run_id: str | None = None
) -> dict[str, Any]:
    """``backend``/``run_id``: a Docker or namespace stack is stopped by its run id."""
    return {
        "version": VERSION,
        "backend": backend,
        "run_id": run_id,
        "spec": stack.spec,
        "run_dir": str(stack.run_dir),
        "processes": [
            {"name": p.name, "pid": p.pid, "start_ticks": p.start_ticks} for p in stack.processes
        ],
        "addresses": stack.addresses,
        "links": stack.links,
        "dialled": stack.dialled,
        "metrics": stack.metrics,
        "health": stack.health,
        "logs": {name: str(path) for name, path in stack.logs.items()},
        "workdir": None if stack.workdir is None else str(stack.workdir),
    }


def write(
    path: Path, stack: RunningStack, *, backend: str = "local", run_id: str | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(path.suffix + ".tmp")
    record = to_json(stack, backend=backend, run_id=run_id)
    temporary.write_text(json.dumps(record, indent=2) + "\n")
    os.replace(temporary, path)


def read(path: Path) -> dict[str, Any] | None:
    """The state a file holds; None when there is no state file."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"unreadable stack state: {exc}", where=str(path), fix="stop the processes by hand"
        ) from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise InvalidInput(
            "not a gameday stack state file (or written by another version)",
            where=str(path),
            fix="stop the processes it lists by hand and delete it",
        )
    return data


def processes_of(data: dict[str, Any], path: Path) -> list[ProcessRef]:
    try:
        return [
            ProcessRef(str(p["name"]), int(p["pid"]), p.get("start_ticks"))
            for p in data["processes"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"malformed stack state: {exc}", where=str(path)) from None


def workdir_of(data: dict[str, Any]) -> Path | None:
    """The replicas' directories a local stack made (removed once its processes stopped)."""
    workdir = data.get("workdir")
    return Path(workdir) if isinstance(workdir, str) and workdir else None


def read_processes(path: Path) -> list[ProcessRef] | None:
    """The processes a state file lists; None when there is no state file."""
    data = read(path)
    return None if data is None else processes_of(data, path)
