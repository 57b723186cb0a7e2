"""The journal: append-only history that survives a SIGKILLed writer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.report.journal import (
    CLOSE_KIND,
    OPEN_KIND,
    SCHEMA_VERSION,
    JournalError,
    JournalWriter,
    read_journal,
)

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
field_names = st.text(st.characters(categories=["Ll"]), min_size=1, max_size=8).filter(
    lambda name: name not in {"v", "run", "seq", "wall", "mono", "kind"}
)


def test_header_records_schema_run_and_seed(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    with JournalWriter(path, run_id="run-1", seed=42, meta={"title": "t"}) as journal:
        journal.phase("baseline")
        journal.write("fault.start", name="slow-edge", latency_ms=200)
    read = read_journal(path)
    assert read.header["kind"] == OPEN_KIND
    assert read.header["schema"] == SCHEMA_VERSION
    assert (read.run_id, read.seed, read.header["title"]) == ("run-1", 42, "t")
    assert [e["kind"] for e in read.events] == [OPEN_KIND, "phase", "fault.start", CLOSE_KIND]
    assert [e["seq"] for e in read.events] == [0, 1, 2, 3]
    assert read.closed and not read.torn_tail


def test_every_event_carries_wall_and_monotonic_time(tmp_path: Path) -> None:
    ticks = iter(range(100))
    path = tmp_path / "j.jsonl"
    with JournalWriter(
        path, wall_clock=lambda: 1000.0 + next(ticks), monotonic_clock=lambda: 5.0
    ) as journal:
        journal.write("sample", value=1)
    events = read_journal(path).events
    assert [e["wall"] for e in events] == [1000.0, 1001.0, 1002.0]
    assert all(e["mono"] == 5.0 for e in events)


def test_reserved_field_names_are_refused(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "j.jsonl") as journal, pytest.raises(ValueError, match="seq"):
        journal.write("x", seq=3)


def test_run_metadata_may_not_overwrite_the_header_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="schema"):
        JournalWriter(tmp_path / "j.jsonl", meta={"schema": 9, "title": "t"})
    assert not (tmp_path / "j.jsonl").exists()


def test_writes_after_close_are_refused(tmp_path: Path) -> None:
    journal = JournalWriter(tmp_path / "j.jsonl")
    journal.close()
    with pytest.raises(ValueError, match="closed"):
        journal.write("x")


def test_each_event_is_on_disk_as_soon_as_write_returns(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = JournalWriter(path)
    journal.write("sample", value=7)
    # Read through a different file object while the writer is still open: nothing buffered.
    assert read_journal(path).events[-1]["value"] == 7
    journal.close()


def test_error_in_context_is_recorded_on_close(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with pytest.raises(RuntimeError), JournalWriter(path):
        raise RuntimeError("boom")
    assert read_journal(path).events[-1]["error"] == "RuntimeError: boom"


@settings(max_examples=60, deadline=None)
@given(events=st.lists(st.dictionaries(field_names, json_values, max_size=5), max_size=8))
def test_round_trip_of_arbitrary_fields(
    tmp_path_factory: pytest.TempPathFactory, events: list[dict[str, object]]
) -> None:
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    with JournalWriter(path) as journal:
        for fields in events:
            journal.write("sample", **fields)
    read = read_journal(path).events[1:-1]
    assert [{k: e[k] for k in fields} for e, fields in zip(read, events, strict=True)] == events


@settings(max_examples=80, deadline=None)
@given(count=st.integers(1, 12), cut=st.integers(0, 10_000))
def test_truncation_anywhere_keeps_every_complete_event(
    tmp_path_factory: pytest.TempPathFactory, count: int, cut: int
) -> None:
    path = tmp_path_factory.mktemp("j") / "journal.jsonl"
    with JournalWriter(path) as journal:
        for i in range(count):
            journal.write("sample", i=i, text="x" * (i * 7))
    data = path.read_bytes()
    header_end = data.index(b"\n") + 1
    cut_at = header_end + cut % (len(data) - header_end + 1)
    path.write_bytes(data[:cut_at])
    read = read_journal(path)
    complete_lines = data[:cut_at].count(b"\n")
    assert len(read.events) == complete_lines
    assert read.torn_tail == (not data[:cut_at].endswith(b"\n"))


def test_damaged_line_in_the_middle_is_located(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    with JournalWriter(path) as journal:
        journal.write("a")
        journal.write("b")
    lines = path.read_bytes().split(b"\n")
    lines[1] = b"{not json"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(JournalError) as error:
        read_journal(path)
    assert error.value.where == f"{path}:2"
    assert error.value.exit_code == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "does not start with a journal.open"),
        (b'{"kind":"sample"}\n', "does not start with a journal.open"),
        (json.dumps({"kind": OPEN_KIND, "schema": 99}).encode() + b"\n", "schema 99"),
    ],
)
def test_not_a_journal(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "j.jsonl"
    path.write_bytes(content)
    with pytest.raises(JournalError, match=message):
        read_journal(path)


def test_missing_journal_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(JournalError) as error:
        read_journal(tmp_path / "nope.jsonl")
    assert "nope.jsonl" in error.value.render()


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from chaos.report.journal import JournalWriter

    journal = JournalWriter(Path(sys.argv[1]), seed=7)
    journal.phase("method")
    print("ready", flush=True)
    i = 0
    while True:
        journal.write("sample", i=i, payload="y" * (i % 5000))
        i += 1
    """
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_sigkill_mid_stream_loses_at_most_the_torn_line(tmp_path: Path, delay: float) -> None:
    path = tmp_path / "journal.jsonl"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(delay)
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(timeout=10)
    data = path.read_bytes()
    read = read_journal(path)
    samples = [e for e in read.events if e["kind"] == "sample"]
    assert samples, "the writer wrote nothing before it was killed"
    assert [e["i"] for e in samples] == list(range(len(samples)))
    assert len(read.events) == data.count(b"\n")
    assert not read.closed
