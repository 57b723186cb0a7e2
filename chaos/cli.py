"""The `gameday` command.

Each command group lives next to the concept it drives (``chaos/faults/cli.py`` for the proxy,
``chaos/stack/cli.py`` for stacks); this module only assembles them and turns expected failures
(``GamedayError``) into one readable message and the exit code DESIGN.md promises.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from chaos import __version__, cli_options
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

UNWRAPPED = 4096
"""Width of a console that is not a terminal: CI logs (GitHub Actions sets no ``COLUMNS``)
keep one record a line instead of rich's 80-column default."""


def _console(*, stderr: bool = False) -> Console:
    """A terminal wraps to its width; anything else (a CI log, a pipe, a file) gets one record a
    line whatever ``COLUMNS`` says, so an error's location and its fix are never split."""
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    width = None if terminal or os.environ.get("COLUMNS") else UNWRAPPED
    return Console(stderr=stderr, highlight=False, width=width, soft_wrap=not terminal)


err_console = _console(stderr=True)
out_console = _console()


def _print_version() -> None:
    out_console.print(f"gameday {__version__}")
    out_console.print(f"python {platform.python_version()} ({sys.executable})")


def _version_flag(given: bool) -> None:
    if given:
        _print_version()
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_flag,
            is_eager=True,
            help="Print gameday's version and exit.",
        ),
    ] = False,
) -> None:
    """Chaos experiments for live-audio streaming stacks: inject faults, storm the launch,
    check the SLOs."""


@app.command()
def version() -> None:
    """Print gameday's version and the versions it runs with.

    [b]Example[/b]: gameday version  (or gameday --version)
    """
    _print_version()


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(help="Experiment YAML files, or directories of them, to check."),
    ],
    backend: Annotated[
        str, typer.Option(help="Check for a run on this backend: local, netns or docker.")
    ] = "local",
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

    raise typer.Exit(validate_files(files, out_console, err_console, backend))


@app.command()
def schema(
    kind: Annotated[
        str, typer.Argument(help="Which file: `experiment` or `stack` (a stack spec).")
    ] = "experiment",
    out: Annotated[
        Path | None,
        typer.Option(help="Write both schemas into this directory instead of printing one."),
    ] = None,
) -> None:
    """Print the JSON Schema of experiment files (or stack specs), for editors and CI.

    A YAML file whose first line is [b]# yaml-language-server: $schema=PATH[/b] gets completion,
    hover docs and checks in editors with the YAML language server; gameday's own examples
    point at schemas/. `gameday validate` stays the judge (links, metrics, windows).

    [b]Examples[/b]:
      gameday schema > experiment.schema.json
      gameday schema stack
      gameday schema --out schemas/
    """
    from chaos.experiment import schema as schemas

    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        for each in schemas.KINDS:
            path = out / schemas.FILE_NAMES[each]
            path.write_text(schemas.schema_text(each))
            typer.echo(f"wrote {path}", err=True)
        return
    if kind not in schemas.KINDS:
        raise typer.BadParameter(f"{kind!r}: write `experiment` or `stack`", param_hint="KIND")
    typer.echo(schemas.schema_text("experiment" if kind == "experiment" else "stack"), nl=False)


@app.command()
def run(
    experiment: Annotated[Path, typer.Argument(help="The experiment YAML file to run.")],
    dry_run: Annotated[
        bool, typer.Option(help="Print the resolved timeline; start nothing.")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="Override the experiment's seed.")] = None,
    scale: Annotated[
        str | None,
        typer.Option(
            metavar="1:N",
            help="One synthetic listener for N people, as the YAML's `scale: 1:N`: every "
            "listener count is re-expressed from the file's scale (recorded).",
        ),
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write the JUnit XML here.")] = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report", help="Write the run's report into this directory.")
    ] = None,
    toxiproxy: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Use this Toxiproxy API (default: $TOXIPROXY_URL, else the embedded fault proxy).",
        ),
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
    control: Annotated[
        str | None,
        typer.Option(
            metavar="SHARE",
            help="Split the audience into cohorts: this share (at most 50%) behind unfaulted "
            "copies of the listeners' link, as many behind the faulted one (as `cohorts:`).",
        ),
    ] = None,
    health_timeout: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="How long the stack may take to become ready (default 20s; 60s on docker).",
        ),
    ] = None,
    images: Annotated[
        list[str],
        typer.Option(
            "--image",
            metavar="COMPONENT=IMAGE",
            help="On docker, run this component from your own image (repeatable); "
            "$GAMEDAY_IMAGE names one for every component and the fault proxy.",
        ),
    ] = [],  # noqa: B006 - typer reads the default, it is never mutated
    repeat: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Run N times (seeds derived from the experiment's): per SLO, the verdict of "
            "the majority and how stable it is ('pass in 5 of 5', 'flaky: 2 of 5 fail').",
        ),
    ] = 1,
) -> None:
    """Run a game day: stack up, baseline, faults and workload, rollback, verdict.

    Exit 0 pass, 1 an SLO failed or a guard aborted the run, 2 invalid input,
    3 infrastructure: the harness failed, not the stack (the fault proxy dead or hung, a
    fault not applied or not removed, a metrics endpoint gone, a listener worker lost, an
    unhealthy baseline), 4 inconclusive (a differential SLO's interval straddles its
    bound), 130 interrupted.

    [b]Examples[/b]:
      gameday run experiments/launch-storm.yaml
      gameday run experiments/launch-storm-cohorts.yaml  # judged against a control cohort
      gameday run experiments/launch-storm.yaml --load-engine locust --locust-workers 2
      gameday run experiments/edge-outage.yaml --dry-run
      gameday run experiments/edge-outage.yaml --scale 1:20000  # fewer probes, same audience
      gameday run my-launch.yaml --junit reports/gameday.xml --toxiproxy http://toxiproxy.lab.example:8474
    """
    from chaos.faults.client.protocol import chosen_url
    from chaos.runner.cli import run_command
    from chaos.runner.load_engine import LoadOptions
    from chaos.runner.run import RunOptions

    options = RunOptions(
        seed=seed,
        scale=1.0 if scale is None else cli_options.scale(scale),
        junit=junit,
        report=report_dir,
        prometheus=prometheus,
        keep_stack=keep_stack,
        out=out,
        backend=backend,
        load=LoadOptions(load_engine, locust_workers, locust_master_bind),
        control=None if control is None else cli_options.share(control, "--control"),
        health_timeout=None
        if health_timeout is None
        else cli_options.positive_duration_seconds(health_timeout, "--health-timeout"),
        images=cli_options.pairs(images, "--image", "COMPONENT=IMAGE, e.g. api=myorg/api:1.4"),
    ).pointed_at(chosen_url(toxiproxy))
    raise typer.Exit(
        run_command(experiment, options, dry_run=dry_run, console=out_console, repeat=repeat)
    )


@app.command()
def plan(
    listeners: Annotated[
        str,
        typer.Option(
            metavar="COUNT", help="Concurrent listeners the run must hold: 8000000, 8M, 660k."
        ),
    ],
    load_engine: Annotated[
        str | None, typer.Option(help="Load engine: `locust` (default) or `native`.")
    ] = None,
    engine: Annotated[str | None, typer.Option(hidden=True)] = None,
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

    [b]Examples[/b]:
      gameday plan --listeners 8M
      gameday plan --listeners 660k --load-engine native
    """
    from chaos.workload.plan_cli import plan_command

    chosen = cli_options.alias(load_engine, engine, name="--load-engine", old_name="--engine")
    raise typer.Exit(
        plan_command(
            cli_options.count(listeners, "--listeners"),
            engine=chosen or "locust",
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
    toxiproxy: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Use this Toxiproxy API (default: $TOXIPROXY_URL, else the one the run recorded).",
        ),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(
            help="Evaluate from this Prometheus URL, or `local` (default: $PROMETHEUS_URL, "
            "else the one the run recorded)."
        ),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report", help="Write the replay's report into this directory.")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Also write the JUnit XML here.")] = None,
) -> None:
    """Re-run a recorded run with its seed, timeline and workload; print what changed.

    Prints whether the fault decisions are identical, then each SLO as [b]same[/b],
    [b]newly passing[/b] or [b]newly failing[/b] with both values. Exit code as for run.

    [b]Examples[/b]:
      gameday replay runs/20261124T150000Z-1a2b3c4d/journal.jsonl
      gameday replay runs/as-launched/journal.jsonl --experiment launch.fixed.yaml  # a fix
      gameday replay journal.jsonl --toxiproxy http://toxiproxy.staging.example:8474 \\
        --prometheus http://prometheus.staging.example:9090 --report reports/replay --junit r.xml
    """
    from chaos.faults.client.protocol import chosen_url
    from chaos.replay.replay import ReplaySettings, replay_command

    settings = ReplaySettings(
        out=out,
        backend=backend,
        toxiproxy=chosen_url(toxiproxy),
        prometheus=prometheus,
        report=report_dir,
        junit=junit,
    )
    code = replay_command(journal, experiment=experiment, settings=settings, console=out_console)
    raise typer.Exit(code)


@app.command(name="import")
def import_incident(
    recording: Annotated[
        Path, typer.Argument(help="Listeners over time: a CSV or a Prometheus range-query JSON.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Experiment file to write.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", hidden=True)] = None,
    scale: Annotated[
        str,
        typer.Option(metavar="1:N", help="One synthetic listener for N people (the YAML's 1:N)."),
    ] = "1:1000",
) -> None:
    """Turn a recorded incident into an experiment: an arrival curve and a fault schedule.

    Writes the experiment YAML and, next to it, the curve CSV its listeners replay.

    [b]Examples[/b]:
      gameday import incident.csv --out experiments/incident.yaml --scale 1:5000
      curl -s "$PROM/api/v1/query_range?query=...&start=...&end=...&step=15" > range.json
      gameday import range.json -o experiments/incident.yaml
    """
    from chaos.replay.importer import import_command

    target = cli_options.alias(out, output, name="--out", old_name="--output")
    people = cli_options.people_per_listener(scale).people_per_probe
    if people.denominator != 1:
        raise typer.BadParameter(f"{scale}: write 1:N with a whole N", param_hint="--scale")
    raise typer.Exit(import_command(recording, target, people.numerator, out_console))


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
    toxiproxy: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Use this Toxiproxy API (default: $TOXIPROXY_URL, else the embedded fault "
            "proxy of each run).",
        ),
    ] = None,
    prometheus: Annotated[
        str | None,
        typer.Option(help="Evaluate from this Prometheus URL, or `local` to start one."),
    ] = None,
    backend: Annotated[str, typer.Option(help="local, netns or docker.")] = "local",
) -> None:
    """Search for the smallest fault schedule that breaks the experiment's SLOs.

    Writes the minimal failing schedule as an experiment (replay it with gameday run) and a
    report. Exit 1 when one was found, 0 when none was within the budget, 2 for bad input (an
    SLO with no data in a run without faults included), 3 when the first run cannot judge.

    [b]Examples[/b]:
      gameday search experiments/launch-storm.yaml --budget 10m
      gameday search my.yaml --budget 1h --repeats 5 --quorum 4 --kind latency --out runs/s1
    """
    from chaos.faults.client.protocol import chosen_url
    from chaos.search.dependency import require_hypothesis

    require_hypothesis("gameday search")
    from chaos.runner.run import RunOptions
    from chaos.search.cli import SearchOptions, search_command

    options = SearchOptions(
        budget=cli_options.positive_duration_seconds(budget, "--budget"),
        repeats=repeats,
        quorum=quorum,
        example_budget=None
        if example_budget is None
        else cli_options.positive_duration_seconds(example_budget, "--example-budget"),
        max_faults=max_faults,
        max_examples=max_examples,
        kinds=tuple(kind or ()),
        links=tuple(link or ()),
        vary_storm=vary_storm,
        seed=seed,
        out=out,
    )
    run_options = RunOptions(prometheus=prometheus, backend=backend).pointed_at(
        chosen_url(toxiproxy)
    )
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
    against: Annotated[
        Path | None,
        typer.Option(
            help="Compare with another run's journal.jsonl: both on the same axes, each SLO's "
            "and each fault's delta (this run − that one)."
        ),
    ] = None,
    grafana_url: Annotated[
        str | None,
        typer.Option(
            help="Push the run's fault windows and verdict to this Grafana as annotations "
            "(token from $GRAFANA_TOKEN, or $GRAFANA_USER/$GRAFANA_PASSWORD)."
        ),
    ] = None,
) -> None:
    """Summarise a run from its journal alone: phases, faults, SLOs, what each fault cost,
    and the verdict; exit with the verdict's code (0 pass, 1 fail or aborted, 3 infrastructure
    or no verdict recorded, 130 interrupted).

    With [b]--out DIR[/b], also write a self-contained HTML report (plots with the fault windows
    shaded) and a Markdown summary for CI logs.

    [b]Examples[/b]:
      gameday report runs/20261124T150000Z-1a2b3c4d/journal.jsonl
      gameday report journal.jsonl --json | jq .verdict
      gameday report journal.jsonl --out reports/ --format html,md
      gameday report runs/today/journal.jsonl --against runs/last-week/journal.jsonl --out cmp/
      GRAFANA_TOKEN=glsa_... gameday report journal.jsonl --grafana-url http://grafana:3000
    """
    import json

    from chaos.report.console import print_report
    from chaos.report.files import requested_formats, write_reports
    from chaos.report.journal import read_journal
    from chaos.report.model import build_report
    from chaos.runner.verdict import exit_code_of

    wanted = requested_formats(formats, out)
    history = read_journal(journal)
    other = read_journal(against) if against is not None else None
    if out is not None:
        for path in write_reports(history, out, wanted, other):
            typer.echo(f"wrote {path}", err=True)
    if grafana_url is not None:
        import asyncio

        from chaos.report.grafana import annotate_journal, credential_from_env

        asyncio.run(annotate_journal(history, grafana_url, credential_from_env()))
        typer.echo(f"annotated {grafana_url}", err=True)
    report = build_report(history)
    if as_json:
        typer.echo(json.dumps(report.summary.to_json(), indent=2))
    else:
        print_report(report, out_console)
    if other is not None:
        from chaos.report.compare import compare
        from chaos.report.console import print_comparison

        print_comparison(compare(history, report, other, build_report(other)), out_console)
    raise typer.Exit(int(exit_code_of(report.summary.verdict)))


@app.command()
def rollback(
    toxiproxy: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="The Toxiproxy API (default: $TOXIPROXY_URL, else http://127.0.0.1:8474).",
        ),
    ] = None,
    toxiproxy_url: Annotated[str | None, typer.Option("--toxiproxy-url", hidden=True)] = None,
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
      gameday rollback --run-id 20261124T150000Z-1a2b3c4d --toxiproxy http://toxiproxy.lab.example:8474
    """
    from chaos.faults.client.protocol import FLAG, chosen_url
    from chaos.runner.rollback import rollback_command
    from chaos.stack.cleanup import cleanup_run

    given = cli_options.alias(toxiproxy, toxiproxy_url, name=FLAG, old_name="--toxiproxy-url")
    chosen = chosen_url(given)
    try:
        for line in rollback_command(
            None if chosen is None else chosen.url,
            run_id,
            everything=everything,
            dry_run=dry_run,
            source=None if chosen is None else chosen.source,
        ):
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
