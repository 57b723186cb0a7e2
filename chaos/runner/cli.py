"""`gameday run`: load, run, print the verdict and where the evidence is; exit with its code."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from rich.console import Console

from chaos.errors import InvalidInput
from chaos.experiment.loader import load_experiment
from chaos.report.files import FORMATS, append_step_summary, write_reports
from chaos.report.journal import read_journal
from chaos.runner.run import GameDay, RunOptions, RunOutcome, plan_for
from chaos.runner.verdict import Verdict

_STYLE = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.ABORTED: "bold red",
    Verdict.INFRASTRUCTURE: "bold yellow",
    Verdict.INCOMPLETE: "bold yellow",
    Verdict.INVALID: "bold yellow",
    Verdict.INTERRUPTED: "bold yellow",
}


def run_command(path: Path, options: RunOptions, *, dry_run: bool, console: Console) -> int:
    """The exit code of ``gameday run``; invalid files raise ``ExperimentError`` (exit 2)."""
    if options.scale <= 0:
        raise InvalidInput(f"--scale {options.scale:g}", fix="give a factor above 0, e.g. 0.1")
    loaded = load_experiment(path)
    options.load.check(loaded.experiment)
    if dry_run:
        timeline = plan_for(loaded, options.scale, options.backend)
        console.print(f"[bold]{loaded.experiment.title}[/] ({path}), {timeline.total:g}s in all:")
        for line in timeline.lines():
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        console.print("dry run: nothing was started")
        return 0
    # Until the run's own handlers are installed, SIGTERM interrupts like Ctrl-C (exit 130).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    outcome = asyncio.run(GameDay(loaded, options, console).execute())
    _print_outcome(outcome, console)
    _write_reports(outcome, options.report, console)
    return int(outcome.exit_code)


def _write_reports(outcome: RunOutcome, report_dir: Path | None, console: Console) -> None:
    """The Markdown summary next to the journal (and in GitHub's step summary when set);
    with ``--report DIR`` the HTML report and the summary there as well."""
    journal = read_journal(outcome.journal)
    written = write_reports(journal, outcome.run_dir, ["md"])
    if report_dir is not None:
        written += write_reports(journal, report_dir, list(FORMATS))
    append_step_summary(journal)
    for path in written:
        console.print(f"report:  {path}", markup=False, highlight=False)


def _print_outcome(outcome: RunOutcome, console: Console) -> None:
    for result in outcome.results:
        value = "no data" if result.value is None else f"{result.value:g}"
        console.print(
            f"  {result.status.value:<8} {result.name}: {value} "
            f"(must be {result.threshold.describe()})",
            markup=False,
            highlight=False,
        )
    verdict = outcome.verdict
    console.print(f"verdict: [{_STYLE[verdict]}]{verdict.value}[/] (exit {int(outcome.exit_code)})")
    if outcome.message:
        console.print(outcome.message, markup=False, highlight=False)
    for problem in outcome.problems:
        console.print(f"rollback problem: {problem}", markup=False, highlight=False)
    console.print(f"journal: {outcome.journal}", markup=False, highlight=False)
    console.print(f"junit:   {outcome.run_dir / 'junit.xml'}", markup=False, highlight=False)
