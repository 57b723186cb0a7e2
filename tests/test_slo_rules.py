"""Exported recording and alerting rules, checked by Prometheus' own `promtool test rules`,
and the `gameday slo export` command over a real experiment file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from chaos.cli import app
from chaos.experiment.loader import load_experiment
from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.slo.adapt import objectives_from_experiment, timeline_at
from chaos.slo.objective import (
    Comparison,
    Condition,
    Context,
    Counter,
    Objective,
    Quantile,
    Ratio,
    Recovery,
    Selector,
    Slo,
    Threshold,
)
from chaos.slo.rules import alert_name, dump_rules, export_rules, rule_name
from chaos.slo.window import Anchor, Interval, WindowSpec

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
# A frozen copy of the DESIGN.md sketch: the demo evolves, these expectations do not.
SKETCH = Path(__file__).resolve().parent / "data" / "slo-export.yaml"

STEP = 15.0
SERIES = {  # promtool expanding notation: start+increment x steps, one sample every 15 s
    'ttfa_seconds_bucket{le="0.25"}': (50, 20),
    'ttfa_seconds_bucket{le="0.5"}': (80, 20),
    'ttfa_seconds_bucket{le="1"}': (96, 20),
    'ttfa_seconds_bucket{le="+Inf"}': (100, 20),
    "joins_total": (100, 20),
    "joins_ok_total": (100, 20),
}
LATENCY = Quantile(Selector.of("ttfa_seconds"), 0.95)
JOINS = Ratio(Selector.of("joins_ok_total"), Selector.of("joins_total"))


def slos(p95_below: float) -> list[Slo]:
    return [
        Objective(
            "latency", LATENCY, Threshold(Comparison.BELOW, p95_below), WindowSpec(sliding=60)
        ),
        Objective("join-success", JOINS, Threshold(Comparison.ABOVE, 0.99)),
        Objective("feedback", Counter(Selector.of("howls_total")), Threshold(Comparison.EQUALS, 0)),
        Recovery(
            "recovery",
            (Condition("latency", LATENCY, Threshold(Comparison.BELOW, p95_below)),),
            "storm",
            within=120,
        ),
    ]


def synthetic_store() -> SeriesStore:
    """The same synthetic series promtool loads, for our own evaluator."""
    store = SeriesStore()
    for text, (increment, steps) in SERIES.items():
        name, _, labels = text.partition("{")
        le = labels.split('"')[1] if labels else None
        key = SeriesKey.of(name, {"le": le} if le else {})
        for i in range(steps + 1):
            store.append(key, i * STEP, float(i * increment))
    return store


def promtool_case(rules: dict[str, Any], at: float) -> dict[str, Any]:
    """Expect what our evaluator computes on the same series, so promtool checks our
    numbers against PromQL as well as the alerts."""
    ctx = Context(synthetic_store().range)
    latency = LATENCY.measure(ctx, Interval(at - 60, at)).value
    joins = JOINS.measure(ctx, Interval(at - 300, at)).value
    summaries = {r["alert"]: r["annotations"] for r in rules["groups"][0]["rules"] if "alert" in r}
    return {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "15s",
        "tests": [
            {
                "interval": "15s",
                "input_series": [
                    {"series": s, "values": f"0+{inc}x{n}"} for s, (inc, n) in SERIES.items()
                ],
                "promql_expr_test": [
                    {
                        "expr": "slo:latency:value",
                        "eval_time": f"{at:g}s",
                        "exp_samples": [
                            {"labels": 'slo:latency:value{slo="latency"}', "value": latency}
                        ],
                    },
                    {
                        "expr": "slo:join_success:value",
                        "eval_time": f"{at:g}s",
                        "exp_samples": [
                            {"labels": 'slo:join_success:value{slo="join-success"}', "value": joins}
                        ],
                    },
                ],
                "alert_rule_test": [
                    {
                        "eval_time": f"{at:g}s",
                        "alertname": "SloLatency",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "page", "slo": "latency"},
                                "exp_annotations": summaries["SloLatency"],
                            }
                        ],
                    },
                    {
                        "eval_time": f"{at:g}s",
                        "alertname": "SloRecoveryLatency",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "page",
                                    "slo": "recovery",
                                    "of": "latency",
                                },
                                "exp_annotations": summaries["SloRecoveryLatency"],
                            }
                        ],
                    },
                    {"eval_time": f"{at:g}s", "alertname": "SloJoinSuccess", "exp_alerts": []},
                    {
                        "eval_time": f"{at:g}s",
                        "alertname": "SloJoinSuccessNoData",
                        "exp_alerts": [],
                    },
                    {  # the feedback counter is not there at all: no data is never a pass
                        "eval_time": f"{at:g}s",
                        "alertname": "SloFeedbackNoData",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "page", "slo": "feedback"},
                                "exp_annotations": summaries["SloFeedbackNoData"],
                            }
                        ],
                    },
                ],
            }
        ],
    }


def promtool_test(tmp_path: Path, exported: dict[str, Any], expected: dict[str, Any]) -> str:
    (tmp_path / "rules.yml").write_text(dump_rules(exported))
    (tmp_path / "test.yml").write_text(json.dumps(expected))
    done = subprocess.run(
        ["promtool", "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return "" if done.returncode == 0 else done.stdout + done.stderr


@needs_promtool
def test_exported_rules_pass_promtool_with_synthetic_series(tmp_path: Path) -> None:
    rules = export_rules(slos(p95_below=0.5), "gameday:test")
    failures = promtool_test(tmp_path, rules, promtool_case(rules, at=240))
    assert failures == ""


@needs_promtool
def test_promtool_fails_when_a_threshold_is_changed(tmp_path: Path) -> None:
    expected = promtool_case(export_rules(slos(p95_below=0.5), "gameday:test"), at=240)
    changed = export_rules(slos(p95_below=1.0), "gameday:test")  # p95 ≈ 0.97 now passes
    failures = promtool_test(tmp_path, changed, expected)
    assert "SloLatency" in failures


@needs_promtool
def test_promtool_accepts_the_rules_of_every_library_experiment(tmp_path: Path) -> None:
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        objectives = objectives_from_experiment(load_experiment(path).experiment)
        out = tmp_path / f"{path.stem}.rules.yml"
        out.write_text(dump_rules(export_rules(objectives, path.stem)))
        done = subprocess.run(
            ["promtool", "check", "rules", str(out)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_rule_and_alert_names_are_valid_prometheus_names() -> None:
    assert rule_name("launch-delay") == "launch_delay"
    assert rule_name("99th.pct") == "_99th_pct"
    assert alert_name("launch-delay") == "SloLaunchDelay"


def test_sliding_width_and_recovery_time_carry_into_the_rules() -> None:
    rules = {
        r.get("record") or r["alert"]: r for r in export_rules(slos(0.5), "g")["groups"][0]["rules"]
    }
    assert "[1m]" in rules["slo:latency:value"]["expr"]
    assert "[5m]" in rules["slo:join_success:value"]["expr"]
    assert rules["SloLatency"]["for"] == "1m"
    assert rules["SloRecoveryLatency"]["for"] == "2m"
    assert rules["SloRecoveryLatency"]["expr"] == 'slo:latency:value{slo="latency"} >= 0.5'
    assert rules["SloFeedback"]["expr"] == 'slo:feedback:value{slo="feedback"} != 0'


def test_cli_exports_an_experiment(tmp_path: Path) -> None:
    out = tmp_path / "slos.yml"
    result = CliRunner().invoke(
        app,
        [
            "slo",
            "export",
            str(SKETCH),
            "-o",
            str(out),
            "--window",
            "10m",
        ],
    )
    assert result.exit_code == 0, result.output
    rules = YAML(typ="safe").load(out.read_text())
    group = rules["groups"][0]
    assert group["name"] == "gameday:slo-export"
    records = {r["record"]: r["expr"] for r in group["rules"] if "record" in r}
    assert records["slo:launch_delay:value"] == (
        "histogram_quantile(0.95, sum by (le) (rate(time_to_first_audio_bucket[10m])))"
    )


def test_cli_rejects_a_bad_window_with_exit_code_2(tmp_path: Path) -> None:
    path = str(SKETCH)
    result = CliRunner().invoke(app, ["slo", "export", path, "--window", "5x"])
    assert result.exit_code != 0
    assert "--window" in str(result.exception)


def test_experiment_slos_translate_to_objectives() -> None:
    loaded = load_experiment(SKETCH)
    objectives = {o.name: o for o in objectives_from_experiment(loaded.experiment)}
    delay = objectives["launch-delay"]
    assert isinstance(delay, Objective)
    assert delay.indicator == Quantile(Selector.of("time_to_first_audio"), 0.95)
    assert delay.threshold == Threshold(Comparison.BELOW, 5.0)
    assert delay.window == WindowSpec(Anchor.DURING, "storm")
    join = objectives["join-success"]
    assert isinstance(join, Objective) and join.threshold == Threshold(Comparison.ABOVE, 0.995)
    assert join.window == WindowSpec(Anchor.RUN)
    recovery = objectives["recovery"]
    assert isinstance(recovery, Recovery) and recovery.within == 30.0
    assert [c.label for c in recovery.conditions] == [
        "launch-delay",
        "join-success",
        "stalls",
        "feedback",
    ]
    timeline = timeline_at(loaded.timeline, t0=1000.0)
    assert timeline.named["slow-edge"] == Interval(1020.0, 1080.0)
    assert timeline.named["baseline"] == Interval(990.0, 1000.0)
    assert timeline.run.start == 990.0
