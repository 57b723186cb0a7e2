"""Why listeners failed: each join-failure and drop reason with its count and first details.

A reason is a metric label (`protocol`, `http_503`, `reset`), enough to count by but not to
act on: the probe that recorded it knows more ("a VBR Ogg Vorbis stream announces no icy-br,
so ..."). The run journals every reason with the first few distinct details
(``ListenerStats.examples``) as one ``listeners.failures`` record; summary.md shows them
beside the SLOs and junit.xml beside each SLO that did not pass, so a fail says what listeners
met, not only how many.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chaos.report.journal import Journal
from chaos.workload.stats import ListenerStats

FAILURES_KIND = "listeners.failures"

KINDS = {"join_failures": "join failed", "drops": "dropped"}
"""Record key → how summary.md says it."""


@dataclass(frozen=True, slots=True)
class FailureRow:
    kind: str
    """``join_failures`` (no first audio) or ``drops`` (the stream ended after audio)."""
    reason: str
    count: int
    examples: tuple[str, ...]


def failures_record(stats: ListenerStats) -> dict[str, Any]:
    """The journal record of every reason listeners failed or dropped for (empty when none)."""
    reasons = [
        {
            "kind": kind,
            "reason": reason,
            "count": count,
            "examples": stats.examples.get(f"{kind}:{reason}", []),
        }
        for kind, counts in (("join_failures", stats.failures), ("drops", stats.drops))
        for reason, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
        if count
    ]
    return {"reasons": reasons}


def _row(entry: Mapping[str, Any]) -> FailureRow | None:
    kind, reason, count = entry.get("kind"), entry.get("reason"), entry.get("count")
    if kind not in KINDS or not isinstance(reason, str) or not isinstance(count, int):
        return None
    examples = entry.get("examples")
    kept = tuple(e for e in examples if isinstance(e, str)) if isinstance(examples, list) else ()
    return FailureRow(str(kind), reason, count, kept)


def failure_rows(journal: Journal) -> list[FailureRow]:
    """The run's reasons, from its last ``listeners.failures`` record (none in older runs)."""
    records = list(journal.of_kind(FAILURES_KIND))
    return _rows(records[-1].get("reasons")) if records else []


def failure_rows_of(stats: ListenerStats) -> list[FailureRow]:
    """The reasons as the journal records them, from the listeners' totals."""
    return _rows(failures_record(stats)["reasons"])


def _rows(entries: Any) -> list[FailureRow]:
    if not isinstance(entries, list):
        return []
    rows = (_row(e) for e in entries if isinstance(e, Mapping))
    return [row for row in rows if row is not None]


def describe(row: FailureRow) -> str:
    """``join failed, protocol ×40: <first detail>`` (one line, for the console)."""
    first = f": {row.examples[0]}" if row.examples else ""
    return f"{KINDS[row.kind]}, {row.reason} ×{row.count}{first}"


def detail_text(rows: Sequence[FailureRow]) -> str:
    """Every reason with all its details, one per line (JUnit's ``system-out``); "" if none."""
    if not rows:
        return ""
    lines = ["why listeners failed:"]
    for row in rows:
        lines.append(f"  {KINDS[row.kind]}, {row.reason} ×{row.count}")
        lines += [f"    {example}" for example in row.examples]
    return "\n".join(lines)
