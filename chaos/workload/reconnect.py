"""When a dropped listener comes back: the policy that makes or cures a reconnect storm.

Clients that all retry at once turn one dropped mount into a second join storm; exponential
backoff with jitter (AWS's "full" and "equal" variants) spreads them out. The policy is pure:
it maps an attempt number and a seeded RNG to a delay, so a replay retries at the same moments.
``max_attempts`` counts consecutive attempts that heard nothing: a join that reached first audio
starts the count again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class RetryKind(StrEnum):
    NEVER = "never"
    IMMEDIATE = "immediate"
    FIXED = "fixed"
    BACKOFF = "backoff"


#: ``jitter`` values for AWS's named variants: none, "full" uniform(0, d), "equal" d/2 + U(0, d/2).
NO_JITTER, EQUAL_JITTER, FULL_JITTER = 0.0, 0.5, 1.0


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """``delay`` is the fixed delay, or the first backoff step, growing by ``multiplier`` up to
    ``cap``. ``jitter`` is the randomised share of each backoff step: the wait is
    ``d·(1 − jitter) + uniform(0, d·jitter)``."""

    kind: RetryKind = RetryKind.NEVER
    delay: float = 1.0
    cap: float = 30.0
    multiplier: float = 2.0
    jitter: float = NO_JITTER
    max_attempts: int | None = None

    def __post_init__(self) -> None:
        if self.delay < 0 or self.cap < 0:
            raise ValueError("reconnect delay and cap must be >= 0")
        if self.multiplier < 1:
            raise ValueError(f"backoff multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within 0..1, got {self.jitter}")
        if self.max_attempts is not None and self.max_attempts < 0:
            raise ValueError(f"max_attempts must be >= 0, got {self.max_attempts}")

    def next_delay(self, attempt: int, rng: random.Random) -> float | None:
        """Seconds to wait before retry number ``attempt`` (from 1), or None to give up."""
        if self.kind is RetryKind.NEVER:
            return None
        if self.max_attempts is not None and attempt > self.max_attempts:
            return None
        if self.kind is RetryKind.IMMEDIATE:
            return 0.0
        if self.kind is RetryKind.FIXED:
            return self.delay
        step = self.delay
        for _ in range(attempt - 1):
            if step >= self.cap or step == 0:
                break
            step *= self.multiplier
        step = min(step, self.cap)
        if self.jitter == 0:
            return step
        return step * (1 - self.jitter) + rng.uniform(0.0, step * self.jitter)
