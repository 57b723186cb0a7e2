"""The Markdown summary: what a CI log or a pull-request comment shows of a run.

GitHub renders it (``$GITHUB_STEP_SUMMARY``, PR comments) and a terminal shows it as plain
text, so it keeps to tables and plain words; cell text is escaped so a value with ``|`` or a
newline cannot break a table.
"""

from __future__ import annotations

from collections.abc import Sequence

from chaos.report.journal import Journal
from chaos.report.model import Report, build_report

_MARK = {"pass": "✅", "fail": "❌", "no-data": "⚠️"}


def _cell(text: object) -> str:
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip() or " "


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _markdown(report: Report) -> str:
    summary = report.summary
    verdict = report.verdict
    lines = [
        f"## {_MARK.get(verdict, '❔')} gameday: {_cell(report.title)} — **{_cell(verdict)}**",
        "",
        f"run `{summary.run_id}` · seed `{summary.seed}` · started {report.started} · "
        f"lasted {summary.duration_s:.1f}s",
        "",
    ]
    lines += [f"> ⚠️ {warning}" for warning in report.warnings]
    if report.warnings:
        lines.append("")
    if report.slos:
        failed = sum(row.status != "pass" for row in report.slos)
        lines.append(f"### SLOs ({len(report.slos) - failed} of {len(report.slos)} passed)")
        lines.append("")
        lines += _table(
            ("SLO", "status", "value", "threshold", "window", "evidence"),
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
    if report.faults:
        lines.append("### Faults")
        lines.append("")
        lines += _table(
            ("fault", "start", "end", "parameters"),
            [
                (f.name, f"{f.start:.2f}s", "never ended" if f.end is None else f"{f.end:.2f}s",
                 f.params)
                for f in report.faults
            ],
        )  # fmt: skip
        lines.append("")
    if summary.phases:
        phases = ", ".join(
            f"{p.name} {p.start:.1f}s–" + ("" if p.end is None else f"{p.end:.1f}s")
            for p in summary.phases
        )
        lines += [f"Phases: {_cell(phases)}", ""]
    meta = ", ".join(f"{key} {value}" for key, value in report.meta)
    lines += [f"<sub>{_cell(meta)}</sub>", ""]
    return "\n".join(lines)


def render_markdown(journal: Journal) -> str:
    """The summary of one run, from its journal alone."""
    return _markdown(build_report(journal))
