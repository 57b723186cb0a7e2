"""The `gameday` command.

Each command group lives next to the concept it drives (``chaos/faults/cli.py`` for the proxy,
``chaos/stack/cli.py`` for stacks); this module only assembles them and turns expected failures
(``GamedayError``) into one readable message and the exit code DESIGN.md promises.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaos import __version__
from chaos.errors import ExitCode, GamedayError
from chaos.faults.cli import proxy_app
from chaos.slo.cli import slo_app
from chaos.stack.backends_cli import backends, images_app
from chaos.stack.cli import stack_app

app = typer.Typer(
    name="gameday",
    help="Chaos experiments for live-audio streaming stacks: inject faults, storm the launch, "
    "check the SLOs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(proxy_app, name="proxy")
app.add_typer(stack_app, name="stack")
app.add_typer(images_app, name="images")
app.command()(backends)
app.add_typer(slo_app, name="slo")

err_console = Console(stderr=True, highlight=False)
out_console = Console(highlight=False)


@app.command()
def version() -> None:
    """Print gameday's version and the versions it runs with.

    [b]Example[/b]: gameday version
    """
    out_console.print(f"gameday {__version__}")
    out_console.print(f"python {platform.python_version()} ({sys.executable})")


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Experiment YAML files, or directories of them, to check."),
    ],
) -> None:
    """Check experiment files and their stack specs without starting anything.

    Prints [b]ok FILE (title, N faults, M SLOs)[/b] for each valid file.
    Prints every problem as FILE:LINE:COL: FIELD: what is wrong; did you mean ...?
    Exit 0 when all files are valid, 2 otherwise.

    [b]Examples[/b]:
      gameday validate experiments/
      gameday validate experiments/launch-storm.yaml my-launch.yaml
    """
    from chaos.experiment.validate import validate_files

    raise typer.Exit(validate_files(files, out_console, err_console))


@app.command()
def run(
    experiment: Annotated[Path, typer.Argument(help="The experiment YAML file to run.")],
    dry_run: Annotated[
        bool, typer.Option(help="Print the resolved timeline; start nothing.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Override the experiment's seed.")] = None,
    scale: Annotated[
        float, typer.Option(help="Multiply every listener phase's count (recorded).")
    ] = 1.0,
    junit: Annotated[Path | None, typer.Option(help="Also write the JUnit XML here.")] = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report", help="Write the run's report into this directory.")
    ] = None,
    toxiproxy: Annotated[
        str | None,
        typer.Option(help="Use this Toxiproxy API instead of the embedded fault proxy."),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(help="Evaluate from this Prometheus URL, or `local` to start one."),
    ] = None,
    keep_stack: Annotated[
        bool, typer.Option(help="Leave the stack running (stop: gameday stack down).")
    ] = False,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/RUN-ID/).")] = None,
    backend: Annotated[
        str, typer.Option(help="Run the stack as local processes, in netns or docker.")
    ] = "local",
    load_engine: Annotated[
        str,
        typer.Option(help="Drive listeners with the `native` swarm or Locust (`locust`)."),
    ] = "native",
    locust_workers: Annotated[
        int | None,
        typer.Option(help="Locust workers: started here, or awaited with --locust-master-bind."),
    ] = None,
    locust_master_bind: Annotated[
        str | None,
        typer.Option(help="HOST:PORT where Locust workers started on other machines attach."),
    ] = None,
) -> None:
    """Run a game day: stack up, baseline, faults and workload, rollback, verdict.

    Exit 0 pass, 1 an SLO failed or a guard aborted the run, 2 invalid input,
    3 infrastructure (stack, proxy or metrics unreachable; unhealthy baseline) or an
    incomplete load (a Locust worker went missing), 130 interrupted.

    [b]Examples[/b]:
      gameday run experiments/launch-storm.yaml
      gameday run experiments/launch-storm.yaml --load-engine locust --locust-workers 2
      gameday run experiments/edge-outage.yaml --dry-run
      gameday run my-launch.yaml --junit reports/gameday.xml --toxiproxy http://toxiproxy.lab.example:8474
    """
    from chaos.runner.cli import run_command
    from chaos.runner.load_engine import LoadOptions
    from chaos.runner.run import RunOptions

    options = RunOptions(
        seed=seed,
        scale=scale,
        junit=junit,
        report=report_dir,
        toxiproxy=toxiproxy,
        prometheus=prometheus,
        keep_stack=keep_stack,
        out=out,
        backend=backend,
        load=LoadOptions(load_engine, locust_workers, locust_master_bind),
    )
    raise typer.Exit(run_command(experiment, options, dry_run=dry_run, console=out_console))


@app.command()
def plan(
    listeners: Annotated[int, typer.Option(help="Concurrent listeners the run must hold.")],
    engine: Annotated[str, typer.Option(help="Load engine: locust or native.")] = "locust",
    figures: Annotated[
        Path | None,
        typer.Option(help="Measured figures (JSON from benchmarks/swarm.py).", show_default=False),
    ] = None,
    bitrate: Annotated[str, typer.Option(help="Stream bit rate per listener.")] = "64kbps",
    fd_limit: Annotated[int, typer.Option(help="File descriptors per worker process.")] = 20_000,
    cores_per_machine: Annotated[int, typer.Option(help="Cores per load machine.")] = 8,
) -> None:
    """Print what a run of N listeners needs: workers, connections per worker, machines,
    source addresses and bandwidth, from figures measured by benchmarks/swarm.py.

    Reads --figures, else reports/capacity.json, else the figures measured in gameday's lab.
    Exit 0, or 2 for invalid input.

    [b]Example[/b]: gameday plan --listeners 8000000
    """
    from chaos.workload.plan_cli import plan_command

    raise typer.Exit(
        plan_command(
            listeners,
            engine=engine,
            figures_path=figures,
            bitrate=bitrate,
            fd_limit=fd_limit,
            cores_per_machine=cores_per_machine,
            console=out_console,
        )
    )


@app.command()
def replay(
    journal: Annotated[Path, typer.Argument(help="The recorded run's journal.jsonl.")],
    experiment: Annotated[
        Path | None,
        typer.Option(
            help="Run this file instead of the recorded path (moved, or a fix to compare); "
            "the fault diff shows what it changed."
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory (default runs/RUN-ID/).")] = None,
    backend: Annotated[
        str, typer.Option(help="Run the stack as local processes, in netns or docker.")
    ] = "local",
) -> None:
    """Re-run a recorded run with its seed, timeline and workload; print what changed.

    Prints whether the fault decisions are identical, then each SLO as [b]same[/b],
    [b]newly passing[/b] or [b]newly failing[/b] with both values. Exit code as for run.

    [b]Examples[/b]:
      gameday replay runs/20261124T150000Z-1a2b3c4d/journal.jsonl
      gameday replay runs/as-launched/journal.jsonl --experiment launch.fixed.yaml  # a fix
    """
    from chaos.replay.replay import replay_command

    code = replay_command(
        journal, experiment=experiment, out=out, backend=backend, console=out_console
    )
    raise typer.Exit(code)


@app.command(name="import")
def import_incident(
    recording: Annotated[
        Path, typer.Argument(help="Listeners over time: a CSV or a Prometheus range-query JSON.")
    ],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Experiment file to write.")
    ] = None,
    scale: Annotated[
        int, typer.Option(help="People per synthetic listener (the experiment's 1:N).")
    ] = 1000,
) -> None:
    """Turn a recorded incident into an experiment: an arrival curve and a fault schedule.

    Writes the experiment YAML and, next to it, the curve CSV its listeners replay.

    [b]Examples[/b]:
      gameday import incident.csv -o experiments/incident.yaml --scale 5000
      curl -s "$PROM/api/v1/query_range?query=...&start=...&end=...&step=15" > range.json
      gameday import range.json -o experiments/incident.yaml
    """
    from chaos.replay.importer import import_command

    raise typer.Exit(import_command(recording, output, scale, out_console))


@app.command()
def search(
    experiment: Annotated[Path, typer.Argument(help="The experiment whose SLOs must hold.")],
    budget: Annotated[str, typer.Option(help="Time for the whole search, e.g. 10m.")],
    repeats: Annotated[int, typer.Option(help="Runs per schedule (repeat-and-vote).")] = 3,
    quorum: Annotated[
        int | None, typer.Option(help="Failing runs that call a schedule failing (default: most).")
    ] = None,
    example_budget: Annotated[
        str | None, typer.Option(help="Time for one schedule's repeats, e.g. 5m.")
    ] = None,
    max_faults: Annotated[int, typer.Option(help="Faults in a schedule, at most.")] = 3,
    max_examples: Annotated[int, typer.Option(help="Schedules to try before shrinking.")] = 200,
    kind: Annotated[
        list[str] | None, typer.Option(help="Fault kinds to search (latency, loss, down).")
    ] = None,
    link: Annotated[list[str] | None, typer.Option(help="Links to search (repeatable).")] = None,
    vary_storm: Annotated[
        bool, typer.Option(help="Also vary the launch storm's size and spread.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the search and its runs.")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="Search directory (default runs/search-NAME/).")
    ] = None,
    toxiproxy: Annotated[str | None, typer.Option(help="Use this Toxiproxy API.")] = None,
    backend: Annotated[str, typer.Option(help="local, netns or docker.")] = "local",
) -> None:
    """Search for the smallest fault schedule that breaks the experiment's SLOs.

    Writes the minimal failing schedule as an experiment (replay it with gameday run) and a
    report. Exit 1 when one was found, 0 when none was within the budget.

    [b]Examples[/b]:
      gameday search experiments/launch-storm.yaml --budget 10m
      gameday search my.yaml --budget 1h --repeats 5 --quorum 4 --kind latency --out runs/s1
    """
    from chaos.runner.run import RunOptions
    from chaos.search.cli import SearchOptions, search_command

    options = SearchOptions(
        budget=budget,
        repeats=repeats,
        quorum=quorum,
        example_budget=example_budget,
        max_faults=max_faults,
        max_examples=max_examples,
        kinds=tuple(kind or ()),
        links=tuple(link or ()),
        vary_storm=vary_storm,
        seed=seed,
        out=out,
    )
    run_options = RunOptions(toxiproxy=toxiproxy, backend=backend)
    raise typer.Exit(search_command(experiment, options, run_options, out_console))


@app.command()
def report(
    journal: Annotated[Path, typer.Argument(help="A run's journal.jsonl.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Also write the report files (report.html, summary.md) here."),
    ] = None,
    formats: Annotated[
        str | None,
        typer.Option("--format", help="Files to write with --out: html, md or html,md (both)."),
    ] = None,
    grafana_url: Annotated[
        str | None,
        typer.Option(
            help="Push the run's fault windows and verdict to this Grafana as annotations "
            "(token from $GRAFANA_TOKEN, or $GRAFANA_USER/$GRAFANA_PASSWORD)."
        ),
    ] = None,
) -> None:
    """Summarise a run from its journal alone: phases, faults, SLOs and the verdict.

    With [b]--out DIR[/b], also write a self-contained HTML report (plots with the fault windows
    shaded) and a Markdown summary for CI logs.

    [b]Examples[/b]:
      gameday report runs/20261124T150000Z-1a2b3c4d/journal.jsonl
      gameday report journal.jsonl --json | jq .verdict
      gameday report journal.jsonl --out reports/ --format html,md
      GRAFANA_TOKEN=glsa_... gameday report journal.jsonl --grafana-url http://grafana:3000
    """
    import json

    from chaos.report.console import print_summary
    from chaos.report.files import requested_formats, write_reports
    from chaos.report.journal import read_journal
    from chaos.report.summary import summarize

    wanted = requested_formats(formats, out)
    history = read_journal(journal)
    summary = summarize(history)
    if out is not None:
        for path in write_reports(history, out, wanted):
            typer.echo(f"wrote {path}", err=True)
    if grafana_url is not None:
        import asyncio

        from chaos.report.grafana import annotate_journal, credential_from_env

        asyncio.run(annotate_journal(history, grafana_url, credential_from_env()))
        typer.echo(f"annotated {grafana_url}", err=True)
    if as_json:
        typer.echo(json.dumps(summary.to_json(), indent=2))
    else:
        print_summary(summary, out_console)


@app.command()
def rollback(
    toxiproxy_url: Annotated[
        str | None,
        typer.Option(
            help="Toxiproxy API URL (default: $TOXIPROXY_URL, else http://127.0.0.1:8474)."
        ),
    ] = None,
    run_id: Annotated[
        str | None, typer.Option(help="Remove only the toxics this run created.")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Remove every toxic and re-enable every proxy.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option(help="Show what would be removed; change nothing.")
    ] = False,
) -> None:
    """Remove faults left behind on a Toxiproxy server (exit 3 if it is unreachable).

    [b]Examples[/b]:
      gameday rollback --all
      gameday rollback --run-id 20261124T150000Z-1a2b3c4d --toxiproxy-url http://toxiproxy.lab.example:8474
    """
    from chaos.runner.rollback import rollback_command
    from chaos.stack.cleanup import cleanup_run

    try:
        for line in rollback_command(toxiproxy_url, run_id, everything=everything, dry_run=dry_run):
            out_console.print(line, markup=False)
    finally:  # toxics first (the proxy may live in one of the run's containers), then these
        if run_id is not None and not dry_run:
            for line in cleanup_run(run_id):
                out_console.print(line, markup=False)


def main() -> None:
    """Entry point: run the app, mapping expected failures to exit codes without tracebacks."""
    try:
        app()
    except GamedayError as exc:
        err_console.print(f"[bold red]error[/]: {exc.render()}", markup=True)
        sys.exit(int(exc.exit_code))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(int(ExitCode.INTERRUPTED))


if __name__ == "__main__":
    main()
