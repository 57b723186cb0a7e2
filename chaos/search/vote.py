"""Repeat-and-vote: one noisy run proves nothing, a quorum of repeats does.

A run either broke an SLO (True), held (False), or could not judge (None: the run timed out or
the infrastructure failed); undecided runs never count as failures, so a flaky stack cannot
make the search blame a harmless schedule.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from chaos.runner.repeat import statement


class Verdict(enum.Enum):
    FAILS = "fails"
    HOLDS = "holds"
    UNDECIDED = "undecided"


@dataclass(frozen=True)
class Run:
    failed: bool | None
    seconds: float
    detail: str = ""
    """What broke (the failing SLOs) or why the run could not judge."""


@dataclass(frozen=True)
class Policy:
    repeats: int = 3
    quorum: int | None = None
    """Failing runs needed to call a schedule failing; default: a majority of ``repeats``."""

    def __post_init__(self) -> None:
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, not {self.repeats}")
        if not 1 <= self.needed <= self.repeats:
            raise ValueError(f"quorum must be between 1 and {self.repeats}, not {self.quorum}")

    @property
    def needed(self) -> int:
        return self.quorum if self.quorum is not None else self.repeats // 2 + 1


@dataclass
class Vote:
    policy: Policy
    runs: list[Run] = field(default_factory=list)

    @property
    def fails(self) -> int:
        return sum(1 for r in self.runs if r.failed is True)

    @property
    def holds(self) -> int:
        return sum(1 for r in self.runs if r.failed is False)

    @property
    def undecided(self) -> int:
        return sum(1 for r in self.runs if r.failed is None)

    @property
    def verdict(self) -> Verdict:
        if self.fails >= self.policy.needed:
            return Verdict.FAILS
        if self.holds > self.policy.repeats - self.policy.needed:
            return Verdict.HOLDS
        return Verdict.UNDECIDED

    @property
    def settled(self) -> bool:
        """No further repeat can change the verdict (so the rest need not run)."""
        return self.verdict is not Verdict.UNDECIDED or len(self.runs) >= self.policy.repeats

    def describe(self) -> str:
        text = f"failed {self.fails} of {len(self.runs)} run{'s' if len(self.runs) != 1 else ''}"
        if self.undecided:
            text += f" ({self.undecided} undecided)"
        return f"{text}: {self.stability()}"

    def stability(self) -> str:
        """The words ``gameday run --repeat`` uses: `fail in 3 of 3`, `flaky: 1 of 3 fail`."""
        counts = Counter({"fail": self.fails, "pass": self.holds, "undecided": self.undecided})
        return statement(+counts, len(self.runs))
