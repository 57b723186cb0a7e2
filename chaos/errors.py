"""Errors a person can act on, each tied to the exit code DESIGN.md promises.

The CLI turns any ``GamedayError`` into one readable message and its exit code, never a
traceback; everything else that escapes is a bug and is allowed to show its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    PASS = 0
    SLO_FAILED = 1
    INVALID_INPUT = 2
    INFRASTRUCTURE = 3
    INCONCLUSIVE = 4
    """No SLO failed, but a differential SLO's interval straddles its bound: run again, with
    more listeners or ``--repeat``; neither a pass nor the stack's fail."""
    INTERRUPTED = 130


class GamedayError(Exception):
    """An expected failure: says what went wrong, where, and what to do about it."""

    exit_code: ExitCode = ExitCode.INFRASTRUCTURE

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.render())

    def render(self) -> str:
        head = f"{self.where}: {self.what}" if self.where else self.what
        return f"{head}\n  fix: {self.fix}" if self.fix else head


class InvalidInput(GamedayError):
    """The user's input (a file, a flag, a value) is wrong; nothing was started or changed."""

    exit_code = ExitCode.INVALID_INPUT


class InfrastructureError(GamedayError):
    """A service gameday needs (stack, proxy, metrics) is unreachable or unhealthy.

    ``part`` names which one (``fault-proxy``, ``fault``, ``metrics``, ``load``, ``stack``,
    ``harness``): the verdict names it (``chaos.runner.infrastructure.Part``).
    """

    exit_code = ExitCode.INFRASTRUCTURE
    part: str = "harness"

    def __init__(
        self,
        what: str,
        *,
        where: str | None = None,
        fix: str | None = None,
        part: str | None = None,
    ) -> None:
        if part is not None:
            self.part = part
        super().__init__(what, where=where, fix=fix)
