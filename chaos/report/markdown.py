"""The Markdown summary: what a CI log or a pull-request comment shows of a run.

GitHub renders it (``$GITHUB_STEP_SUMMARY``, PR comments) and a terminal shows it as plain
text, so it keeps to tables and plain words; cell text is escaped so a value with ``|`` or a
newline cannot break a table.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos.report.compare import Comparison, compare
from chaos.report.failures import KINDS
from chaos.report.journal import Journal
from chaos.report.model import Report, build_report, span

_MARK = {"pass": "✅", "fail": "❌", "no-data": "⚠️", "infrastructure": "🛠️", "inconclusive": "❔"}


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _cost_lines(report: Report) -> list[str]:
    lines = ["### What each fault cost", ""]
    control = any(row.control is not None for table in report.costs for row in table.rows)
    for table in report.costs:
        fault = table.fault
        lines += [
            f"**{_cell(fault.name)}** — {_cell(fault.effect)} on {_cell(fault.target)}, "
            f"{fault.span}",
            "",
        ]
        header = ["SLO", "in the fault", "reference", "change"]
        header += ["vs control"] if control else []
        header += ["recovered after"]
        rows = []
        for row in table.rows:
            during = f"{'❌ ' if row.breached else ''}{row.during}"
            cells = [row.slo, during, f"{row.reference} ({row.reference_window})"]
            cells.append(f"{row.change}, {row.verdict}" if row.change != "—" else "—")
            if control:
                cells.append(row.control or "—")
            cells.append(row.recovered)
            rows.append(cells)
        lines += _table(header, rows)
        lines.append("")
    return lines


def comparison_lines(c: Comparison) -> list[str]:
    """`gameday report --against`: each SLO and each fault's cost in both runs, and the delta."""
    decisions = (
        "the same fault decisions"
        if c.same_faults
        else f"{len(c.fault_decisions)} fault decision(s) differ"
    )
    lines = [
        f"### Compared with run `{c.run_id_against}`",
        "",
        f"Verdict: {_cell(c.verdict_against)} then → {_cell(c.verdict_run)} now; {decisions}. "
        "Deltas are this run − the other.",
        "",
    ]
    lines += _table(
        ("SLO", "then", "now", "delta", "change"),
        [
            (d.name, f"{d.value_against} ({d.status_against})", f"{d.value_run} ({d.status_run})",
             f"{d.delta}{', ' + d.direction if d.direction else ''}", d.change)
            for d in c.slos
        ],
    )  # fmt: skip
    lines.append("")
    if c.faults:
        lines += ["#### What each fault cost, then and now", ""]
        lines += _table(
            ("fault", "SLO", "in the fault then", "now", "delta"),
            [
                (d.fault, d.slo, d.during_against, d.during_run,
                 f"{d.delta}{', ' + d.direction if d.direction else ''}")
                for d in c.faults
            ],
        )  # fmt: skip
        lines.append("")
    lines += [f"- {_cell(line)}" for line in c.fault_decisions]
    if c.fault_decisions:
        lines.append("")
    return lines


def _exit_lines(report: Report) -> list[str]:
    """Components that exited by themselves: the stack's doing, which the SLOs judge."""
    if not report.exits:
        return []
    lines = [
        "### Stack components that exited by themselves",
        "",
        "Not ended by a fault or by gameday: what the stack did (the SLOs judge its effect).",
        "",
    ]
    for row in report.exits:
        lines.append(f"- **{_cell(row.line)}** ({report.at_utc(row.at)}); log `{_cell(row.log)}`")
        lines += [f"  - `{_cell(line)}`" for line in row.last_lines[-5:]]
    lines.append("")
    return lines


def _failure_lines(report: Report) -> list[str]:
    if not report.failures:
        return []
    lines = ["### Why listeners failed", ""]
    lines += _table(
        ("what", "reason", "count", "first examples"),
        [
            (KINDS[row.kind], row.reason, row.count, " · ".join(row.examples) or "—")
            for row in report.failures
        ],
    )
    return [*lines, ""]


def _cohort_lines(report: Report) -> list[str]:
    """Differential SLOs: control and experiment side by side, the difference, its interval."""
    rows = [
        (row.name, f"{_MARK.get(row.status, '')} {row.status}", c.control, c.experiment,
         c.difference, c.interval, c.bound, c.listeners)
        for row in report.slos
        if (c := row.cohorts) is not None
    ]  # fmt: skip
    if not rows:
        return []
    header = ("SLO", "status", "control", "experiment", "difference", "interval", "must be",
              "samples (control / experiment)")  # fmt: skip
    return ["### Control vs experiment", "", *_table(header, rows), ""]


def _markdown(report: Report, comparison: Comparison | None = None) -> str:
    summary = report.summary
    verdict = report.verdict
    lines = [
        f"## {_MARK.get(verdict, '❔')} gameday: {_cell(report.title)} — **{_cell(verdict)}**",
        "",
        f"run `{summary.run_id}` · seed `{summary.seed}` · {report.t0} · "
        f"lasted {summary.duration_s:.1f}s "
        f"({span(summary.opened, summary.opened + summary.duration_s)})",
        "",
    ]
    lines += [f"> ⚠️ {warning}" for warning in report.warnings]
    if report.warnings:
        lines.append("")
    if summary.infrastructure:
        lines += [
            "### Infrastructure: the harness failed, not the stack",
            "",
            "The verdict is `infrastructure` (exit 3): a part gameday brings failed, so the SLOs "
            "below measured the harness and do not judge the stack.",
            "",
        ]
    if report.reasons:
        lines += [f"- **{_cell(reason)}**" for reason in report.reasons]
        lines.append("")
    lines += _exit_lines(report)
    if report.slos:
        failed = sum(row.status != "pass" for row in report.slos)
        lines.append(f"### SLOs ({len(report.slos) - failed} of {len(report.slos)} passed)")
        lines.append("")
        lines += _table(
            ("SLO", "status", "value", "threshold", "window (T0 time)", "evidence"),
            [
                (row.name, f"{_MARK.get(row.status, '❔')} {row.status}", row.value,
                 row.threshold, row.window, row.evidence)
                for row in report.slos
            ],
        )  # fmt: skip
        details = [(row.name, row.detail) for row in report.slos if row.detail]
        if details:
            lines.append("")
            lines += [f"- **{_cell(name)}**: {_cell(detail)}" for name, detail in details]
    else:
        lines.append("No SLO was evaluated.")
    lines.append("")
    lines += _failure_lines(report)
    lines += _cohort_lines(report)
    if report.costs:
        lines += _cost_lines(report)
    if comparison is not None:
        lines += comparison_lines(comparison)
    if report.faults:
        lines.append("### Faults")
        lines.append("")
        lines += _table(
            ("fault", "from T0", "started (UTC)", "target", "what", "made", "outcome"),
            [
                (f.name, f.span, report.at_utc(f.start), f.target, f.effect, f.made, f.outcome)
                for f in report.faults
            ],
        )  # fmt: skip
        lines.append("")
    if summary.phases:
        phases = ", ".join(f"{p.name} {report.at(p.start)}" for p in summary.phases)
        lines += [f"Phases: {_cell(phases)}", ""]
    meta = ", ".join(f"{key} {value}" for key, value in report.meta)
    lines += [f"<sub>{_cell(meta)}</sub>", ""]
    return "\n".join(lines)


def render_markdown(journal: Journal, against: Journal | None = None) -> str:
    """The summary of one run, from its journal alone; with ``against``, compared with it."""
    report = build_report(journal)
    if against is None:
        return _markdown(report)
    return _markdown(report, compare(journal, report, against, build_report(against)))
