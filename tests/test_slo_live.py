"""An SLO's live state: no verdict before its window has closed, whatever the running value."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chaos.metrics.series import Series, SeriesKey
from chaos.slo.evaluate import evaluate
from chaos.slo.live import SETTLE, LiveState, live_state
from chaos.slo.objective import (
    Comparison,
    Condition,
    Context,
    Objective,
    Ratio,
    Recovery,
    Selector,
    Threshold,
)
from chaos.slo.window import Anchor, Interval, Timeline, WindowSpec

OK, ALL = "joins_ok_total", "joins_total"
JOIN_RATIO = Ratio(Selector.of(OK), Selector.of(ALL))
TIMELINE = Timeline(
    Interval(0.0, 100.0),
    {"storm": Interval(10.0, 40.0), "slow-edge": Interval(20.0, 30.0), "baseline": Interval(0, 10)},
)


def _ctx(ok: list[float], all_: list[float]) -> Context:
    """Counters sampled each second from t=0."""

    def read(name: str, matchers: object, start: float, end: float) -> list[Series]:
        values = ok if name == OK else all_
        kept = [(float(t), v) for t, v in enumerate(values) if start <= t <= end]
        if not kept:
            return []
        return [Series(SeriesKey.of(name), tuple(t for t, _ in kept), tuple(v for _, v in kept))]

    return Context(read)


def _slo() -> Objective:
    return Objective(
        "join-success",
        JOIN_RATIO,
        Threshold(Comparison.ABOVE, 0.99),
        WindowSpec(Anchor.DURING, "storm"),
    )


@given(
    st.lists(st.integers(0, 5), min_size=60, max_size=60),
    st.lists(st.integers(0, 5), min_size=60, max_size=60),
    st.floats(0, 60),
)
def test_an_open_window_never_shows_a_verdict(oks: list[int], fails: list[int], now: float) -> None:
    ok, all_, total_ok, total = [], [], 0.0, 0.0
    for good, bad in zip(oks, fails, strict=True):
        total_ok += good
        total += good + bad
        ok.append(total_ok)
        all_.append(total)
    slo = _slo()
    seen = [s for s in range(60) if s <= now]  # what had been scraped by `now`
    ctx = _ctx([ok[s] for s in seen], [all_[s] for s in seen])
    state = live_state(slo, evaluate(slo, TIMELINE, ctx), TIMELINE, now).state
    if now < 10.0:
        assert state is LiveState.WAITING
    elif now < 40.0 + SETTLE:
        assert state in (LiveState.PENDING, LiveState.ON_TRACK, LiveState.AT_RISK)
    else:
        assert state.final


def test_running_value_is_on_track_or_at_risk() -> None:
    slo = _slo()
    good = _ctx([float(t) for t in range(30)], [float(t) for t in range(30)])
    bad = _ctx([t / 2 for t in range(30)], [float(t) for t in range(30)])
    assert (
        live_state(slo, evaluate(slo, TIMELINE, good), TIMELINE, 29.0).state is LiveState.ON_TRACK
    )
    assert live_state(slo, evaluate(slo, TIMELINE, bad), TIMELINE, 29.0).state is LiveState.AT_RISK
    closed = _ctx([float(t) for t in range(60)], [float(t) for t in range(60)])
    final = live_state(slo, evaluate(slo, TIMELINE, closed), TIMELINE, 50.0)
    assert final.state is LiveState.PASS and final.closes == 40.0


def test_a_recovery_is_pending_until_it_recovers_or_its_limit_has_passed() -> None:
    recovery = Recovery(
        "recovered",
        (Condition("join-success", JOIN_RATIO, Threshold(Comparison.ABOVE, 0.99)),),
        after="slow-edge",
        within=5.0,
        hold=3.0,
        measure=3.0,
    )
    # every join fails until t=40, then every join succeeds
    ok = [0.0] * 41 + [float(t - 40) for t in range(41, 100)]
    all_ = [float(t) for t in range(100)]

    def at(now: float) -> LiveState:
        seen = int(now) + 1
        ctx = _ctx(ok[:seen], all_[:seen])
        return live_state(recovery, evaluate(recovery, TIMELINE, ctx), TIMELINE, now).state

    assert at(25.0) is LiveState.WAITING  # slow-edge has not ended
    assert at(31.0) is LiveState.PENDING
    assert at(30.0 + 5.0 + 3.0 + SETTLE + 1) is LiveState.FAIL  # its limit passed
