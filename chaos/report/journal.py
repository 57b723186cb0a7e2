"""The run journal: the append-only JSON-lines history every verdict and report derives from.

Each event is one line written with a single ``os.write`` on an ``O_APPEND`` descriptor, so there
is no user-space buffer to lose: a harness killed with SIGKILL loses at most the line it was in
the middle of writing, and the reader drops exactly that torn tail. Phase boundaries are fsynced
so a machine crash keeps everything up to the last phase change.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from pydantic import BaseModel

from chaos import __version__
from chaos.errors import InvalidInput

SCHEMA_VERSION = 1
OPEN_KIND = "journal.open"
CLOSE_KIND = "journal.close"
PHASE_KIND = "phase"
RESERVED_KEYS = frozenset({"v", "run", "seq", "wall", "mono", "kind"})
HEADER_KEYS = frozenset({"schema", "seed", "gameday", "host", "pid"})
"""What the writer itself puts in the opening event: run metadata may not name them."""


def new_run_id() -> str:
    """A run id that sorts by start time and is unique across machines."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:8]}"


def _to_json(value: Any) -> Any:
    """Make the values harness code naturally records (models, paths, times) JSON-serialisable."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"cannot record a {type(value).__name__} in the journal")


def encode_event(event: Mapping[str, Any]) -> bytes:
    """One event as one newline-terminated line (the unit that is written atomically)."""
    text = json.dumps(event, default=_to_json, separators=(",", ":"), ensure_ascii=False)
    return text.encode() + b"\n"


class JournalWriter:
    """Appends events to a run's journal; safe to use from one process, any number of calls."""

    def __init__(
        self,
        path: Path,
        *,
        run_id: str | None = None,
        seed: int | None = None,
        meta: Mapping[str, Any] | None = None,
        wall_clock: Callable[[], float] = time.time,
        monotonic_clock: Callable[[], float] = time.monotonic,
    ) -> None:
        clash = HEADER_KEYS.intersection(meta or {})
        if clash:
            raise ValueError(f"run metadata {sorted(clash)} would overwrite the journal's own")
        self.path = path
        self.run_id = run_id or new_run_id()
        self._wall = wall_clock
        self._mono = monotonic_clock
        self._seq = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.write(
            OPEN_KIND,
            schema=SCHEMA_VERSION,
            seed=seed,
            gameday=__version__,
            host=socket.gethostname(),
            pid=os.getpid(),
            **dict(meta or {}),
        )
        self.sync()

    @property
    def closed(self) -> bool:
        return self._fd is None

    def write(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Record one event and return it as written (wall and monotonic time stamped here)."""
        if self._fd is None:
            raise ValueError(f"journal {self.path} is closed")
        clash = RESERVED_KEYS.intersection(fields)
        if clash:
            raise ValueError(f"event fields {sorted(clash)} are reserved by the journal")
        event: dict[str, Any] = {
            "v": SCHEMA_VERSION,
            "run": self.run_id,
            "seq": self._seq,
            "wall": self._wall(),
            "mono": self._mono(),
            "kind": kind,
            **fields,
        }
        line = encode_event(event)
        written = 0
        while written < len(line):
            written += os.write(self._fd, line[written:])
        self._seq += 1
        return event

    def phase(self, name: str, **fields: Any) -> dict[str, Any]:
        """Mark a phase boundary; fsynced, so the history up to here survives a crash."""
        event = self.write(PHASE_KIND, phase=name, **fields)
        self.sync()
        return event

    def sync(self) -> None:
        if self._fd is not None:
            os.fsync(self._fd)

    def close(self, **fields: Any) -> None:
        if self._fd is None:
            return
        self.write(CLOSE_KIND, events=self._seq + 1, **fields)
        self.sync()
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(**({"error": f"{exc_type.__name__}: {exc}"} if exc_type else {}))


class JournalError(InvalidInput):
    """The journal file cannot be read as a gameday history."""


@dataclass(frozen=True)
class Journal:
    """A journal as read back: complete events in order, and whether a torn tail was dropped."""

    path: Path
    events: list[dict[str, Any]]
    torn_tail: bool = False
    closed: bool = False
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def run_id(self) -> str | None:
        run = self.header.get("run")
        return run if isinstance(run, str) else None

    @property
    def seed(self) -> int | None:
        seed = self.header.get("seed")
        return seed if isinstance(seed, int) else None

    def of_kind(self, *kinds: str) -> Iterator[dict[str, Any]]:
        return (event for event in self.events if event.get("kind") in kinds)


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    try:
        event = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
        return None
    return event


def read_journal(path: Path) -> Journal:
    """Read every complete event; a torn last line (killed writer) is dropped, not an error.

    A damaged line anywhere else means the file is not an intact history, which is reported
    with its line number rather than silently skipped.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise JournalError(
            "journal not found", where=str(path), fix="pass the journal.jsonl a run wrote"
        ) from None
    except OSError as exc:
        raise JournalError(f"cannot read journal: {exc.strerror}", where=str(path)) from None
    lines = data.split(b"\n")
    # A complete file ends with a newline, so the last element is empty; anything else there
    # is the line the writer was killed in the middle of.
    torn = lines.pop() != b""
    events: list[dict[str, Any]] = []
    for number, raw in enumerate(lines, start=1):
        event = _parse_line(raw)
        if event is not None:
            events.append(event)
        elif number == len(lines) and not torn and raw.strip():
            # A final line that has its newline but not its content: a torn write on a
            # filesystem that extended the file before the data landed.
            torn = True
        elif raw.strip():
            raise JournalError(
                "line is not a journal event (damaged or not a gameday journal)",
                where=f"{path}:{number}",
                fix="restore the file from its source; only a torn last line is recoverable",
            )
    if not events or events[0].get("kind") != OPEN_KIND:
        raise JournalError(
            "not a gameday journal: it does not start with a journal.open event",
            where=str(path),
            fix="pass the journal.jsonl written by `gameday run`",
        )
    schema = events[0].get("schema")
    if schema != SCHEMA_VERSION:
        raise JournalError(
            f"journal schema {schema!r} is not supported (this gameday reads {SCHEMA_VERSION})",
            where=str(path),
            fix="read it with the gameday version that wrote it",
        )
    return Journal(
        path=path,
        events=events,
        torn_tail=torn,
        closed=events[-1].get("kind") == CLOSE_KIND,
        header=events[0],
    )
