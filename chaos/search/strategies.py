"""Hypothesis strategies for fault schedules and workload variations within a search space.

Every draw is shaped so hypothesis's shrinker moves towards what a person calls "smaller":
fewer faults (a list), the first link and kind of the space, the lowest magnitude, the
earliest start and the shortest duration (integers shrink towards their lower bound).
"""

from __future__ import annotations

from hypothesis import strategies as st

from chaos.search.schedule import FaultSpec, Schedule, StormVariation
from chaos.search.space import SearchSpace


@st.composite
def _fault(draw: st.DrawFn, space: SearchSpace) -> FaultSpec:
    link, kind = draw(st.sampled_from(space.pairs))
    knob = space.knobs[kind]
    magnitude = draw(st.integers(knob.low, knob.high))
    at = draw(st.integers(0, space.window - 1))
    for_ = draw(st.integers(1, space.window - at))
    return FaultSpec(link, kind, magnitude, at, for_)


def faults_within(space: SearchSpace) -> st.SearchStrategy[FaultSpec]:
    """One fault on a link of the space, ending by the end of its window."""
    return _fault(space)


def workload_variations(space: SearchSpace) -> st.SearchStrategy[StormVariation | None]:
    """A launch storm of another size and spread, or the experiment's own (None)."""
    if space.storm is None:
        return st.none()
    low, high = space.storm
    return st.builds(StormVariation, st.integers(low, high), st.integers(0, space.max_spread))


def fault_schedules(space: SearchSpace, *, min_faults: int = 0) -> st.SearchStrategy[Schedule]:
    """Schedules of up to ``space.max_faults`` faults, at most one per (link, kind): two latency
    toxics on one link would be one bigger fault, which the magnitude already covers."""
    faults = st.lists(
        faults_within(space),
        min_size=min_faults,
        max_size=space.max_faults,
        unique_by=lambda f: (f.link, f.kind),
    )
    return st.builds(Schedule, faults.map(tuple), workload_variations(space))
