"""`gameday run --repeat N`: one verdict from N runs, and a plain statement of how stable it is.

One run's verdict is one draw; a gate should say whether the draw repeats. The N runs take
seeds derived from the experiment's seed (``repeat_seed``), so a repeat series replays. Per
SLO, the tally says which status the runs agreed on and how many stand behind it, the spread
of the measured values, and a statement a person can read: "pass in 5 of 5", "fail in 7 of 7",
"flaky: 3 of 7 fail, values 0.8–1.3 s around a 1 s threshold". The SLO's verdict is the
majority's status (a tie fails: a gate does not round a coin toss up to a pass). The whole
verdict is ``infrastructure`` when any repeat had a harness-side failure (its runs judged our
parts), ``interrupted`` when one was interrupted, otherwise the worst SLO verdict.

The search's repeat-and-vote oracle (``chaos.search.vote``) words its votes with the same
``statement``.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

from chaos.runner.junit import measured
from chaos.runner.verdict import Verdict
from chaos.slo.evaluate import SloResult, Status


def repeat_seed(seed: int, repeat: int) -> int:
    """The seed of repeat ``repeat`` (0-based) of an experiment seeded ``seed``."""
    digest = hashlib.sha256(f"gameday:{seed}:repeat:{repeat}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def _format(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2g} s"
    return f"{value:.3g}"


def _range(values: Sequence[float], unit: str) -> str:
    low, high = min(values), max(values)
    if unit == "s":
        if abs(high) < 1:
            return f"{low * 1000:.0f}–{high * 1000:.0f} ms"
        return f"{low:.2g}–{high:.2g} s"
    return f"{low:.3g}–{high:.3g}"


def statement(
    counts: Counter[str],
    runs: int,
    values: Sequence[float] = (),
    threshold: float | None = None,
    unit: str = "",
) -> str:
    """`pass in 5 of 5`; `flaky: 3 of 7 fail, values 0.8–1.3 s around a 1 s threshold`."""
    if not counts:
        return f"not judged in any of {runs} runs"
    (top, n), *others = counts.most_common()
    if not others:
        return f"{top} in {n} of {runs}"
    named = "fail" if "fail" in counts else others[0][0]
    text = f"flaky: {counts[named]} of {runs} {named}"
    if values:
        text += f", values {_range(values, unit)}"
        if threshold is not None:
            text += f" around a {_format(threshold, unit)} threshold"
    return text


@dataclass(frozen=True)
class SloTally:
    """One SLO over the repeats."""

    name: str
    statuses: tuple[Status, ...]
    values: tuple[float, ...]
    threshold: float
    unit: str

    @property
    def counts(self) -> Counter[str]:
        return Counter(s.value for s in self.statuses)

    @property
    def status(self) -> Status:
        """The majority's status; a tie (or no majority) counts as the worst present."""
        counts = Counter(self.statuses)
        (top, n), *rest = counts.most_common()
        if rest and rest[0][1] == n:
            for worst in (Status.FAIL, Status.NO_DATA, Status.INCONCLUSIVE, Status.PASS):
                if counts[worst] == n:
                    return worst
        return top

    @property
    def share(self) -> tuple[int, int]:
        """(runs with the verdict's status, runs)."""
        return Counter(self.statuses)[self.status], len(self.statuses)

    @property
    def stable(self) -> bool:
        return len(set(self.statuses)) == 1

    def describe(self) -> str:
        return statement(self.counts, len(self.statuses), self.values, self.threshold, self.unit)


def _unit(result: SloResult) -> str:
    """`s` when the SLO measures seconds (its series are in seconds and none is a counter)."""
    series = result.evidence.series
    if series and all("_seconds" in s and "_total" not in s for s in series):
        return "s"
    return ""


def tally(runs: Sequence[Sequence[SloResult]]) -> list[SloTally]:
    """Per SLO (in the first run's order), what the runs that judged it said."""
    order: list[str] = []
    by_name: dict[str, list[SloResult]] = {}
    for results in runs:
        for result in results:
            if result.name not in by_name:
                order.append(result.name)
                by_name[result.name] = []
            by_name[result.name].append(result)
    out = []
    for name in order:
        results = by_name[name]
        first = results[0]
        out.append(
            SloTally(
                name,
                tuple(r.status for r in results),
                tuple(r.value for r in results if r.value is not None),
                first.threshold.value,
                _unit(first),
            )
        )
    return out


def repeated_verdict(verdicts: Sequence[Verdict], tallies: Sequence[SloTally]) -> Verdict:
    """Infrastructure if any repeat had it; interrupted or invalid likewise; else the worst
    of the SLOs' majority statuses."""
    for overriding in (Verdict.INTERRUPTED, Verdict.INVALID, Verdict.INFRASTRUCTURE):
        if overriding in verdicts:
            return overriding
    if not tallies:
        return Verdict.FAIL
    statuses = {t.status for t in tallies}
    if statuses & {Status.FAIL, Status.NO_DATA}:
        return Verdict.FAIL
    if Verdict.ABORTED in verdicts and Counter(verdicts)[Verdict.ABORTED] * 2 >= len(verdicts):
        return Verdict.ABORTED
    if Status.INCONCLUSIVE in statuses:
        return Verdict.INCONCLUSIVE
    return Verdict.PASS


def repeat_junit(
    suite: str,
    tallies: Sequence[SloTally],
    verdict: Verdict,
    problems: Sequence[str] = (),
    *,
    runs: Sequence[Sequence[SloResult]] = (),
    why: Sequence[str] = (),
) -> bytes:
    """JUnit of a repeat series: one case per SLO whose message is its stability statement
    (a failure unless the SLO's verdict is pass); ``problems`` (harness-side failures of any
    repeat) are error cases, and the SLOs are then skipped: they did not judge the stack.

    A failed case says what each run that did not pass measured (from ``runs``, the runs'
    results in order) and, as its ``system-out``, why listeners failed in each run (``why``:
    one text per run, "" where none failed), as a single run's JUnit does."""
    missed = {
        t.name: [
            f"run {n}: {r.status.value} {measured(r)}{f'; {r.detail}' if r.detail else ''}"
            for n, results in enumerate(runs, start=1)
            for r in results
            if r.name == t.name and r.status is not Status.PASS
        ]
        for t in tallies
    }
    listeners = "\n".join(f"run {n}: {text}" for n, text in enumerate(why, start=1) if text)
    cases = ElementTree.Element("testsuite", name=suite)
    failures = errors = skipped = 0
    infrastructure = verdict is Verdict.INFRASTRUCTURE
    for t in tallies:
        case = ElementTree.SubElement(cases, "testcase", classname=suite, name=t.name)
        text = t.describe()
        if infrastructure:
            skipped += 1
            ElementTree.SubElement(case, "skipped", message=f"not judged: {text}")
        elif t.status is Status.PASS:
            ElementTree.SubElement(case, "system-out").text = text
        else:
            failures += 1
            kind = {Status.INCONCLUSIVE: "inconclusive", Status.NO_DATA: "no-data"}.get(
                t.status, "slo-violated"
            )
            node = ElementTree.SubElement(case, "failure", message=text, type=kind)
            node.text = "\n".join(missed[t.name]) or None
            if listeners:
                ElementTree.SubElement(case, "system-out").text = listeners
    for n, what in enumerate(problems, start=1):
        errors += 1
        case = ElementTree.SubElement(
            cases, "testcase", classname=suite, name=f"infrastructure #{n}"
        )
        ElementTree.SubElement(case, "error", message=what, type="infrastructure")
    cases.set("tests", str(len(cases)))
    cases.set("failures", str(failures))
    cases.set("errors", str(errors))
    cases.set("skipped", str(skipped))
    return bytes(ElementTree.tostring(cases, encoding="utf-8", xml_declaration=True))
