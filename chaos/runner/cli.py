"""`gameday run`: load, run, print the verdict and where the evidence is; exit with its code."""

from __future__ import annotations

import asyncio
import json
import random
import signal
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from chaos.errors import InvalidInput
from chaos.experiment.loader import LoadedExperiment, load_experiment
from chaos.faults.client import ToxiproxyClient
from chaos.faults.client.errors import ToxiproxyUnreachable
from chaos.report.failures import describe, detail_text, failure_rows
from chaos.report.files import FORMATS, append_step_summary, write_reports
from chaos.report.journal import new_run_id, read_journal
from chaos.runner.audience import stack_for
from chaos.runner.repeat import repeat_junit, repeat_seed, repeated_verdict, tally
from chaos.runner.run import GameDay, RunOptions, RunOutcome, plan_for
from chaos.runner.toxics import check_supported
from chaos.runner.verdict import Verdict
from chaos.stack.backend import require_images

_STYLE = {
    Verdict.PASS: "bold green",
    Verdict.FAIL: "bold red",
    Verdict.ABORTED: "bold red",
    Verdict.INFRASTRUCTURE: "bold yellow",
    Verdict.INVALID: "bold yellow",
    Verdict.INTERRUPTED: "bold yellow",
    Verdict.INCONCLUSIVE: "bold yellow",
}


def run_command(
    path: Path, options: RunOptions, *, dry_run: bool, console: Console, repeat: int = 1
) -> int:
    """The exit code of ``gameday run``; invalid files raise ``ExperimentError`` (exit 2)."""
    if isinstance(options.scale, float) and options.scale <= 0:
        raise InvalidInput(f"--scale {options.scale:g}", fix="write 1:N, e.g. --scale 1:500")
    loaded = load_experiment(path, options.backend)
    options.load.check(loaded.experiment, loaded.stack)
    require_images(options.backend, loaded.stack, options.images)
    if dry_run:
        timeline = plan_for(loaded, options.scale, options.backend)
        console.print(f"[bold]{loaded.experiment.title}[/] ({path}), {timeline.total:g}s in all:")
        for line in timeline.lines():
            console.print(line, markup=False, highlight=False, soft_wrap=True)
        console.print(_asked_proxy(loaded, options), markup=False, highlight=False)
        console.print("dry run: nothing was started")
        return 0
    # Until the run's own handlers are installed, SIGTERM interrupts like Ctrl-C (exit 130).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    if repeat != 1:
        return repeat_runs(loaded, options, repeat, console)
    outcome = asyncio.run(GameDay(loaded, options, console).execute())
    _print_outcome(outcome, console)
    write_run_reports(outcome, options.report, console)
    return int(outcome.exit_code)


def repeat_runs(
    loaded: LoadedExperiment, options: RunOptions, repeat: int, console: Console
) -> int:
    """``--repeat N``: N runs with seeds derived from the experiment's, one verdict per SLO with
    its stability statement, JUnit with one case per SLO; every run keeps its own directory."""
    if repeat < 1:
        raise InvalidInput(f"--repeat {repeat}", fix="give at least 1 run, e.g. --repeat 5")
    seed = options.seed if options.seed is not None else loaded.experiment.seed
    if seed is None:
        seed = random.SystemRandom().randrange(2**63)
    base = (options.out or Path("runs") / f"repeat-{new_run_id()}").resolve()
    outcomes: list[RunOutcome] = []
    for n in range(repeat):
        each = replace(
            options, seed=repeat_seed(seed, n), out=base / f"run-{n + 1}", junit=None, report=None
        )
        console.print(f"repeat {n + 1} of {repeat} (seed {each.seed})", highlight=False)
        outcome = asyncio.run(GameDay(loaded, each, console).execute())
        _print_outcome(outcome, console)
        outcomes.append(outcome)
        if outcome.verdict is Verdict.INTERRUPTED:
            break
    tallies = tally([o.results for o in outcomes])
    verdict = repeated_verdict([o.verdict for o in outcomes], tallies)
    problems = [
        f"run {n}: {f.describe()}" for n, o in enumerate(outcomes, start=1) for f in o.failures
    ] + [
        f"run {n}: {o.message or o.verdict.value}"
        for n, o in enumerate(outcomes, start=1)
        if o.verdict is Verdict.INFRASTRUCTURE and not o.failures
    ]
    console.print(f"{len(outcomes)} runs (seed {seed}):", highlight=False)
    for t in tallies:
        held, runs = t.share
        console.print(
            f"  {t.status.value:<8} {t.name}: {t.describe()} ({held} of {runs} runs)",
            markup=False,
            highlight=False,
        )
    code = int(verdict.exit_code)
    console.print(f"verdict: [{_STYLE[verdict]}]{verdict.value}[/] (exit {code})")
    for problem in problems:
        console.print(f"  the harness failed, not the stack: {problem}", markup=False)
    junit = repeat_junit(
        loaded.experiment.title,
        tallies,
        verdict,
        problems,
        runs=[o.results for o in outcomes],
        why=[_listener_failures(o) for o in outcomes],
    )
    base.mkdir(parents=True, exist_ok=True)
    (base / "junit.xml").write_bytes(junit)
    (base / "repeat.json").write_text(
        json.dumps(
            {
                "seed": seed,
                "verdict": verdict.value,
                "exit_code": code,
                "runs": [
                    {
                        "seed": repeat_seed(seed, n),
                        "verdict": o.verdict.value,
                        "dir": str(o.run_dir),
                    }
                    for n, o in enumerate(outcomes)
                ],
                "slos": [
                    {
                        "name": t.name,
                        "status": t.status.value,
                        "statement": t.describe(),
                        "counts": dict(t.counts),
                        "values": list(t.values),
                    }
                    for t in tallies
                ],
                "infrastructure": problems,
            },
            indent=2,
        )
    )
    if options.junit is not None:
        options.junit.parent.mkdir(parents=True, exist_ok=True)
        options.junit.write_bytes(junit)
    console.print(f"repeats: {base}", markup=False, highlight=False)
    return code


def _asked_proxy(loaded: LoadedExperiment, options: RunOptions) -> str:
    """With ``--toxiproxy`` (or ``TOXIPROXY_URL``), ask that proxy what it can make and refuse
    (exit 2) the faults it cannot, as the run would before starting anything; without, say
    that nobody was asked."""
    if options.toxiproxy is None:
        return (
            "fault proxy: not asked (no --toxiproxy, no TOXIPROXY_URL); the run starts the "
            "embedded proxy, which makes every fault kind above; give --toxiproxy URL to check "
            "a real one"
        )
    with ToxiproxyClient(options.toxiproxy) as client:
        try:
            server = client.server_info()
        except ToxiproxyUnreachable as exc:
            raise exc.named_by(options.toxiproxy_source) from None
        check_supported(
            loaded.experiment.faults,
            stack_for(loaded.experiment, loaded.stack),
            server.features,
            client.url,
            kernel=options.backend == "netns",
        )
    features = ", ".join(sorted(server.features)) or "none beyond Toxiproxy 2.12"
    return (
        f"fault proxy: asked {client.url} (from {options.toxiproxy_source}; {server.flavor} "
        f"{server.version}; extensions: "
        f"{features}): it can make every fault above"
    )


def write_run_reports(outcome: RunOutcome, report_dir: Path | None, console: Console) -> None:
    """Why listeners failed (each reason with its first detail), then the Markdown summary
    next to the journal (and in GitHub's step summary when set); with ``--report DIR`` the
    HTML report and the summary there as well."""
    journal = read_journal(outcome.journal)
    for row in failure_rows(journal):
        console.print(f"  listeners {describe(row)}", markup=False, highlight=False)
    written = write_reports(journal, outcome.run_dir, ["md"])
    if report_dir is not None:
        written += write_reports(journal, report_dir, list(FORMATS))
    append_step_summary(journal)
    for path in written:
        console.print(f"report:  {path}", markup=False, highlight=False)


def _listener_failures(outcome: RunOutcome) -> str:
    """Why listeners failed in one run, every reason with its details ("" if none failed)."""
    if not outcome.journal.exists():
        return ""
    return detail_text(failure_rows(read_journal(outcome.journal)))


def _print_outcome(outcome: RunOutcome, console: Console) -> None:
    for result in outcome.results:
        value = result.shown
        console.print(
            f"  {result.status.value:<8} {result.name}: {value} "
            f"(must be {result.threshold.describe()})",
            markup=False,
            highlight=False,
        )
        if result.differential is not None:
            console.print(f"           {result.detail}", markup=False, highlight=False)
    verdict = outcome.verdict
    console.print(f"verdict: [{_STYLE[verdict]}]{verdict.value}[/] (exit {int(outcome.exit_code)})")
    for failure in outcome.failures:
        console.print(
            f"  the harness failed, not the stack: {failure.describe()}",
            markup=False,
            highlight=False,
        )
    for found in outcome.exits:
        console.print(
            f"  stack component exited by itself: {found.describe()}",
            markup=False,
            highlight=False,
        )
    if outcome.message:
        console.print(outcome.message, markup=False, highlight=False)
    for problem in outcome.problems:
        console.print(f"rollback problem: {problem}", markup=False, highlight=False)
    console.print(f"journal: {outcome.journal}", markup=False, highlight=False)
    console.print(f"junit:   {outcome.run_dir / 'junit.xml'}", markup=False, highlight=False)
