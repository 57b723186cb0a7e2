"""A run summary for the terminal (rich), the quickest look at what a journal recorded."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from chaos.report.summary import RunSummary

_VERDICT_STYLE = {"pass": "bold green", "fail": "bold red", "aborted": "bold yellow"}


def _span(start: float, end: float | None) -> str:
    return f"{start:8.2f}s → " + (f"{end:.2f}s" if end is not None else "(never ended)")


def print_summary(summary: RunSummary, console: Console) -> None:
    started = datetime.fromtimestamp(summary.started_wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    console.print(
        f"[b]{summary.title or 'untitled run'}[/b]  run {summary.run_id}  seed {summary.seed}"
    )
    console.print(f"started {started}, lasted {summary.duration_s:.2f}s")
    verdict = summary.verdict or "none (the run did not reach evaluation)"
    console.print(f"verdict: [{_VERDICT_STYLE.get(verdict, 'bold')}]{verdict}[/]")
    if summary.torn_tail:
        console.print("[yellow]the last line was torn (writer killed mid-event) and was dropped[/]")
    if not summary.closed:
        console.print("[yellow]the journal was not closed: the run was killed or is still going[/]")

    if summary.phases:
        table = Table(title="phases", title_justify="left")
        table.add_column("phase")
        table.add_column("span")
        for phase in summary.phases:
            table.add_row(phase.name, _span(phase.start, phase.end))
        console.print(table)
    if summary.faults:
        table = Table(title="faults", title_justify="left")
        table.add_column("fault")
        table.add_column("span")
        table.add_column("parameters")
        for fault in summary.faults:
            params = ", ".join(f"{k}={v}" for k, v in fault.params.items())
            table.add_row(fault.name, _span(fault.start, fault.end), params)
        console.print(table)
    if summary.slos:
        table = Table(title="SLOs", title_justify="left")
        for column in ("slo", "status", "value", "threshold"):
            table.add_column(column)
        for slo in summary.slos:
            status = str(slo.get("status"))
            table.add_row(
                str(slo.get("name")),
                f"[{_VERDICT_STYLE.get(status, 'bold')}]{status}[/]",
                str(slo.get("value")),
                str(slo.get("threshold", "")),
            )
        console.print(table)
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(summary.event_counts.items()))
    console.print(f"events: {counts}")
