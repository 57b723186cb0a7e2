"""Deadlines to the tens of microseconds for the data path: one ``timerfd`` per event loop.

An event loop's own timers are coarse: uvloop's (libuv's) count whole milliseconds from a clock
cached when the loop iteration began, asyncio's wait in ``epoll_wait``'s millisecond timeout.
A latency toxic released by them is 0–1 ms late on a quiet machine, and a sleep that fires early
must sleep again for the rest, which costs another millisecond. This module keeps every pending
deadline of a loop in one heap and arms a single Linux ``timerfd`` (``CLOCK_MONOTONIC``, the
clock of ``time.monotonic()``, absolute nanoseconds rounded up) for the earliest; the loop
watches the descriptor like a socket, so the wake-up comes from the kernel's high-resolution
timer at the deadline, however the loop rounds its own timeouts. One wake-up releases every
deadline that is due (``chaos.faults.deadlines``: earliest first, ties in the order scheduled),
so a thousand delayed chunks cost one read of the descriptor, not a thousand timers.

Two ways in: ``sleep_until`` for the stream toxics' coroutines, and ``call_at`` for the UDP
proxy, whose delayed datagrams are callbacks sent from the wake-up itself, without a task each.
Deadlines of ``sleep_until`` farther than ``HORIZON`` seconds away first wait on the loop's own
timer (they are cancelled often and need no precision until the end), so the heap holds mostly
near deadlines. Elsewhere than Linux, or when ``timerfd_create`` is refused, the same heap is
woken by the loop's timer instead, and its check of the clock keeps every release from being
early.

The alarm rings ``SPIN_LEAD`` before the earliest deadline and the wake-up spins on the clock
for the rest: a core left idle through a toxic's 100 ms takes 0.1-0.3 ms to come back on a
virtual machine (its ``haltpoll`` idle state), which a wake-up that early hides. Spinning takes
CPU from the stack under test, so it is bounded (``SpinBudget``: 2 % of each second); past the
budget the alarm rings at the deadline itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import math
import os
import sys
import time
import weakref
from collections.abc import Callable

from chaos.faults.deadlines import DeadlineQueue, Entry

HORIZON = 2.0
"""Seconds: deadlines farther away sleep on the loop's timer until this close."""
SPIN_LEAD = 300e-6
"""Seconds before a deadline the alarm rings, the rest spun (benchmarks/proxy.py: the quiet
latency error's p50 and p99 0.15-0.3 ms lower with it)."""
SPIN_SHARE = 0.02
"""The share of each second the timer may spin: 20 ms, about 65 spun wake-ups a second."""
MAX_SLEEP_SECONDS = 1e9
"""Longer sleeps are clamped: attribute values are int64 milliseconds, event loops are not."""

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _Libc:
    """``timerfd_create`` and ``timerfd_settime`` from the C library, looked up once."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self.create = libc.timerfd_create
        self.create.argtypes = [ctypes.c_int, ctypes.c_int]
        self.create.restype = ctypes.c_int
        self.settime = libc.timerfd_settime
        self.settime.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            ctypes.POINTER(_Itimerspec),
            ctypes.POINTER(_Itimerspec),
        ]
        self.settime.restype = ctypes.c_int


_libc: _Libc | None = None
_unavailable = not sys.platform.startswith("linux")


def _load() -> _Libc | None:
    global _libc, _unavailable
    if _libc is None and not _unavailable:
        try:
            _libc = _Libc()
        except (OSError, AttributeError):
            _unavailable = True
    return _libc


class _TimerfdAlarm:
    """A ``timerfd`` armed at absolute deadlines; the loop watches it like a socket."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, libc: _Libc, fire: Callable[[], None]
    ) -> None:
        fd = libc.create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self.fd = fd
        self._libc = libc
        self._fire = fire
        self._loop = weakref.ref(loop)  # the registry maps loops to timers: no strong cycle
        self._spec = _Itimerspec()
        loop.add_reader(fd, self._readable)
        # A loop dropped without release() still gives its descriptor back; close() detaches
        # this first, so a number the kernel has since reused is never closed.
        self._finalizer = weakref.finalize(loop, _close_fd, fd)

    def arm(self, deadline: float) -> None:
        ns = math.ceil(deadline * 1e9)  # rounded up: the kernel never wakes us before it
        self._spec.it_value.tv_sec, self._spec.it_value.tv_nsec = divmod(max(ns, 1), 10**9)
        if self._libc.settime(self.fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def _readable(self) -> None:
        with contextlib.suppress(BlockingIOError):  # re-armed since: nothing expired yet
            os.read(self.fd, 8)
        self._fire()

    def close(self) -> None:
        self._finalizer.detach()
        loop = self._loop()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self.fd)
        os.close(self.fd)


class _LoopAlarm:
    """The loop's own timer, where there is no ``timerfd``: coarse, and it may fire early,
    which the timer's check of the clock turns into one more short wait."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fire: Callable[[], None]) -> None:
        self._loop = weakref.ref(loop)
        self._fire = fire
        self._handle: asyncio.TimerHandle | None = None

    def arm(self, deadline: float) -> None:
        loop = self._loop()
        if loop is None:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_later(max(deadline - time.monotonic(), 0), self._fired)

    def _fired(self) -> None:
        self._handle = None  # a pending handle would keep the loop alive through the registry
        self._fire()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class SpinBudget:
    """Spinning allowed while what was spun in the current second of the clock is under
    ``share`` of it: a burst of deadlines (a join storm through a latency toxic) spins at most
    ``share`` plus one lead a second, then waits on the alarm alone until the next second."""

    def __init__(self, share: float) -> None:
        self.share = share
        self._second = -1
        self._spent = 0.0

    def allows(self, now: float) -> bool:
        second = int(now)
        if second != self._second:
            self._second, self._spent = second, 0.0
        return self._spent < self.share

    def spend(self, seconds: float) -> None:
        self._spent += seconds


_Release = Callable[[], object] | asyncio.Future[None]
"""What a deadline releases: a callback to call, or a sleeper's future to resolve."""


class PreciseTimer:
    """Every pending deadline of one event loop, behind one alarm armed for the earliest."""

    def __init__(self, loop: asyncio.AbstractEventLoop, libc: _Libc | None) -> None:
        self._loop = weakref.ref(loop)
        self._queue: DeadlineQueue[_Release] = DeadlineQueue()
        self._armed = math.inf
        """The deadline the alarm is armed for (it rings up to ``SPIN_LEAD`` before)."""
        self._budget = SpinBudget(SPIN_SHARE)
        self._alarm: _TimerfdAlarm | _LoopAlarm
        try:
            if libc is None:
                raise OSError("no timerfd here")
            self._alarm = _TimerfdAlarm(loop, libc, self._fire)
        except (OSError, NotImplementedError):  # no timerfd, or a loop without add_reader
            self._alarm = _LoopAlarm(loop, self._fire)

    @property
    def precise(self) -> bool:
        """Woken by the kernel's high-resolution timer, not the loop's."""
        return isinstance(self._alarm, _TimerfdAlarm)

    def __len__(self) -> int:
        return len(self._queue)

    def next_deadline(self) -> float:
        """The earliest pending deadline, ``math.inf`` when none."""
        return self._queue.earliest()

    def call_at(
        self, deadline: float, callback: Callable[..., object], *args: object
    ) -> Entry[_Release]:
        """Call ``callback(*args)`` once ``time.monotonic()`` reaches ``deadline``, never before.

        Callbacks due at one wake-up run in it, earliest deadline first and ties in the order
        they were scheduled. An exception goes to the loop's exception handler, not to the
        callbacks after it. ``cancel()`` on the returned entry unschedules it."""
        return self._push(deadline, functools.partial(callback, *args) if args else callback)

    async def sleep_until(self, deadline: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = self._push(deadline, fut)
        try:
            await fut
        finally:
            entry.cancel()  # a cancelled sleep wakes nothing (a no-op once released)

    def _push(self, deadline: float, release: _Release) -> Entry[_Release]:
        entry = self._queue.push(deadline, release)
        if deadline < self._armed:
            self._arm(deadline)
        return entry

    def _arm(self, deadline: float) -> None:
        spin = self._budget.allows(time.monotonic())
        self._alarm.arm(deadline - SPIN_LEAD if spin else deadline)
        self._armed = deadline

    def _fire(self) -> None:
        self._armed = math.inf
        now = time.monotonic()
        earliest = self._queue.earliest()
        if now < earliest <= now + SPIN_LEAD and self._budget.allows(now):
            started = now
            while (now := time.monotonic()) < earliest:
                pass
            self._budget.spend(now - started)
        for release in self._queue.pop_due(now):
            if isinstance(release, asyncio.Future):
                if not release.done():
                    release.set_result(None)
                continue
            try:
                release()
            except Exception as exc:  # one failing callback must not hold back the others
                loop = self._loop()
                if loop is not None:
                    loop.call_exception_handler(
                        {"message": "precise timer callback failed", "exception": exc}
                    )
        earliest = self._queue.earliest()
        if earliest < self._armed:
            self._arm(earliest)

    def close(self) -> None:
        self._alarm.close()
        for release in self._queue.drain():
            if isinstance(release, asyncio.Future):
                release.cancel()


_timers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, PreciseTimer] = (
    weakref.WeakKeyDictionary()
)


def timer_for(loop: asyncio.AbstractEventLoop) -> PreciseTimer:
    """The loop's timer, made on first use (on the loop's own timer where there is no
    ``timerfd``: never early, but as coarse as the loop)."""
    timer = _timers.get(loop)
    if timer is None:
        timer = _timers[loop] = PreciseTimer(loop, _load())
    return timer


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def release(loop: asyncio.AbstractEventLoop) -> None:
    """Close ``loop``'s timer and wake nothing more (a server closing on that loop)."""
    timer = _timers.pop(loop, None)
    if timer is not None:
        timer.close()


async def sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline`` — never return before it."""
    while (left := deadline - time.monotonic()) > HORIZON:
        await asyncio.sleep(min(left - HORIZON / 2, MAX_SLEEP_SECONDS))
    if left > 0:
        await timer_for(asyncio.get_running_loop()).sleep_until(deadline)


def call_at(deadline: float, callback: Callable[..., object], *args: object) -> Entry[_Release]:
    """``callback(*args)`` from the running loop at ``deadline`` (``time.monotonic()``), never
    before, in deadline order: ``PreciseTimer.call_at`` on the loop's timer.

    Unlike ``sleep_until`` there is no horizon: a delayed datagram is seldom cancelled, so a far
    deadline costs only its place in the heap."""
    return timer_for(asyncio.get_running_loop()).call_at(deadline, callback, *args)
