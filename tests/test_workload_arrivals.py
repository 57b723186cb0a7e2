"""Arrival curves, sessions/churn and the reconnect policy: seeded, pure, exact."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.errors import InvalidInput
from chaos.workload.arrivals import (
    Churn,
    Curve,
    Join,
    Paced,
    Ramp,
    Schedule,
    Sessions,
    Storm,
    build_schedule,
    load_curve,
)
from chaos.workload.reconnect import FULL_JITTER, NO_JITTER, ReconnectPolicy, RetryKind
from chaos.workload.swarm import partition, peak_concurrency

seeds = st.integers(0, 2**32)


@given(seeds, st.integers(0, 300), st.floats(0, 100), st.floats(0, 10))
def test_storm_is_seeded_and_stays_in_its_window(
    seed: int, n: int, at: float, spread: float
) -> None:
    a = build_schedule([Storm(n, at=at, spread=spread)], seed)
    assert a == build_schedule([Storm(n, at=at, spread=spread)], seed)
    assert len(a.joins) == n
    assert all(at <= j.at <= at + spread for j in a.joins)
    assert [j.at for j in a.joins] == sorted(j.at for j in a.joins)


def test_different_seeds_give_different_storms() -> None:
    phase = [Storm(50, spread=2.0)]
    assert build_schedule(phase, 1) != build_schedule(phase, 2)


@given(seeds, st.integers(1, 500), st.floats(0, 100), st.floats(0.1, 100))
def test_ramp_has_one_join_per_equal_slot(seed: int, n: int, start: float, length: float) -> None:
    joins = build_schedule([Ramp(n, start, start + length)], seed).joins
    step = length / n
    for i, join in enumerate(joins):  # a constant rate: the i-th join falls in the i-th slot
        assert start + i * step - 1e-9 <= join.at <= start + (i + 1) * step + 1e-9


def test_paced_phases_get_their_own_gate() -> None:
    schedule = build_schedule([Paced(3, max_in_flight=2, at=1.0), Storm(2), Paced(1, 5)], 0)
    assert schedule.gates == (2, 5)
    assert [j.at for j in build_schedule([Paced(3, rate=2.0, at=1.0)], 0).joins] == [1, 1.5, 2]
    assert build_schedule([Paced(2)], 0).gates == ()
    assert sorted((j.at, -1 if j.gate is None else j.gate) for j in schedule.joins) == [
        (0.0, -1), (0.0, -1), (0.0, 1), (1.0, 0), (1.0, 0), (1.0, 0),
    ]  # fmt: skip


@st.composite
def curves(draw: st.DrawFn) -> Curve:
    times = sorted(draw(st.lists(st.floats(0, 100), min_size=1, max_size=8)))
    counts = draw(st.lists(st.floats(0, 60), min_size=len(times), max_size=len(times)))
    return Curve(tuple(zip(times, counts, strict=True)))


@given(curves(), seeds)
def test_a_curve_replays_its_audience_exactly_at_every_point(curve: Curve, seed: int) -> None:
    joins = build_schedule([curve], seed).joins
    for i, (t, n) in enumerate(curve.points):
        last_at_t = i + 1 == len(curve.points) or curve.points[i + 1][0] > t
        if not last_at_t:
            continue  # a vertical step: only the last count at a time holds after it
        present = sum(1 for j in joins if j.at <= t and (j.leave is None or j.leave > t))
        assert present == math.floor(n)


def test_a_step_too_short_for_a_float_still_joins_after_its_start() -> None:
    """Found by the property above: over a step of 5e-324 s the crossing's product underflows
    to the step's start, where the curve still says nobody is there."""
    joins = build_schedule([Curve(((0.0, 0.0), (5e-324, 2.0)))], 0).joins
    assert len(joins) == 2 and all(0.0 < j.at <= 5e-324 for j in joins)


def test_curve_rises_at_whole_listener_crossings() -> None:
    joins = build_schedule([Curve(((0.0, 0.0), (10.0, 4.0)))], 0).joins
    assert [j.at for j in joins] == [2.5, 5.0, 7.5, 10.0]
    falls = build_schedule([Curve(((0.0, 2.0), (10.0, 0.0)))], 0).joins
    assert sorted(j.leave for j in falls if j.leave is not None) == [5.0, 10.0]


def test_load_curve_reads_header_comments_and_rows(tmp_path: Path) -> None:
    path = tmp_path / "launch.csv"
    path.write_text("time,listeners\n# replay of the launch\n0,0\n30, 1200\n\n90,800\n")
    assert load_curve(path).points == ((0.0, 0.0), (30.0, 1200.0), (90.0, 800.0))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0,0\n10,abc\n", ":2: not a number"),
        ("0,0\n10\n", ":2: expected 2 columns"),
        ("0,0\n10,5\n5,3\n", ":3: time 5.0 is before"),
        ("0,-1\n", ":1: time and listeners must be finite and >= 0"),
        ("time,listeners\n", "no rows"),
    ],
)
def test_bad_curve_files_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InvalidInput, match=message):
        load_curve(path)


def test_missing_curve_file_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        load_curve(tmp_path / "nope.csv")


def _present(joins: tuple[Join, ...], t: float) -> int:
    return sum(1 for j in joins if j.at <= t and (j.leave is None or j.leave > t))


@given(seeds, st.integers(1, 100), st.floats(1, 60), st.booleans())
def test_sessions_leave_after_their_length(seed: int, n: int, length: float, exp: bool) -> None:
    until = 300.0
    joins = build_schedule([Storm(n)], seed, Sessions(length, exponential=exp), until=until).joins
    assert len(joins) == n
    assert all(j.leave is None or j.at < j.leave < until for j in joins)
    if not exp:
        assert all(j.leave == j.at + length for j in joins)


def test_exponential_sessions_have_the_given_mean() -> None:
    joins = build_schedule([Storm(400)], 3, Sessions(10.0, exponential=True)).joins
    leaves = [j.leave for j in joins if j.leave is not None]
    assert len(leaves) == 400
    assert 8 < sum(leaves) / len(leaves) < 12


@settings(deadline=None)
@given(seeds, st.integers(1, 80), st.floats(0.05, 1), st.floats(1, 30))
def test_churn_keeps_the_audience_while_listeners_come_and_go(
    seed: int, n: int, share: float, every: float
) -> None:
    until = 120.0
    joins = build_schedule([Storm(n)], seed, churn=Churn(share, every), until=until).joins
    for t in (0.0, every * 1.5, 60.0, 119.0):  # with zero think time each leaver is back at once
        assert _present(joins, t) == n
    churned = sum(1 for j in joins if j.leave is not None)
    assert churned >= round(share * n)  # at least the first period's share left and came back


def test_churn_with_think_time_dips_the_audience() -> None:
    joins = build_schedule([Storm(100)], 5, churn=Churn(0.5, 10.0, think=5.0), until=60.0).joins
    assert min(_present(joins, t / 10) for t in range(600)) < 100
    assert _present(joins, 0.0) == 100


@pytest.mark.parametrize(
    "bad",
    [
        lambda: build_schedule([Storm(1)], 0, churn=Churn(0.1, 10)),
        lambda: Sessions(0),
        lambda: Churn(1.5, 10),
        lambda: Churn(0.5, 0),
        lambda: build_schedule([Paced(1, 0)], 0),
        lambda: build_schedule([Paced(1, rate=0)], 0),
        lambda: ReconnectPolicy(jitter=2),
        lambda: Curve(((5.0, 1.0), (1.0, 2.0))),
    ],
)
def test_invalid_workload_parameters_are_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        bad()  # type: ignore[operator]


@given(st.integers(1, 40), st.floats(0.01, 5), st.floats(1, 100), st.floats(0, 1), seeds)
def test_backoff_grows_to_its_cap_within_its_jitter(
    attempt: int, base: float, cap: float, jitter: float, seed: int
) -> None:
    policy = ReconnectPolicy(RetryKind.BACKOFF, delay=base, cap=cap, jitter=jitter)
    step = min(cap, base * 2 ** (attempt - 1))
    delay = policy.next_delay(attempt, random.Random(seed))
    assert delay is not None
    assert step * (1 - jitter) - 1e-9 <= delay <= step + 1e-9
    if jitter == NO_JITTER:
        assert math.isclose(delay, step)


def test_reconnect_kinds_and_max_attempts() -> None:
    rng = random.Random(1)
    assert ReconnectPolicy().next_delay(1, rng) is None
    assert ReconnectPolicy(RetryKind.IMMEDIATE).next_delay(9, rng) == 0.0
    fixed = ReconnectPolicy(RetryKind.FIXED, delay=2.5, max_attempts=2)
    assert [fixed.next_delay(a, rng) for a in (1, 2, 3)] == [2.5, 2.5, None]
    huge = ReconnectPolicy(RetryKind.BACKOFF, delay=1, cap=30, multiplier=1e300)
    assert huge.next_delay(10_000, rng) == 30  # no overflow however long the outage


def test_full_jitter_spreads_a_reconnect_storm() -> None:
    policy = ReconnectPolicy(RetryKind.BACKOFF, delay=1.0, cap=8.0, jitter=FULL_JITTER)
    rng = random.Random(5)
    delays = [policy.next_delay(4, rng) for _ in range(1000)]
    assert all(d is not None for d in delays)
    spread = sorted(d for d in delays if d is not None)
    assert spread[100] < 1.5 and spread[900] > 6.5  # near-uniform over [0, 8)


def test_partition_shares_gate_limits_and_deals_every_join() -> None:
    schedule = build_schedule([Paced(10, max_in_flight=3), Storm(7)], 0)
    shares = partition(schedule, 2)
    assert sorted(i for share, _ in shares for i, _ in share) == list(range(17))
    assert [gates for _, gates in shares] == [{0: 2}, {0: 1}]
    single = partition(build_schedule([Paced(5, max_in_flight=1)], 0), 2)
    assert [len(share) for share, _ in single] == [5, 0]
    assert single[1][1] == {}


@given(
    st.lists(st.integers(0, 5), max_size=60),
    st.integers(1, 4),
)
def test_partition_gives_every_worker_an_even_share_of_every_crowd(
    crowds: list[int], workers: int
) -> None:
    """Cohorts share the workers: each crowd is dealt round-robin on its own, so no worker
    holds more than one listener of a crowd above another worker."""
    schedule = Schedule(tuple(Join(float(i)) for i in range(len(crowds))))
    shares = partition(schedule, workers, crowds)
    assert sorted(i for share, _ in shares for i, _ in share) == list(range(len(crowds)))
    for crowd in set(crowds):
        held = [sum(1 for i, _ in share if crowds[i] == crowd) for share, _ in shares]
        assert max(held) - min(held) <= 1, (crowd, held)


def test_peak_concurrency_counts_overlapping_sessions() -> None:
    joins = [Join(0, 5), Join(1, 2), Join(2, None), Join(6, None), Join(1.5, 3)]
    assert peak_concurrency(list(enumerate(joins))) == 3
