"""Who owns the toxics on a shared fault proxy: one small record per running game day.

Several game days (of several teams) may share one Toxiproxy. A run's start-up sweep must
remove what a *killed* run left behind and nothing else, so "killed" has to be provable: each
run writes a record (its run id, stack, fault proxy URL, the proxies it created, and its own pid
with the pid's start time and the machine's boot id) into a directory shared by every run of
this user on this machine, and removes it when it ends. A run whose record says it ran here
(same host, same boot) in a process that no longer runs is dead: its tagged toxics and the
proxies it created may go. A run with no record here (another machine, another user, another
team) or whose process still runs is never touched; that is ``gameday rollback --run-id``'s job.

The directory is ``$GAMEDAY_STATE_DIR/runs``, else ``$XDG_STATE_HOME/gameday/runs``, else
``~/.local/state/gameday/runs``. Records are written atomically (temp file + rename).
"""

from __future__ import annotations

import enum
import json
import os
import socket
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chaos.runner.run_tag import check_run_id

STATE_ENV = "GAMEDAY_STATE_DIR"
VERSION = 1
STALE_AFTER = 30 * 24 * 3600.0
"""Seconds after which a dead run's record goes even if its server was never swept again."""


def runs_dir(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    if env.get(STATE_ENV):
        return Path(env[STATE_ENV]) / "runs"
    base = Path(env["XDG_STATE_HOME"]) if env.get("XDG_STATE_HOME") else None
    if base is None:
        base = Path(env.get("HOME") or Path.home()) / ".local" / "state"
    return base / "gameday" / "runs"


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _start_ticks(pid: int) -> int | None:
    from chaos.stack.processes import start_ticks

    return start_ticks(pid)


@dataclass(frozen=True)
class Host:
    """Where a process runs: a pid means something only on the same host since the same boot."""

    name: str
    boot: str

    @classmethod
    def here(cls) -> Host:
        return cls(socket.gethostname(), boot_id())


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    stack: str
    url: str
    """The fault proxy's API URL the run uses."""
    pid: int
    start_ticks: int | None
    host: str
    boot: str
    started: float
    proxies: tuple[str, ...] = ()
    """Proxies the run created on the server (only these are its to delete)."""

    def to_json(self) -> dict[str, Any]:
        return {"version": VERSION, **asdict(self), "proxies": list(self.proxies)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunRecord:
        return cls(
            run_id=str(data["run_id"]),
            stack=str(data["stack"]),
            url=str(data["url"]),
            pid=int(data["pid"]),
            start_ticks=None if data.get("start_ticks") is None else int(data["start_ticks"]),
            host=str(data["host"]),
            boot=str(data.get("boot", "")),
            started=float(data.get("started", 0.0)),
            proxies=tuple(str(p) for p in data.get("proxies", ())),
        )


class Liveness(enum.StrEnum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"
    """No record here, or recorded on another machine: nobody can tell, so it is left alone."""


def liveness(
    record: RunRecord | None,
    here: Host,
    running: Callable[[int, int | None], bool],
) -> Liveness:
    """Whether the run of ``record`` still runs: DEAD only when that is certain (recorded on
    this host, and either the machine rebooted since or its process is gone)."""
    if record is None or record.host != here.name:
        return Liveness.UNKNOWN
    if record.boot and here.boot and record.boot != here.boot:
        return Liveness.DEAD  # the machine rebooted: no process of before runs any more
    return Liveness.ALIVE if running(record.pid, record.start_ticks) else Liveness.DEAD


def process_running(pid: int, ticks: int | None) -> bool:
    """The very process (pid and start time) runs (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return False
    return ticks is None or int(fields[19]) == ticks


@dataclass
class Registry:
    """The records of one directory (``runs_dir()``)."""

    directory: Path = field(default_factory=runs_dir)

    def path(self, run_id: str) -> Path:
        return self.directory / f"{check_run_id(run_id, where='run record')}.json"

    def write(self, record: RunRecord) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.path(record.run_id)
        temporary = final.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(record.to_json(), indent=2) + "\n")
        os.replace(temporary, final)

    def remove(self, run_id: str) -> None:
        self.path(run_id).unlink(missing_ok=True)

    def read(self, run_id: str) -> RunRecord | None:
        try:
            return RunRecord.from_json(json.loads(self.path(run_id).read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def records(self, run_ids: Iterable[str]) -> dict[str, RunRecord]:
        found = {}
        for run_id in set(run_ids):
            record = self.read(run_id)
            if record is not None:
                found[run_id] = record
        return found

    def prune(self, keep: Callable[[RunRecord], bool]) -> list[str]:
        """Remove the records ``keep`` rejects (and unreadable ones older than STALE_AFTER)."""
        removed = []
        try:
            entries = list(self.directory.glob("*.json"))
        except OSError:
            return []
        for entry in entries:
            try:
                record = RunRecord.from_json(json.loads(entry.read_text()))
            except (OSError, ValueError, KeyError, TypeError):
                try:
                    if time.time() - entry.stat().st_mtime > STALE_AFTER:
                        entry.unlink(missing_ok=True)
                except OSError:
                    pass
                continue
            if not keep(record):
                entry.unlink(missing_ok=True)
                removed.append(record.run_id)
        return removed


def own_record(
    run_id: str, stack: str, url: str, proxies: Iterable[str] = (), *, pid: int | None = None
) -> RunRecord:
    """The record of the calling process's run."""
    here = Host.here()
    me = os.getpid() if pid is None else pid
    return RunRecord(
        run_id=run_id,
        stack=stack,
        url=url,
        pid=me,
        start_ticks=_start_ticks(me),
        host=here.name,
        boot=here.boot,
        started=time.time(),
        proxies=tuple(proxies),
    )
