"""`gameday slo …`: carry an experiment's SLOs into production alerting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from chaos.errors import InvalidInput
from chaos.experiment.units import Duration, UnitError

slo_app = typer.Typer(help="Work with an experiment's SLOs outside a run.", no_args_is_help=True)


def _seconds(text: str, option: str) -> float:
    try:
        seconds = Duration.parse(text).seconds
    except UnitError as exc:
        raise InvalidInput(str(exc), where=option, fix="write a duration like 5m or 30s") from exc
    if seconds <= 0:
        raise InvalidInput(f"{text} is not a positive duration", where=option, fix="e.g. 5m")
    return seconds


@slo_app.command("export")
def export(
    experiment: Annotated[Path, typer.Argument(help="Experiment YAML whose SLOs to export.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    window: Annotated[
        str, typer.Option(help="Rolling window for SLOs bound to a phase (they have none).")
    ] = "5m",
    hold: Annotated[
        str, typer.Option("--for", help="How long a violation lasts before the alert fires.")
    ] = "1m",
) -> None:
    """Write the experiment's SLOs as Prometheus recording and alerting rules.

    Each SLO becomes a recording rule `slo:NAME:value`, an alert while it is violated and an
    alert while it has no data. Check the file with `promtool check rules FILE`.

    [b]Examples[/b]:
      gameday slo export experiments/launch-storm.yaml
      gameday slo export experiments/launch-storm.yaml -o launch-slos.rules.yml --window 10m
    """
    from chaos.experiment.loader import load_experiment
    from chaos.slo.adapt import objectives_from_experiment
    from chaos.slo.rules import dump_rules, export_rules

    rolling, hold_for = _seconds(window, "--window"), _seconds(hold, "--for")
    loaded = load_experiment(experiment)
    slos = objectives_from_experiment(loaded.experiment)
    group = "gameday:" + re.sub(r"[^a-zA-Z0-9_.-]+", "-", experiment.stem)
    text = dump_rules(export_rules(slos, group, window=rolling, hold=hold_for))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text)
        typer.echo(f"wrote {len(slos)} SLOs to {output}", err=True)
