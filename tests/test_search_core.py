"""The search core with fast, deterministic judges: finding, shrinking, voting, budgets."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from search_support import SPACE, noisy_judge, planted, planted_judge, stable_judge

from chaos.errors import InfrastructureError, InvalidInput
from chaos.search.engine import MAX_ATTEMPTS, Budget, Judge, Search
from chaos.search.schedule import FaultSpec, Schedule
from chaos.search.space import SearchSpace
from chaos.search.strategies import fault_schedules
from chaos.search.vote import Policy, Run, Verdict, Vote


def _by_kind(schedule: Schedule) -> dict[str, FaultSpec]:
    return {f.kind: f for f in schedule.faults}


def test_planted_weakness_shrinks_to_exactly_its_two_faults_near_the_thresholds() -> None:
    result = Search(
        SPACE, planted_judge, policy=Policy(1), budget=Budget(120, max_examples=300), seed=3
    ).run()
    assert result.minimal is not None
    faults = _by_kind(result.minimal)
    assert len(result.minimal.faults) == 2 and set(faults) == {"latency", "loss"}
    assert faults["latency"].link != faults["loss"].link
    assert 301 <= faults["latency"].magnitude <= 310  # ms, just past 300 ms
    assert 21 <= faults["loss"].magnitude <= 23  # tenths of a percent, just past 2 %
    assert all(f.for_ == 1 for f in result.minimal.faults)
    assert faults["latency"].overlaps(faults["loss"])
    assert result.vote is not None and result.vote.verdict is Verdict.FAILS
    assert result.confirmation is not None and result.confirmation.fails == 1
    assert "minimal failing schedule: " in result.summary()


def test_a_stable_stack_gives_no_failing_schedule_with_the_count_of_runs() -> None:
    calls: list[Schedule] = []

    def judge(schedule: Schedule, seed: int, timeout: float) -> Run:
        calls.append(schedule)
        return stable_judge(schedule, seed, timeout)

    result = Search(
        SPACE, judge, policy=Policy(3), budget=Budget(120, max_examples=40), seed=1
    ).run()
    assert result.minimal is None and result.vote is None
    assert result.stats.runs == len(calls) == 2 * result.stats.judged  # 2 holds settle 3-vote
    assert result.stats.judged == len({s.key for s in calls})
    assert result.summary().startswith(f"no failing schedule found in {len(calls)} runs")


def test_repeat_and_vote_sees_through_a_noisy_judge() -> None:
    result = Search(
        SPACE,
        cast(Judge, noisy_judge(0.15)),
        policy=Policy(5, 4),
        budget=Budget(120, max_examples=300),
        seed=7,
    ).run()
    assert result.minimal is not None
    assert sorted(f.kind for f in result.minimal.faults) == ["latency", "loss"]
    assert planted(result.minimal)
    split = [v for v in result.votes.values() if v.fails and v.holds]
    assert split, "the noise must have split some votes"
    assert result.confirmation is not None and len(result.confirmation.runs) == 5
    assert "confirmed: failed" in result.summary()


def test_the_search_is_reproducible_from_its_seed() -> None:
    def once() -> tuple[object, int]:
        result = Search(
            SPACE,
            cast(Judge, noisy_judge(0.1)),
            policy=Policy(5, 4),
            budget=Budget(120, max_examples=100),
            seed=11,
        ).run()
        return (result.minimal, result.stats.runs)

    assert once() == once()


def test_the_verdict_cache_runs_each_schedule_once() -> None:
    seen: dict[tuple[object, ...], int] = {}

    def judge(schedule: Schedule, seed: int, timeout: float) -> Run:
        seen[schedule.key] = seen.get(schedule.key, 0) + 1
        return planted_judge(schedule, seed, timeout)

    result = Search(SPACE, judge, policy=Policy(1), budget=Budget(120), seed=3).run(confirm=False)
    assert set(seen.values()) == {1}
    assert result.stats.cache_hits > 0
    assert result.stats.examples == result.stats.judged + result.stats.cache_hits


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_whole_search_budget_stops_running_and_says_so() -> None:
    clock = FakeClock()

    def slow(schedule: Schedule, seed: int, timeout: float) -> Run:
        clock.now += 10
        return Run(False, 10)

    result = Search(
        SPACE, slow, policy=Policy(1), budget=Budget(100, max_examples=50), clock=clock
    ).run()
    assert result.stats.runs == 10
    assert result.stats.budget_exhausted and result.stats.skipped > 0
    assert "budget exhausted" in result.summary()


def test_each_example_gets_at_most_its_own_budget() -> None:
    clock = FakeClock()
    timeouts: list[float] = []

    def undecided(schedule: Schedule, seed: int, timeout: float) -> Run:
        timeouts.append(timeout)
        clock.now += 25
        return Run(None, 25, "timed out")

    search = Search(
        SPACE,
        undecided,
        policy=Policy(5),
        budget=Budget(1000, example=60, max_examples=3),
        clock=clock,
    )
    result = search.run()
    assert timeouts[:3] == [60, 35, 10]  # three repeats fit in 60 s, the fourth does not start
    assert result.minimal is None and result.stats.undecided == result.stats.judged


@given(st.lists(st.sampled_from([True, False, None]), max_size=7), st.integers(1, 7))
def test_vote_verdict_follows_the_quorum(outcomes: list[bool | None], repeats: int) -> None:
    policy = Policy(repeats)
    vote = Vote(policy, [Run(o, 0.0) for o in outcomes[:repeats]])
    fails, holds = outcomes[:repeats].count(True), outcomes[:repeats].count(False)
    expected = (
        Verdict.FAILS
        if fails > repeats // 2
        else Verdict.HOLDS
        if holds >= repeats - repeats // 2
        else Verdict.UNDECIDED
    )
    assert vote.verdict is expected
    assert vote.describe().startswith(f"failed {fails} of {len(outcomes[:repeats])} run")


@pytest.mark.parametrize(("repeats", "quorum"), [(0, None), (3, 0), (3, 4)])
def test_a_vote_policy_refuses_impossible_quorums(repeats: int, quorum: int | None) -> None:
    with pytest.raises(ValueError, match="must be"):
        Policy(repeats, quorum)


@settings(max_examples=200)
@given(fault_schedules(SPACE))
def test_every_generated_schedule_lies_within_its_space(schedule: Schedule) -> None:
    assert len(schedule.faults) <= SPACE.max_faults
    assert len({(f.link, f.kind) for f in schedule.faults}) == len(schedule.faults)
    for fault in schedule.faults:
        knob = SPACE.knobs[fault.kind]
        assert (fault.link, fault.kind) in SPACE.pairs
        assert knob.low <= fault.magnitude <= knob.high
        assert fault.at >= 0 and fault.for_ >= 1 and fault.end <= SPACE.window


def test_loss_is_never_searched_on_a_tcp_link() -> None:
    space = SearchSpace(("a->b", "c->d"), ("latency", "loss"), 10, streams=frozenset({"a->b"}))
    assert ("a->b", "loss") not in space.pairs and ("c->d", "loss") in space.pairs
    with pytest.raises(InvalidInput, match="no searchable fault"):
        SearchSpace(("a->b",), ("loss",), 10, streams=frozenset({"a->b"}))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda: SearchSpace((), ("latency",), 10), "no links"),
        (lambda: SearchSpace(("a->b",), ("jitter",), 10), "cannot be searched"),
        (lambda: SearchSpace(("a->b",), ("latency",), 0), "search window"),
        (lambda: SearchSpace(("a->b",), ("latency",), 10, max_faults=0), "max-faults"),
    ],
)
def test_a_bad_search_space_is_invalid_input(
    change: Callable[[], SearchSpace], message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        change()


def test_an_infrastructure_failure_ends_the_search() -> None:
    def down(schedule: Schedule, seed: int, timeout: float) -> Run:
        raise InfrastructureError("the stack did not start")

    with pytest.raises(InfrastructureError, match="did not start"):
        Search(SPACE, down, policy=Policy(3), budget=Budget(60)).run()


def test_a_failure_that_does_not_reproduce_is_refuted_and_the_search_goes_on() -> None:
    runs: list[Schedule] = []

    def glitch_first(schedule: Schedule, seed: int, timeout: float) -> Run:
        runs.append(schedule)
        return Run(len(runs) == 1 or planted(schedule), 0.0)  # the very first run is a glitch

    result = Search(SPACE, glitch_first, policy=Policy(1), budget=Budget(120), seed=3).run()
    assert result.stats.refuted == [runs[0].describe()]
    assert result.minimal is not None and planted(result.minimal)
    assert result.confirmation is not None and "; confirmed: failed 1 of 1" in result.summary()


def test_when_nothing_reproduces_nothing_is_reported() -> None:
    seen: set[tuple[object, ...]] = set()

    def glitches(schedule: Schedule, seed: int, timeout: float) -> Run:
        first = schedule.key not in seen  # every schedule fails once, then never again
        seen.add(schedule.key)
        return Run(first, 0.0)

    result = Search(
        SPACE, glitches, policy=Policy(1), budget=Budget(120, max_examples=20), seed=3
    ).run()
    assert result.minimal is None and len(result.stats.refuted) == MAX_ATTEMPTS
    assert "did not fail again when confirmed" in result.summary()


def test_an_interruption_stops_the_search_at_once_and_is_raised_as_is() -> None:
    calls: list[Schedule] = []

    def interrupted_third(schedule: Schedule, seed: int, timeout: float) -> Run:
        calls.append(schedule)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return Run(False, 0.0)

    with pytest.raises(KeyboardInterrupt):
        Search(SPACE, interrupted_third, policy=Policy(1), budget=Budget(60)).run()
    assert len(calls) == 3  # no replay of the interrupted example, no further runs
