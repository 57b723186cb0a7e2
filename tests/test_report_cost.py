"""What each fault cost: an SLO's value in the fault's window against a reference window."""

from __future__ import annotations

import pytest

from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.report.cost import FaultWindow, fault_costs
from chaos.slo.evaluate import Status
from chaos.slo.objective import Comparison, Context, Objective, Ratio, Selector, Threshold

T0 = 1_000.0
OK, ALL = "joins_ok_total", "joins_total"
SLO = Objective(
    "join-success", Ratio(Selector.of(OK), Selector.of(ALL)), Threshold(Comparison.ABOVE, 0.9)
)


def _store(good: float, bad: float, faulty: list[tuple[float, float]], *, from_: float) -> Context:
    """Joins each second from ``from_`` (T0 time): 10 a second, ``bad`` of them failing while a
    span in ``faulty`` is on, ``good`` otherwise failing."""
    store = SeriesStore()
    ok = total = 0.0
    for t in range(-10, 60):
        if t > from_:
            failing = bad if any(a <= t < b for a, b in faulty) else good
            ok += 10 - failing
            total += 10
        store.append(SeriesKey.of(OK), T0 + t, ok)
        store.append(SeriesKey.of(ALL), T0 + t, total)
    return Context(store.range)


def test_a_fault_against_the_baseline_with_the_time_to_recover() -> None:
    ctx = _store(0, 5, [(10, 25)], from_=-10)
    [cost] = fault_costs(
        [SLO], [FaultWindow("cut", 10, 25)], t0=T0, baseline=10, run_end=59, ctx=ctx
    )
    [row] = cost.slos
    assert row.reference == pytest.approx(1.0) and row.reference_is_baseline
    assert row.during == pytest.approx(0.5, abs=0.05)
    assert row.change == pytest.approx(-0.5, abs=0.05) and row.worse is True
    assert row.holds_during is False
    assert row.recovery_status is Status.PASS
    assert row.recovered_after is not None and 0 < row.recovered_after <= 6


def test_without_baseline_data_the_reference_is_the_stretch_before_the_fault() -> None:
    ctx = _store(0, 5, [(20, 30)], from_=0)  # a launch: nobody joins before T0
    [cost] = fault_costs(
        [SLO], [FaultWindow("cut", 20, 30)], t0=T0, baseline=10, run_end=59, ctx=ctx
    )
    [row] = cost.slos
    assert not row.reference_is_baseline and row.reference_window == (0.0, 20.0)
    assert row.reference == pytest.approx(1.0, abs=0.05)  # its last second is the fault's first


def test_no_reference_when_another_fault_is_on_at_the_start() -> None:
    ctx = _store(0, 5, [(10, 40)], from_=0)
    faults = [FaultWindow("first", 10, 40), FaultWindow("second", 20, 30)]
    first, second = fault_costs([SLO], faults, t0=T0, baseline=10, run_end=59, ctx=ctx)
    assert first.slos[0].reference_window == (0.0, 10.0)
    assert second.slos[0].reference is None and second.slos[0].worse is None
    assert second.slos[0].change is None


def test_a_fault_that_never_ended_has_no_recovery() -> None:
    ctx = _store(0, 5, [(10, 60)], from_=-10)
    [cost] = fault_costs(
        [SLO], [FaultWindow("cut", 10, None)], t0=T0, baseline=10, run_end=59, ctx=ctx
    )
    assert cost.slos[0].recovered_after is None and cost.slos[0].recovery_status is Status.NO_DATA
