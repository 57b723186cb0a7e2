"""The Grafana dashboards agree with the SLOs: the thresholds drawn on panels are the library's
SLO thresholds, the stall ratio is the SLOs' stall ratio, and a `$run` variable filters the
annotations gameday pushes (tag run:RUN-ID) to one run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chaos.experiment.loader import load_experiment
from chaos.report.grafana import tags_for
from chaos.slo.adapt import objectives_from_experiment
from chaos.slo.objective import Objective, metric_names

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = {p.stem: p for p in (ROOT / "dashboards").glob("*.json")}
# (dashboard, panel title) -> (experiment, SLO) whose threshold the panel draws.
THRESHOLDS = {
    ("gameday", "Time to first audio"): ("launch-storm", "launch-delay"),
    ("gameday", "Join success ratio"): ("launch-storm", "join-success"),
    ("gameday", "Stall ratio"): ("launch-storm", "stalls"),
    ("soundstage", "Origin mixing clock lag"): ("lossy-speakers", "mix-on-time"),
}


def dashboard(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARDS[name].read_text())
    return data


def panel(name: str, title: str) -> dict[str, Any]:
    [found] = [p for p in dashboard(name)["panels"] if p["title"] == title]
    return found


def slo(experiment: str, name: str) -> Objective:
    loaded = load_experiment(ROOT / "experiments" / f"{experiment}.yaml")
    [found] = [o for o in objectives_from_experiment(loaded.experiment) if o.name == name]
    assert isinstance(found, Objective)
    return found


@pytest.mark.parametrize(("where", "source"), sorted(THRESHOLDS.items()))
def test_panels_draw_the_slo_thresholds(where: tuple[str, str], source: tuple[str, str]) -> None:
    shown, objective = panel(*where), slo(*source)
    defaults = shown["fieldConfig"]["defaults"]
    steps = [s["value"] for s in defaults["thresholds"]["steps"] if s["value"] is not None]
    assert steps == [pytest.approx(objective.threshold.value)], where
    assert defaults["custom"]["thresholdsStyle"]["mode"] in ("dashed", "line", "line+area")
    assert f"SLO {objective.name}" in shown["description"]
    read = " ".join(t["expr"] for t in shown["targets"])
    for metric in metric_names(objective):
        assert metric.removesuffix("_bucket") in read, (where, metric)


def test_the_stall_ratio_panel_is_the_slos_stall_ratio() -> None:
    expr = panel("gameday", "Stall ratio")["targets"][0]["expr"]
    numerator, denominator = (part.strip() for part in expr.split(" / "))
    stalls = slo("launch-storm", "stalls")
    assert sorted(metric_names(stalls)) == sorted(re.findall(r"gameday_listener_\w+_total", expr))
    assert "stall_seconds_total" in numerator and "played_seconds_total" in denominator
    assert "concealed" not in expr


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_a_run_variable_filters_annotations_to_one_run(name: str) -> None:
    board = dashboard(name)
    [run] = [v for v in board["templating"]["list"] if v["name"] == "run"]
    assert run["type"] == "textbox"
    enabled = [a for a in board["annotations"]["list"] if a.get("enable")]
    tagged = [a["target"]["tags"] for a in enabled if a.get("target", {}).get("type") == "tags"]
    assert tagged == [["gameday", "run:$run"]], "exactly one enabled gameday layer, by run"
    # what gameday pushes carries the tag the variable fills in
    pushed = tags_for("20261124T150000Z-1a2b3c4d", "launch", "slow-edge")
    assert {"gameday", "run:20261124T150000Z-1a2b3c4d"} <= set(pushed)
    for listed in (p for p in board["panels"] if p["type"] == "annolist"):
        assert listed["options"]["tags"] == ["gameday", "run:$run"]
