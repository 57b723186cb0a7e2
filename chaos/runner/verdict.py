"""The verdict of a run and the exit code it maps to (DESIGN.md: 0/1/2/3/130).

Pure and ordered by what a person must act on first: an interrupted run says nothing about the
stack; an unhealthy baseline or unreachable infrastructure means the faults were never judged;
an incomplete load (a load worker lost mid-run) means the stack never saw the audience the
experiment asked for, so the run is neither a pass nor the stack's failure; a tripped guard
means the run was stopped for safety (a failed gate, naming the guard); otherwise every SLO
must pass, and "no data" is never a pass.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from chaos.errors import ExitCode
from chaos.slo.evaluate import SloResult, verdict


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    ABORTED = "aborted"
    INFRASTRUCTURE = "infrastructure"
    INCOMPLETE = "incomplete"
    INVALID = "invalid"
    INTERRUPTED = "interrupted"

    @property
    def exit_code(self) -> ExitCode:
        return {
            Verdict.PASS: ExitCode.PASS,
            Verdict.FAIL: ExitCode.SLO_FAILED,
            Verdict.ABORTED: ExitCode.SLO_FAILED,
            Verdict.INFRASTRUCTURE: ExitCode.INFRASTRUCTURE,
            Verdict.INCOMPLETE: ExitCode.INFRASTRUCTURE,
            Verdict.INVALID: ExitCode.INVALID_INPUT,
            Verdict.INTERRUPTED: ExitCode.INTERRUPTED,
        }[self]


def decide(
    results: Sequence[SloResult],
    *,
    interrupted: bool = False,
    error: ExitCode | None = None,
    aborted_by: str | None = None,
    incomplete: str | None = None,
) -> Verdict:
    if interrupted:
        return Verdict.INTERRUPTED
    if error is ExitCode.INVALID_INPUT:
        return Verdict.INVALID
    if error is not None:
        return Verdict.INFRASTRUCTURE
    if incomplete is not None:
        return Verdict.INCOMPLETE
    if aborted_by is not None:
        return Verdict.ABORTED
    return Verdict.PASS if results and verdict(results) else Verdict.FAIL
