"""The verdict of a run and the exit code it maps to (DESIGN.md: 0/1/2/3/130).

Pure and ordered by what a person must act on first: an interrupted run says nothing about the
stack; invalid input judged nothing; a harness-side failure (the fault proxy dead or hung, a
fault that could not be applied or removed, a metrics endpoint gone, a listener worker lost,
an unhealthy baseline) means the SLOs measured our parts, not the stack: ``infrastructure``,
never a pass and never the stack's fail; a tripped guard means the run was stopped for safety
(a failed gate, naming the guard); otherwise every SLO must pass, and "no data" is never a pass;
when nothing failed but a differential SLO's interval straddles its bound, ``inconclusive``
(exit 4).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from chaos.errors import ExitCode
from chaos.runner.infrastructure import HarnessFailure
from chaos.slo.evaluate import SloResult, Status, verdict


class Verdict(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    ABORTED = "aborted"
    INFRASTRUCTURE = "infrastructure"
    INVALID = "invalid"
    INTERRUPTED = "interrupted"
    INCONCLUSIVE = "inconclusive"

    @property
    def exit_code(self) -> ExitCode:
        return {
            Verdict.PASS: ExitCode.PASS,
            Verdict.FAIL: ExitCode.SLO_FAILED,
            Verdict.ABORTED: ExitCode.SLO_FAILED,
            Verdict.INFRASTRUCTURE: ExitCode.INFRASTRUCTURE,
            Verdict.INVALID: ExitCode.INVALID_INPUT,
            Verdict.INTERRUPTED: ExitCode.INTERRUPTED,
            Verdict.INCONCLUSIVE: ExitCode.INCONCLUSIVE,
        }[self]


def decide(
    results: Sequence[SloResult],
    *,
    interrupted: bool = False,
    error: ExitCode | None = None,
    aborted_by: str | None = None,
    infrastructure: Sequence[HarnessFailure] = (),
) -> Verdict:
    if interrupted:
        return Verdict.INTERRUPTED
    if error is ExitCode.INVALID_INPUT:
        return Verdict.INVALID
    if error is not None or infrastructure:
        return Verdict.INFRASTRUCTURE
    if aborted_by is not None:
        return Verdict.ABORTED
    if results and verdict(results):
        return Verdict.PASS
    if results and all(r.status in (Status.PASS, Status.INCONCLUSIVE) for r in results):
        return Verdict.INCONCLUSIVE  # nothing failed; a differential SLO could not tell
    return Verdict.FAIL


def exit_code_of(recorded: str | None) -> ExitCode:
    """The exit code a journal's recorded verdict stands for (``gameday report`` exits with it);
    a journal without a verdict never finished its run, which says nothing of the stack."""
    try:
        return Verdict(recorded).exit_code
    except ValueError:
        return ExitCode.INFRASTRUCTURE
