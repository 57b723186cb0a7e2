"""An SLO's state while its run goes on: no verdict until its window has closed.

Evaluated mid-window, a ratio of joins is low while joins are still in flight, and a stall
ratio is zero before anyone stalls; printing that as ``fail`` or ``pass`` is a verdict the end
of the run may overturn (the demo once showed ``join-success=fail`` for 10 s and ended at 1.0).
So an SLO is ``waiting`` before its window opens, ``pending`` while open without data, ``on
track`` or ``at risk`` while open with data (the running value on the passing side or not),
and ``pass``/``fail``/``no data`` only once its window has closed and the last scrape in it
has come in. A recovery SLO is decided as soon as it recovered, or once its limit has passed.
Pure: the results come from the evaluator, the timeline and ``now`` from the caller.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from chaos.slo.evaluate import SloResult, Status, t0_of
from chaos.slo.objective import Objective, OnAir, Recovery, Slo
from chaos.slo.window import Anchor, Timeline, WindowSpec, resolve

SETTLE = 2.0
"""Seconds after a window closes before its samples are all in (a scrape, and one late)."""


class LiveState(enum.Enum):
    WAITING = "waiting"
    PENDING = "pending"
    ON_TRACK = "on track"
    AT_RISK = "at risk"
    PASS = "pass"
    FAIL = "fail"
    NO_DATA = "no data"

    @property
    def final(self) -> bool:
        return self in (LiveState.PASS, LiveState.FAIL, LiveState.NO_DATA)


_FINAL = {
    Status.PASS: LiveState.PASS,
    Status.FAIL: LiveState.FAIL,
    Status.NO_DATA: LiveState.NO_DATA,
    Status.INCONCLUSIVE: LiveState.NO_DATA,
}


@dataclass(frozen=True, slots=True)
class SloNow:
    result: SloResult
    state: LiveState
    opens: float
    """Wall-clock time its window opens (a recovery's: when its fault ends)."""
    closes: float
    """Wall-clock time it is decided at the latest."""

    @property
    def name(self) -> str:
        return self.result.name


def _objective(slo: Objective, result: SloResult, timeline: Timeline, now: float) -> SloNow:
    interval = resolve(slo.window, timeline)
    if now < interval.start:
        state = LiveState.WAITING
    elif now < interval.end + SETTLE:
        if result.value is None:
            state = LiveState.PENDING
        else:
            state = LiveState.ON_TRACK if slo.threshold.holds(result.value) else LiveState.AT_RISK
    else:
        state = _FINAL[result.status]
    return SloNow(result, state, interval.start, interval.end)


def _recovery(slo: Recovery, result: SloResult, timeline: Timeline, now: float) -> SloNow:
    after = resolve(WindowSpec(Anchor.AFTER, slo.after), timeline)
    deadline = min(after.start + slo.within + slo.hold, after.end)
    if now < after.start:
        state = LiveState.WAITING
    elif result.status is Status.PASS:
        state = LiveState.PASS
    elif result.value is not None:  # it recovered, but later than it may
        state = LiveState.FAIL
    elif now < deadline + SETTLE:
        state = LiveState.PENDING
    else:
        state = _FINAL[result.status]
    return SloNow(result, state, after.start, deadline)


def _on_air(slo: OnAir, result: SloResult, timeline: Timeline, now: float) -> SloNow:
    """Decided once an ear heard the host within the limit; otherwise only at the run's end:
    ears report what they heard seconds after they heard it (with their workers' snapshots),
    so an ear that heard the host in time may still report. Nobody heard yet past the limit
    is at risk, not failed."""
    t0 = t0_of(timeline)
    deadline = min(t0 + slo.within, timeline.run.end)
    if now < t0:
        state = LiveState.WAITING
    elif result.passed:
        state = LiveState.PASS
    elif now >= timeline.run.end + SETTLE:
        state = _FINAL[result.status]
    elif result.value is None and now < deadline:
        state = LiveState.PENDING
    else:
        state = LiveState.AT_RISK
    return SloNow(result, state, t0, timeline.run.end)


def live_state(slo: Slo, result: SloResult, timeline: Timeline, now: float) -> SloNow:
    """Where ``slo`` stands at ``now`` (wall clock), given its result evaluated at ``now``."""
    if isinstance(slo, Recovery):
        return _recovery(slo, result, timeline, now)
    if isinstance(slo, OnAir):
        return _on_air(slo, result, timeline, now)
    return _objective(slo, result, timeline, now)
