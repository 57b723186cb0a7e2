"""The data path's clock: deadlines released by one timerfd per loop (or, without one, by the
loop's timer), never early, in order, every due one in one wake-up; the pure deadline queue
beneath it; and the server's event-loop thread at real-time priority when the system allows it."""

from __future__ import annotations

import asyncio
import gc
import math
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.faults import timer
from chaos.faults.deadlines import DeadlineQueue, Entry
from chaos.faults.server import priority
from tests.toxiproxy_contract_support import free_port

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "uvloop": uvloop.new_event_loop,
    "asyncio": asyncio.new_event_loop,
}


def run(factory: Callable[[], asyncio.AbstractEventLoop], coro: object) -> object:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)  # type: ignore[arg-type]


@pytest.mark.parametrize("loop", LOOPS)
@settings(max_examples=15, deadline=None)
@given(offsets=st.lists(st.integers(min_value=-2000, max_value=20_000), min_size=1, max_size=40))
def test_deadlines_are_never_early_and_come_in_order(loop: str, offsets: list[int]) -> None:
    """Microsecond offsets, some already past, some cancelled: each survivor wakes at or after
    its deadline, and in deadline order."""

    async def scenario() -> tuple[list[tuple[float, float, bool]], int, int]:
        start = time.monotonic()
        woken: list[tuple[float, float, bool]] = []

        async def sleeper(deadline: float) -> None:
            waited = deadline > time.monotonic() + 0.002  # else it may return at once, no timer
            await timer.sleep_until(deadline)
            woken.append((deadline, time.monotonic(), waited))

        tasks = [asyncio.create_task(sleeper(start + us / 1e6)) for us in offsets]
        cancelled = tasks[1::3]
        await asyncio.sleep(0)
        for task in cancelled:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.03)  # past every deadline: cancelled entries are dropped by then
        pending = len(timer.timer_for(asyncio.get_running_loop()) or [])
        timer.release(asyncio.get_running_loop())
        return woken, pending, sum(task.cancelled() for task in tasks)

    woken, pending, cancelled = run(LOOPS[loop], scenario())  # type: ignore[misc]
    assert len(woken) == len(offsets) - cancelled
    assert all(at >= deadline for deadline, at, _ in woken)
    # the order is the timer's among the sleepers that waited for it; one whose first step came
    # after its deadline (a busy machine's late start) returns at once, whatever waits
    ahead = [deadline for deadline, _, waited in woken if waited]
    assert ahead == sorted(ahead)
    assert pending == 0


@pytest.mark.parametrize("loop", LOOPS)
def test_a_deadline_past_the_horizon_still_wakes_on_time(loop: str) -> None:
    async def scenario() -> float:
        deadline = time.monotonic() + timer.HORIZON + 0.2
        await timer.sleep_until(deadline)
        timer.release(asyncio.get_running_loop())
        return time.monotonic() - deadline

    late = run(LOOPS[loop], scenario())
    assert isinstance(late, float) and late >= 0


def test_a_timer_gives_its_descriptor_back() -> None:
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        run(LOOPS["uvloop"], timer.sleep_until(time.monotonic() + 0.001))
    gc.collect()
    assert len(os.listdir("/proc/self/fd")) <= before + 1


def test_many_chunks_due_together_cost_one_timer() -> None:
    """A thousand sleepers share the loop's one timer; all wake, none early."""

    async def scenario() -> tuple[int, int]:
        deadline = time.monotonic() + 1.0  # far enough that none is due before they are counted
        rng = random.Random(7)
        deadlines = [deadline + rng.random() / 100 for _ in range(1000)]
        sleepers = [asyncio.create_task(timer.sleep_until(d)) for d in deadlines]
        await asyncio.sleep(0)  # one loop iteration: every sleeper has pushed its deadline
        precise = timer.timer_for(asyncio.get_running_loop())
        assert precise is not None
        queued = len(precise)
        await asyncio.gather(*sleepers)
        assert time.monotonic() >= max(deadlines)
        left = len(precise)
        timer.release(asyncio.get_running_loop())
        return queued, left

    assert run(LOOPS["uvloop"], scenario()) == (1000, 0)


class _RecordingAlarm:
    """Stands in for the timer's alarm: records when it is asked to ring, rings on demand."""

    def __init__(self) -> None:
        self.rings: list[float] = []

    def arm(self, at: float) -> None:
        self.rings.append(at)

    def close(self) -> None:
        pass


def test_the_alarm_rings_a_lead_early_and_the_wake_up_spins_to_the_deadline() -> None:
    """Woken ``SPIN_LEAD`` early, the timer releases nothing before the deadline and everything
    at it, in that one wake-up; once a second's spin budget is spent the alarm rings at the
    deadline itself (an early ring would otherwise find nothing due and ring again)."""

    async def scenario() -> None:
        precise = timer.PreciseTimer(asyncio.get_running_loop(), None)
        alarm = _RecordingAlarm()
        precise._alarm = alarm  # type: ignore[assignment]
        released: list[float] = []
        deadline = time.monotonic() + 0.05
        precise.call_at(deadline, lambda: released.append(time.monotonic()))
        assert alarm.rings == [pytest.approx(deadline - timer.SPIN_LEAD, abs=1e-9)]
        while time.monotonic() < alarm.rings[-1]:
            await asyncio.sleep(0.001)
        precise._fire()  # the early ring: spins the rest of the lead, then releases
        assert len(released) == 1 and released[0] >= deadline
        precise._budget = timer.SpinBudget(0.0)  # as if this second's spinning were spent
        later = time.monotonic() + 0.05
        precise.call_at(later, lambda: released.append(time.monotonic()))
        assert alarm.rings[-1] == later
        precise.close()

    run(LOOPS["asyncio"], scenario())


@settings(max_examples=200, deadline=None)
@given(
    wakes=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=0.2), st.floats(min_value=0.0, max_value=0.0003)
        ),
        max_size=400,
    )
)
def test_spinning_takes_at_most_its_share_of_any_second(wakes: list[tuple[float, float]]) -> None:
    """Wake-ups at any pace, each spinning up to a lead when allowed: what is spun within one
    second of the clock stays under the share plus one lead."""
    budget = timer.SpinBudget(timer.SPIN_SHARE)
    now, spun_by_second = 1000.0, {}
    for gap, spin in wakes:
        now += gap
        if budget.allows(now):
            budget.spend(spin)
            spun_by_second[int(now)] = spun_by_second.get(int(now), 0.0) + spin
    assert all(v <= timer.SPIN_SHARE + 0.0003 + 1e-12 for v in spun_by_second.values())


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.just("push"), st.integers(min_value=-20, max_value=50)),
            st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=1000)),
            st.tuples(st.just("advance"), st.integers(min_value=0, max_value=15)),
        ),
        max_size=80,
    )
)
def test_the_deadline_queue_releases_what_is_due_earliest_first_and_nothing_early(
    steps: list[tuple[str, int]],
) -> None:
    """Against a model: at each time, exactly the live items due by then, by deadline, ties in
    push order; cancelled ones never; ``earliest`` is the next live deadline."""
    queue: DeadlineQueue[int] = DeadlineQueue()
    entries: list[Entry[int]] = []
    waiting: dict[int, int] = {}  # item -> deadline, neither released nor cancelled
    now = 0
    for step, value in steps:
        if step == "push":
            entries.append(queue.push(now + value, len(entries)))
            waiting[len(entries) - 1] = now + value
        elif step == "cancel" and entries:
            item = value % len(entries)
            entries[item].cancel()
            waiting.pop(item, None)
        elif step == "advance":
            now += value
            due = sorted((deadline, item) for item, deadline in waiting.items() if deadline <= now)
            assert queue.pop_due(now) == [item for _, item in due]
            for _, item in due:
                del waiting[item]
            assert queue.earliest() == min(waiting.values(), default=math.inf)
    assert sorted(queue.drain()) == sorted(waiting)
    assert len(queue) == 0 and queue.earliest() == math.inf


def _timer(loop: asyncio.AbstractEventLoop, kind: str) -> timer.PreciseTimer:
    """The loop's timerfd timer, or one woken by the loop's own timer (the fallback)."""
    chosen = timer.timer_for(loop) if kind == "timerfd" else timer.PreciseTimer(loop, None)
    assert chosen.precise is (kind == "timerfd")
    return chosen


async def _until(done: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "the timer never released them"
        await asyncio.sleep(0.005)


@pytest.mark.parametrize("kind", ["timerfd", "loop-timer"])
@pytest.mark.parametrize("loop", LOOPS)
@settings(max_examples=10, deadline=None)
@given(offsets=st.lists(st.integers(min_value=-2000, max_value=20_000), min_size=1, max_size=40))
def test_callbacks_are_never_early_and_run_in_deadline_order(
    loop: str, kind: str, offsets: list[int]
) -> None:
    """Microsecond offsets, some past, every third cancelled: each survivor is called at or after
    its deadline on the timer's clock, all in (deadline, scheduling) order."""

    async def scenario() -> tuple[list[tuple[int, float]], list[float], list[int]]:
        precise = _timer(asyncio.get_running_loop(), kind)
        start = time.monotonic()
        deadlines = [start + us / 1e6 for us in offsets]
        called: list[tuple[int, float]] = []

        def record(index: int) -> None:
            called.append((index, time.monotonic()))

        entries = [precise.call_at(d, record, i) for i, d in enumerate(deadlines)]
        for entry in entries[1::3]:
            entry.cancel()
        await _until(lambda: len(called) == len(entries) - len(entries[1::3]))
        await asyncio.sleep(0.03)  # past every deadline: a cancelled one would have run by now
        survivors = [i for i in range(len(entries)) if i % 3 != 1]
        precise.close()
        return called, deadlines, survivors

    called, deadlines, survivors = run(LOOPS[loop], scenario())  # type: ignore[misc]
    assert [i for i, _ in called] == sorted(survivors, key=lambda i: (deadlines[i], i))
    assert all(at >= deadlines[i] for i, at in called)


@pytest.mark.parametrize("loop", LOOPS)
def test_every_callback_due_together_runs_in_one_wake_up_in_scheduling_order(loop: str) -> None:
    """500 callbacks at one deadline: no other loop work runs between them (the first one's
    call_soon runs after the last), and they run in the order they were scheduled."""

    async def scenario() -> tuple[list[int], set[int]]:
        running = asyncio.get_running_loop()
        deadline = time.monotonic() + 0.02
        other_work: list[str] = []
        ran: list[int] = []
        seen_other_work: set[int] = set()

        def callback(index: int) -> None:
            if index == 0:
                running.call_soon(other_work.append, "ran")
            ran.append(index)
            seen_other_work.add(len(other_work))

        for index in range(500):
            timer.call_at(deadline, callback, index)
        await _until(lambda: len(ran) == 500)
        timer.release(running)
        return ran, seen_other_work

    ran, seen_other_work = run(LOOPS[loop], scenario())  # type: ignore[misc]
    assert ran == list(range(500))
    assert seen_other_work == {0}


@pytest.mark.parametrize("loop", LOOPS)
def test_a_failing_callback_is_reported_and_holds_back_none_after_it(loop: str) -> None:
    async def scenario() -> tuple[list[str], list[object]]:
        running = asyncio.get_running_loop()
        reported: list[object] = []
        running.set_exception_handler(lambda _, context: reported.append(context["exception"]))
        ran: list[str] = []

        def fail() -> None:
            raise RuntimeError("boom")

        deadline = time.monotonic() + 0.005
        timer.call_at(deadline, ran.append, "before")
        timer.call_at(deadline, fail)
        timer.call_at(deadline, ran.append, "after")
        await _until(lambda: len(ran) == 2)
        timer.release(running)
        return ran, reported

    ran, reported = run(LOOPS[loop], scenario())  # type: ignore[misc]
    assert ran == ["before", "after"]
    assert [str(exc) for exc in reported] == ["boom"]


def test_a_released_timer_calls_nothing_more_and_cancels_its_sleepers() -> None:
    async def scenario() -> tuple[list[str], bool]:
        running = asyncio.get_running_loop()
        ran: list[str] = []
        timer.call_at(time.monotonic() + 0.05, ran.append, "late")
        sleeper = asyncio.create_task(timer.sleep_until(time.monotonic() + 0.05))
        await asyncio.sleep(0)
        timer.release(running)
        await asyncio.sleep(0.1)
        return ran, sleeper.cancelled()

    assert run(LOOPS["uvloop"], scenario()) == ([], True)


def scheduler_of(pid: int) -> int:
    return os.sched_getscheduler(pid) & ~os.SCHED_RESET_ON_FORK


@pytest.mark.skipif(os.geteuid() != 0, reason="real-time scheduling needs root here")
@pytest.mark.parametrize(("flags", "policy"), [((), os.SCHED_FIFO), (("-realtime=false",), 0)])
def test_the_server_runs_its_loop_real_time_unless_told_not_to(
    flags: tuple[str, ...], policy: int
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "chaos.faults.server", "-port", str(port), *flags]
    with subprocess.Popen(command, stderr=subprocess.PIPE, text=True) as process:
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/version", timeout=5)
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline and process.poll() is None
                    time.sleep(0.05)
            assert scheduler_of(process.pid) == (policy or os.SCHED_OTHER)
        finally:
            process.terminate()
            _, log = process.communicate(timeout=10)
    expected = "SCHED_FIFO priority 10" if policy else "data path scheduling: normal"
    assert expected in log


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to an unprivileged user")
def test_without_the_right_the_server_says_how_to_get_it() -> None:
    code = (
        "import os, resource\n"
        "from chaos.faults.server import priority\n"
        "resource.setrlimit(resource.RLIMIT_RTPRIO, (0, 0))\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "s = priority.raise_priority()\n"
        "print(s.realtime, s.detail)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.startswith("False normal: real-time scheduling was refused")
    assert "CAP_SYS_NICE" in done.stdout and "RLIMIT_RTPRIO" in done.stdout
    assert priority.PRIORITY == 10
