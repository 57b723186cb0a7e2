"""Compare a replay with its recording: which SLOs changed, and whether the faults did.

Pure: two ``RecordedRun``s in, rows and lines out, so the same comparison serves the CLI,
the tests and anyone diffing two journals.
"""

from __future__ import annotations

import enum
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from chaos.replay.recorded import RecordedRun, SloOutcome


class Change(enum.Enum):
    SAME = "same"
    NEWLY_PASSING = "newly passing"
    NEWLY_FAILING = "newly failing"
    CHANGED = "changed"
    """Neither pass to fail nor back: e.g. fail → no-data."""
    ADDED = "added"
    REMOVED = "removed"


@dataclass(frozen=True)
class SloChange:
    name: str
    change: Change
    before: SloOutcome | None
    after: SloOutcome | None

    def line(self) -> str:
        before = self.before.describe() if self.before else "absent"
        after = self.after.describe() if self.after else "absent"
        return f"  {self.change.value:<14} {self.name}: {before} -> {after}"


def _classify(before: SloOutcome | None, after: SloOutcome | None) -> Change:
    if before is None:
        return Change.ADDED
    if after is None:
        return Change.REMOVED
    if before.status == after.status:
        return Change.SAME
    if after.status == "pass":
        return Change.NEWLY_PASSING
    if before.status == "pass":
        return Change.NEWLY_FAILING
    return Change.CHANGED


def verdict_diff(before: RecordedRun, after: RecordedRun) -> list[SloChange]:
    """One row per SLO in either run, in the recording's order, then SLOs only the replay has."""
    old = {slo.name: slo for slo in before.slos}
    new = {slo.name: slo for slo in after.slos}
    names = list(old) + [name for name in new if name not in old]
    return [SloChange(n, _classify(old.get(n), new.get(n)), old.get(n), new.get(n)) for n in names]


def _key(event: dict[str, Any]) -> str:
    return json.dumps(event, sort_keys=True, default=str)


def fault_differences(before: RecordedRun, after: RecordedRun) -> list[str]:
    """Fault events one run made and the other did not (empty: the same fault decisions)."""
    old = Counter(_key(e) for e in before.fault_events)
    new = Counter(_key(e) for e in after.fault_events)
    return [f"  only in the recording: {k}" for k in sorted((old - new).elements())] + [
        f"  only in the replay:    {k}" for k in sorted((new - old).elements())
    ]
