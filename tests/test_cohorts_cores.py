"""The cohorts' pure cores: the seeded split of an audience and the bootstrap interval code."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.slo.differential import (
    Bound,
    DiffStatus,
    Direction,
    QuantileStat,
    RatioStat,
    compare,
)
from chaos.workload.arrivals import Join, Schedule, Storm, build_schedule
from chaos.workload.cohorts import (
    Cohort,
    arrivals_by,
    cohort_schedule,
    control_name,
    dealt_cohort,
    is_control,
    split_audience,
)

times = st.lists(st.floats(0, 120, allow_nan=False), min_size=0, max_size=400)
shares = st.sampled_from([0.5, 0.25, 0.1, 0.33, 0.05, 0.49])
seeds = st.integers(0, 2**64 - 1)


def _schedule(at: list[float]) -> Schedule:
    return Schedule(tuple(Join(t) for t in at))


@given(times, shares, seeds)
def test_the_cohorts_have_the_same_size_and_partition_the_audience(
    at: list[float], share: float, seed: int
) -> None:
    schedule = _schedule(at)
    split = split_audience(schedule, share, seed)
    assert len(split.control) == len(split.experiment) == int(len(at) * share + 1e-9)
    every = sorted(split.control + split.experiment + split.rest)
    assert every == list(range(len(at)))
    if share == 0.5:
        assert len(split.rest) == len(at) % 2


@given(st.integers(1, 600), shares, st.text(max_size=8))
def test_users_dealt_one_at_a_time_keep_both_cohorts_on_the_arrival_curve(
    users: int, share: float, seed: str
) -> None:
    """Locust's workers deal cohorts as users start, in arrival order: after every user the
    cohorts differ by at most one, each holds ``share`` of the users within one, and the same
    seed deals the same way."""
    dealt = [dealt_cohort(n, share, seed) for n in range(users)]
    control = experiment = 0
    for n, cohort in enumerate(dealt, start=1):
        control += cohort is Cohort.CONTROL
        experiment += cohort is Cohort.EXPERIMENT
        assert abs(control - experiment) <= 1
        assert abs(control - n * share) <= 1 and abs(experiment - n * share) <= 1
    assert dealt == [dealt_cohort(n, share, seed) for n in range(users)]
    if share == 0.5:
        assert Cohort.REST not in dealt


def test_the_dealt_pairs_are_a_seeded_choice_not_a_fixed_alternation() -> None:
    firsts = {dealt_cohort(0, 0.5, str(seed)) for seed in range(40)}
    assert firsts == {Cohort.CONTROL, Cohort.EXPERIMENT}


@given(times, shares, seeds)
def test_the_cohorts_arrival_curves_differ_by_at_most_one_listener_at_any_time(
    at: list[float], share: float, seed: int
) -> None:
    schedule = _schedule(at)
    split = split_audience(schedule, share, seed)
    for t in sorted(set(at)):
        control = arrivals_by(schedule, split.control, t)
        experiment = arrivals_by(schedule, split.experiment, t)
        assert abs(control - experiment) <= 1
        # and each follows the whole audience's curve, scaled by the share, up to rounding
        whole = arrivals_by(schedule, tuple(range(len(at))), t)
        if split.size:
            assert abs(control - whole * split.size / len(at)) <= 2


@given(times, shares, seeds)
def test_the_split_is_seeded(at: list[float], share: float, seed: int) -> None:
    schedule = _schedule(at)
    assert split_audience(schedule, share, seed) == split_audience(schedule, share, seed)


def test_different_seeds_split_differently() -> None:
    schedule = build_schedule([Storm(400, 0.0, 2.0)], seed=1)
    splits = {split_audience(schedule, 0.5, seed).control for seed in range(5)}
    assert len(splits) == 5


def test_a_storm_splits_into_two_storms_of_the_same_shape() -> None:
    schedule = build_schedule([Storm(1000, 0.0, 2.0)], seed=7)
    split = split_audience(schedule, 0.5, 7)
    control = sorted(schedule.joins[i].at for i in split.control)
    experiment = sorted(schedule.joins[i].at for i in split.experiment)
    assert len(control) == len(experiment) == 500
    assert max(abs(a - b) for a, b in zip(control, experiment, strict=True)) < 0.05


def test_labels_and_gates() -> None:
    schedule = Schedule(tuple(Join(float(t), gate=0) for t in range(10)), gates=(5,))
    split = split_audience(schedule, 0.5, 3)
    labels = split.labels(10)
    assert labels.count(Cohort.CONTROL) == labels.count(Cohort.EXPERIMENT) == 5
    assert all(split.cohort_of(i) is labels[i] for i in range(10))
    part = cohort_schedule(schedule, split.control, 0.5)
    assert part.gates == (2,) or part.gates == (3,)
    assert len(part.joins) == 5
    assert cohort_schedule(schedule, split.control, 0.01).gates == (1,)


@pytest.mark.parametrize("share", [0.0, -0.1, 0.51, 1.0])
def test_a_control_share_outside_0_to_50_percent_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="at most 50%"):
        split_audience(_schedule([1.0, 2.0]), share, 1)


def test_control_names() -> None:
    assert control_name("listener->edge") == "listener->edge~control"
    assert is_control(control_name("edge-1")) and not is_control("edge-1")


# ----------------------------------------------------------------------------- intervals

values = st.lists(st.floats(0, 10, allow_nan=False), min_size=1, max_size=200)
bounds = st.builds(Bound, st.sampled_from(list(Direction)), st.floats(-5, 5, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(values, values, bounds, seeds)
def test_the_interval_holds_the_point_estimate_and_the_verdict_follows_it(
    control: list[float], experiment: list[float], bound: Bound, seed: int
) -> None:
    result = compare(QuantileStat(0.95), control, experiment, bound, seed=seed, resamples=200)
    assert result.low is not None and result.high is not None and result.difference is not None
    assert result.low <= result.difference <= result.high
    inside = bound.holds(result.low) and bound.holds(result.high)
    outside = not bound.holds(result.low) and not bound.holds(result.high)
    expected = (
        DiffStatus.PASS if inside else DiffStatus.FAIL if outside else DiffStatus.INCONCLUSIVE
    )
    assert result.status is expected
    assert result.listeners == (len(control), len(experiment))


@settings(max_examples=30, deadline=None)
@given(values, values, seeds)
def test_the_bootstrap_is_seeded(control: list[float], experiment: list[float], seed: int) -> None:
    bound = Bound(Direction.AT_MOST, 0.5)
    first = compare(QuantileStat(0.5), control, experiment, bound, seed=seed, resamples=100)
    again = compare(QuantileStat(0.5), control, experiment, bound, seed=seed, resamples=100)
    assert first == again


@settings(max_examples=30, deadline=None)
@given(values, st.floats(-3, 3, allow_nan=False), seeds)
def test_a_shifted_copy_differs_by_the_shift_with_an_interval_of_zero_width(
    control: list[float], shift: float, seed: int
) -> None:
    """Resampling a cohort and its shifted copy independently still leaves the point estimate
    exactly the shift; the interval holds it."""
    experiment = [x + shift for x in control]
    result = compare(
        QuantileStat(0.95), control, experiment, Bound(Direction.AT_MOST, 10), seed=seed
    )
    assert result.difference == pytest.approx(shift, abs=1e-9)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 5), st.integers(1, 5)), min_size=1, max_size=100),
    seeds,
)
def test_a_ratio_is_a_ratio_of_sums_and_identical_cohorts_differ_by_zero(
    rows: list[tuple[int, int]], seed: int
) -> None:
    pairs = [(float(a), float(b)) for a, b in rows]
    result = compare(RatioStat(), pairs, pairs, Bound(Direction.AT_LEAST, -0.005), seed=seed)
    total = sum(a for a, _ in rows) / sum(b for _, b in rows)
    assert result.control == pytest.approx(total) and result.experiment == pytest.approx(total)
    assert result.difference == 0.0
    assert result.low is not None and result.high is not None
    assert result.low <= 0.0 <= result.high


def test_empty_cohorts_are_no_data_never_a_pass() -> None:
    bound = Bound(Direction.AT_MOST, 0.5)
    assert compare(QuantileStat(0.95), [], [1.0], bound, seed=1).status is DiffStatus.NO_DATA
    assert compare(RatioStat(), [(0.0, 0.0)], [(1.0, 1.0)], bound, seed=1).status is (
        DiffStatus.NO_DATA
    )


def test_the_interval_covers_a_known_shift_about_as_often_as_it_claims() -> None:
    """Two cohorts of 300 listeners drawn from one distribution, the experiment's shifted by
    0.3 s: the 95 % interval of the p95 difference holds 0.3 in >= 88 % of 100 draws, and the
    verdict on `worse_by_at_most: 0.5` is pass or inconclusive, never fail."""
    rng = random.Random(5)
    covered = 0
    for draw in range(100):
        control = [rng.lognormvariate(-1.0, 0.5) for _ in range(300)]
        experiment = [rng.lognormvariate(-1.0, 0.5) + 0.3 for _ in range(300)]
        result = compare(
            QuantileStat(0.95), control, experiment, Bound(Direction.AT_MOST, 0.5), seed=draw
        )
        assert result.low is not None and result.high is not None
        covered += result.low <= 0.3 <= result.high
        assert result.status is not DiffStatus.FAIL
    assert covered >= 88


def test_a_wholly_outside_interval_fails_and_a_straddling_one_is_inconclusive() -> None:
    control = [0.1 + 0.001 * i for i in range(200)]
    slow = [x + 2.0 for x in control]
    bound = Bound(Direction.AT_MOST, 0.5)
    assert compare(QuantileStat(0.95), control, slow, bound, seed=1).status is DiffStatus.FAIL
    assert compare(QuantileStat(0.95), control, control, bound, seed=1).status is DiffStatus.PASS
    rng = random.Random(2)
    wide_c = [rng.expovariate(1.0) for _ in range(30)]
    wide_e = [rng.expovariate(1.0) + 0.5 for _ in range(30)]
    assert compare(QuantileStat(0.95), wide_c, wide_e, bound, seed=1).status is (
        DiffStatus.INCONCLUSIVE
    )
