"""`gameday slo …`: carry an experiment's SLOs into production alerting."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer

from chaos.cli_options import alias
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
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", hidden=True)] = None,
    window: Annotated[
        str, typer.Option(help="Rolling window for SLOs bound to a phase (they have none).")
    ] = "5m",
    hold: Annotated[
        str, typer.Option("--for", help="How long a violation lasts before the alert fires.")
    ] = "1m",
) -> None:
    """Write the experiment's SLOs on the stack's own metrics as Prometheus rules for production.

    An SLO that is a share of events (a ratio, or a percentile below a histogram bucket) gets
    error-ratio recording rules over 5m, 30m, 1h and 6h and one page alert on a fast budget
    burn: 14.4x over 1h and 5m, or 6x over 6h and 30m (the SRE workbook's pairs, as Sloth and
    Pyrra generate). An SLO with no budget (a gauge, a counter that must stay 0) gets a recorded
    value over --window and one alert while it is violated for --for. SLOs on the harness's
    probe metrics (gameday_*) and recovery SLOs exist only during a game day and are left out
    (listed on stderr). Check the file with `promtool check rules FILE`. Exit 2 when no SLO is
    left to export.

    [b]Examples[/b]:
      gameday slo export experiments/lossy-speakers.yaml
      gameday slo export experiments/lossy-speakers.yaml --out slos.rules.yml --window 10m
    """
    from chaos.experiment.loader import load_experiment
    from chaos.slo.adapt import objectives_from_experiment
    from chaos.slo.rules import dump_rules, export_rules, plan_export

    target = alias(out, output, name="--out", old_name="--output")
    rolling, hold_for = _seconds(window, "--window"), _seconds(hold, "--for")
    loaded = load_experiment(experiment)
    slos = objectives_from_experiment(loaded.experiment)
    planned = plan_export(slos)
    for skipped in planned.skipped:
        typer.echo(f"left out {skipped.name}: {skipped.reason}", err=True)
    if not planned.exported:
        raise InvalidInput(
            "no SLO reads the stack's own metrics, so there is nothing for production to alert on",
            where=str(experiment),
            fix="add SLOs on the metrics the stack exposes (e.g. soundstage_*), as "
            "experiments/lossy-speakers.yaml does",
        )
    group = "gameday:" + re.sub(r"[^a-zA-Z0-9_.-]+", "-", experiment.stem)
    text = dump_rules(export_rules(slos, group, window=rolling, hold=hold_for))
    if target is None:
        typer.echo(text, nl=False)
    else:
        target.write_text(text)
        typer.echo(f"wrote {len(planned.exported)} SLOs to {target}", err=True)
