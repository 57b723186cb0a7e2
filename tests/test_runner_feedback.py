"""The runner drives a feedback fault through its loop: closed at the fault's start, opened at its
end or in rollback, and what it did to the room lands in the journal."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from experiment_helpers import load, with_

from chaos.faults.client import AsyncToxiproxyClient
from chaos.faults.feedback import FeedbackLoop
from chaos.report.journal import JournalWriter, read_journal
from chaos.runner.faults import FaultDriver
from chaos.stack.backend import StackBackend


class FakeLoop:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")

    async def stop(self) -> None:
        self.calls.append("stop")

    def summary(self) -> dict[str, Any]:
        return {"via": "device", "howls": 2, "howl_seconds": 1.5, "time_to_quiet_seconds": 3.0}


def _driver(tmp_path: Path, loop: FakeLoop) -> tuple[FaultDriver, Any, JournalWriter]:
    document = with_(
        ("faults",),
        [{"name": "howl", "at": "1s", "for": "5s", "feedback": {"speaker": 1, "gain": 1.5}}],
    )
    loaded = load(document, tmp_path)
    journal = JournalWriter(tmp_path / "journal.jsonl", run_id="RUN1")
    driver = FaultDriver(
        cast(AsyncToxiproxyClient, None),
        cast(StackBackend, None),
        loaded.stack,
        {},
        "RUN1",
        journal,
        feedback={"howl": cast(FeedbackLoop, loop)},
    )
    return driver, loaded.experiment.faults[0], journal


async def test_a_feedback_fault_closes_and_opens_its_loop_and_journals_the_effect(
    tmp_path: Path,
) -> None:
    loop = FakeLoop()
    driver, fault, journal = _driver(tmp_path, loop)
    await driver.apply(fault)
    assert loop.calls == ["start"] and "howl" in driver.active
    assert await driver.remove(fault) == []
    assert loop.calls == ["start", "stop"]
    journal.close()
    history = read_journal(journal.path)
    start = next(history.of_kind("fault.start"))
    assert start["params"]["feedback"]["gain"] == "150%" and start["via"] == "device"
    end = next(history.of_kind("fault.end"))
    assert end["howls"] == 2 and end["time_to_quiet_seconds"] == 3.0


async def test_rollback_opens_a_loop_still_closed(tmp_path: Path) -> None:
    loop = FakeLoop()
    driver, fault, journal = _driver(tmp_path, loop)
    await driver.apply(fault)
    driver.client = cast(AsyncToxiproxyClient, _Unreachable())
    problems = await driver.rollback()
    assert loop.calls == ["start", "stop"]
    assert problems and "sweep" in problems[0]  # the proxy is gone; the loop still opened
    journal.close()


class _Unreachable:
    api = None

    async def run(self, operation: object) -> None:
        raise OSError("connection refused")
