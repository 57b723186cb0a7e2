"""The search: hypothesis looks for a schedule that breaks the experiment's SLOs and shrinks it.

The property "the SLOs hold" is judged per schedule by repeat-and-vote, within a time budget
per example and one for the whole search; verdicts are cached by schedule (the shrinker asks
about the same schedule again and again, and a real run costs a minute). The judge is any
callable, so the same engine drives real game days (``chaos.search.judge``) and the fast,
deterministic judges of the tests.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from chaos.search.schedule import Schedule
from chaos.search.space import SearchSpace
from chaos.search.strategies import fault_schedules
from chaos.search.vote import Policy, Run, Verdict, Vote

Judge = Callable[[Schedule, int, float], Run]
"""``judge(schedule, seed, timeout)`` runs the schedule once, within ``timeout`` seconds."""

Clock = Callable[[], float]

MAX_ATTEMPTS = 10
"""Searches in a row, each after refuting the last one's minimal schedule as noise."""


def _seed(seed: int, schedule: Schedule, repeat: int, runs: int) -> int:
    """A run's seed: stable across processes (``hash`` of a str is not)."""
    digest = hashlib.blake2b(repr((seed, schedule.key, repeat, runs)).encode(), digest_size=8)
    return int.from_bytes(digest.digest()) >> 1


@dataclass(frozen=True)
class Budget:
    search: float
    """Seconds for the whole search, confirmation included."""
    example: float | None = None
    """Seconds for one schedule's repeats; default: the whole remaining budget."""
    max_examples: int = 200


@dataclass
class Stats:
    examples: int = 0
    """Schedules hypothesis asked about (cache hits included)."""
    judged: int = 0
    """Distinct schedules judged by running them."""
    cache_hits: int = 0
    runs: int = 0
    run_seconds: float = 0.0
    failing: int = 0
    """Distinct schedules the vote called failing."""
    undecided: int = 0
    skipped: int = 0
    """Schedules not judged because the budget had run out."""
    elapsed: float = 0.0
    budget_exhausted: bool = False
    refuted: list[str] = field(default_factory=list)
    """Minimal schedules whose failure did not reproduce when confirmed (noise)."""


@dataclass
class SearchResult:
    minimal: Schedule | None
    vote: Vote | None
    """The minimal schedule's vote during the search."""
    confirmation: Vote | None
    """Its vote when run again ``repeats`` times after the search (None: no budget left)."""
    stats: Stats
    policy: Policy
    seed: int
    votes: dict[tuple[object, ...], Vote] = field(default_factory=dict)

    def summary(self) -> str:
        s = self.stats
        runs = f"{s.runs} run{'s' if s.runs != 1 else ''} of {s.judged} schedules"
        if self.minimal is None:
            why = " (budget exhausted)" if s.budget_exhausted else ""
            if s.refuted:
                why += f"; {len(s.refuted)} did not fail again when confirmed"
            return f"no failing schedule found in {runs}, {s.elapsed:.0f}s{why}"
        assert self.vote is not None
        text = f"minimal failing schedule: {self.minimal.describe()} — {self.vote.describe()}"
        if self.minimal.empty:
            text = f"the SLOs fail without any fault — {self.vote.describe()}"
        if self.confirmation is not None:
            confirmed = self.confirmation.verdict is Verdict.FAILS
            label = "confirmed" if confirmed else "NOT confirmed"
            text += f"; {label}: {self.confirmation.describe()}"
        return f"{text} ({runs}, {s.elapsed:.0f}s)"


class Search:
    def __init__(
        self,
        space: SearchSpace,
        judge: Judge,
        *,
        policy: Policy,
        budget: Budget,
        seed: int = 0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.space = space
        self.judge = judge
        self.policy = policy
        self.budget = budget
        self.seed = seed
        self.clock = clock
        self.stats = Stats()
        self.votes: dict[tuple[object, ...], Vote] = {}
        self.started = 0.0
        self.stopped: Exception | KeyboardInterrupt | None = None

    def remaining(self) -> float:
        return self.budget.search - (self.clock() - self.started)

    def vote(self, schedule: Schedule, *, early: bool = True) -> Vote:
        """Run ``schedule`` until its verdict is settled or its time is up. Each repeat gets its
        own seed, derived from the search's, so a repeat is a fresh draw of the noise and the
        whole search is still reproducible."""
        policy = self.policy
        vote = Vote(policy)
        began = self.clock()
        limit = self.budget.example if self.budget.example is not None else float("inf")
        for repeat in range(policy.repeats):
            timeout = min(limit - (self.clock() - began), self.remaining())
            if timeout <= 0:
                self.stats.budget_exhausted = self.remaining() <= 0
                break
            seed = _seed(self.seed, schedule, repeat, self.stats.runs)
            run = self.judge(schedule, seed, timeout)
            vote.runs.append(run)
            self.stats.runs += 1
            self.stats.run_seconds += run.seconds
            if early and vote.settled:
                break
        return vote

    def _fails(self, schedule: Schedule) -> bool:
        """The property hypothesis checks. It never raises: hypothesis would take an error for
        a failing example and replay it (another real run); an error stops the search instead,
        and ``run`` raises it once hypothesis has returned."""
        self.stats.examples += 1
        if self.stopped is not None:
            return False
        cached = self.votes.get(schedule.key)
        if cached is None:
            if self.remaining() <= 0:
                self.stats.budget_exhausted = True
                self.stats.skipped += 1
                return False
            try:
                cached = self.votes[schedule.key] = self.vote(schedule)
            except (Exception, KeyboardInterrupt) as exc:
                self.stopped = exc
                return False
            self.stats.judged += 1
            if cached.verdict is Verdict.FAILS:
                self.stats.failing += 1
            elif cached.verdict is Verdict.UNDECIDED:
                self.stats.undecided += 1
        else:
            self.stats.cache_hits += 1
        return cached.verdict is Verdict.FAILS

    def _without_spare_faults(self, schedule: Schedule) -> Schedule:
        """Drop each fault the failure does not need. Hypothesis's shrinker usually has, but
        it gives up on deletions that shift the list it drew; this pass makes the result
        1-minimal (no single fault can go), at the price of cached or a few more votes."""
        faults = list(schedule.faults)
        for fault in list(faults):
            fewer = Schedule(tuple(f for f in faults if f != fault), schedule.storm)
            if self._fails(fewer):
                faults = list(fewer.faults)
        return Schedule(tuple(faults), schedule.storm)

    def _find(self, attempt: int) -> Schedule | None:
        config = settings(
            max_examples=self.budget.max_examples,
            deadline=None,
            database=None,
            phases=[Phase.generate, Phase.shrink],
            suppress_health_check=list(HealthCheck),
        )
        try:
            found: Schedule = find(
                fault_schedules(self.space),
                self._fails,
                settings=config,
                random=random.Random(self.seed + attempt),
            )
        except NoSuchExample:
            return None
        return self._without_spare_faults(found)

    def run(self, *, confirm: bool = True) -> SearchResult:
        """Search and shrink; then (budget permitting) run the minimal schedule ``repeats`` more
        times without stopping early, so the report can say how stable its failure is.

        A noisy judge sometimes outvotes the truth, and the shrinker follows such a false
        failure down to a schedule that never really failed. So a minimal schedule whose
        failure the confirmation does not reproduce is refuted: its cached verdict becomes the
        confirmation's, and the search goes on (the cache keeps every other verdict)."""
        self.started = self.clock()
        minimal = confirmation = None
        for attempt in range(MAX_ATTEMPTS):
            minimal = self._find(attempt)
            if self.stopped is not None:
                raise self.stopped
            if minimal is None or not confirm or self.remaining() <= 0:
                confirmation = None
                break
            confirmation = self.vote(minimal, early=False)
            if confirmation.verdict is Verdict.FAILS or self.remaining() <= 0:
                break
            self.votes[minimal.key] = confirmation
            self.stats.refuted.append(minimal.describe())
        else:
            minimal = confirmation = None  # every attempt was refuted: nothing stands
        self.stats.elapsed = self.clock() - self.started
        return SearchResult(
            minimal,
            self.votes.get(minimal.key) if minimal is not None else None,
            confirmation,
            self.stats,
            self.policy,
            self.seed,
            self.votes,
        )
