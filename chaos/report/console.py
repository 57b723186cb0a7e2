"""A run's report for the terminal (``gameday report``): the quickest look at a journal.

The same model as summary.md and the HTML report, so the three agree: T0 time with UTC beside
it, values in their SLOs' units, what each fault cost, and why the verdict is what it is.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from chaos.report.compare import Comparison
from chaos.report.model import Report, span

_VERDICT_STYLE = {
    "pass": "bold green",
    "fail": "bold red",
    "aborted": "bold red",
    "infrastructure": "bold magenta",
}


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    return table


def print_report(report: Report, console: Console) -> None:
    summary = report.summary
    console.print(f"[b]{report.title}[/b]  run {summary.run_id}  seed {summary.seed}")
    console.print(
        f"{report.t0}; the journal spans "
        f"{span(summary.opened, summary.opened + summary.duration_s)} ({summary.duration_s:.1f}s)"
    )
    verdict = summary.verdict or "none (the run did not reach evaluation)"
    console.print(f"verdict: [{_VERDICT_STYLE.get(verdict, 'bold')}]{verdict}[/]")
    for reason in report.reasons:
        console.print(f"  {reason}", markup=False)
    for warning in report.warnings:
        console.print(f"[yellow]{warning}[/]")

    if summary.phases:
        table = _table("phases", "phase", "from T0", "UTC")
        for phase in summary.phases:
            table.add_row(phase.name, span(phase.start, phase.end), report.at_utc(phase.start))
        console.print(table)
    if report.faults:
        table = _table("faults", "fault", "from T0", "UTC", "target", "what", "outcome")
        for fault in report.faults:
            table.add_row(
                fault.name,
                fault.span,
                report.at_utc(fault.start),
                fault.target,
                fault.effect,
                fault.outcome,
            )
        console.print(table)
    if report.slos:
        table = _table("SLOs", "slo", "status", "value", "threshold", "window (T0 time)")
        for slo in report.slos:
            table.add_row(
                slo.name,
                f"[{_VERDICT_STYLE.get(slo.status, 'bold')}]{slo.status}[/]",
                slo.value,
                slo.threshold,
                slo.window,
            )
        console.print(table)
    for cost in report.costs:
        fault = cost.fault
        table = _table(
            f"what {fault.name} cost ({fault.effect}, {fault.span})",
            "slo",
            "in the fault",
            "reference",
            "change",
            "recovered after",
        )
        for row in cost.rows:
            table.add_row(
                row.slo,
                f"[red]{row.during}[/]" if row.breached else row.during,
                f"{row.reference} ({row.reference_window})",
                f"{row.change}, {row.verdict}" if row.change != "—" else "—",
                row.recovered,
            )
        console.print(table)
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(summary.event_counts.items()))
    console.print(f"events: {counts}", markup=False)


def print_comparison(comparison: Comparison, console: Console) -> None:
    """`gameday report --against`: each SLO then and now, then each fault's cost then and now."""
    c = comparison
    console.print(
        f"compared with run {c.run_id_against}: verdict {c.verdict_against} -> {c.verdict_run}"
        f" ({'same fault decisions' if c.same_faults else 'fault decisions differ'})",
        markup=False,
        highlight=False,
    )
    for d in c.slos:
        direction = f", {d.direction}" if d.direction else ""
        console.print(
            f"  {d.change:<14} {d.name}: {d.value_against} -> {d.value_run}"
            f" (delta {d.delta}{direction})",
            markup=False,
            highlight=False,
        )
    for f in c.faults:
        direction = f", {f.direction}" if f.direction else ""
        console.print(
            f"  fault {f.fault} / {f.slo}: {f.during_against} -> {f.during_run}"
            f" (delta {f.delta}{direction})",
            markup=False,
            highlight=False,
        )
