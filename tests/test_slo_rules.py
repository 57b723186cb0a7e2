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
from chaos.slo.adapt import objectives_from_experiment, timeline_at
from chaos.slo.objective import (
    Comparison,
    Counter,
    Objective,
    Quantile,
    Ratio,
    Recovery,
    Selector,
    Threshold,
)
from chaos.slo.rules import alert_name, dump_rules, export_rules, plan_export, rule_name
from chaos.slo.window import Anchor, Interval, WindowSpec

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")
EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
# A frozen copy of the DESIGN.md sketch: the demo evolves, these expectations do not.
SKETCH = Path(__file__).resolve().parent / "data" / "slo-export.yaml"

MINUTE = 60


def rules_of(exported: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Alerts by name (each name once: asserted), and recording rules by record and slo."""
    out: dict[str, dict[str, Any]] = {}
    for rule in exported["groups"][0]["rules"]:
        key = rule["alert"] if "alert" in rule else f"{rule['record']}/{rule['labels']['slo']}"
        assert key not in out, f"duplicate rule {key}"
        out[key] = rule
    return out


def alerts_of(exported: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in rules_of(exported).items() if "alert" in v}


def counter(rate_per_minute: list[tuple[int, float]]) -> str:
    """promtool expanding notation for a counter sampled every minute: each (minutes, increase
    per minute) stretch continues from where the last one ended (no reset)."""
    parts, value = [], 0.0
    for minutes, per_minute in rate_per_minute:
        first = value + per_minute
        parts.append(f"{first:g}+{per_minute:g}x{minutes - 1}")
        value += per_minute * minutes
    return "0 " + " ".join(parts)


def case(
    series: dict[str, str], at_minutes: int, firing: dict[str, bool], alerts: dict[str, Any]
) -> dict[str, Any]:
    return {
        "interval": "1m",
        "input_series": [{"series": name, "values": values} for name, values in series.items()],
        "alert_rule_test": [
            {
                "eval_time": f"{at_minutes}m",
                "alertname": name,
                "exp_alerts": (
                    [
                        {
                            "exp_labels": alerts[name]["labels"],
                            "exp_annotations": alerts[name]["annotations"],
                        }
                    ]
                    if fires
                    else []
                ),
            }
            for name, fires in firing.items()
        ],
    }


def promtool_test(tmp_path: Path, exported: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    (tmp_path / "rules.yml").write_text(dump_rules(exported))
    test = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": cases}
    (tmp_path / "test.yml").write_text(json.dumps(test))
    done = subprocess.run(
        ["promtool", "test", "rules", "test.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return "" if done.returncode == 0 else done.stdout + done.stderr


# The library experiment whose SLOs read the stack's own metrics: a gauge (edges-up), a ratio
# below a budget (concealment, 10 %) and a percentile below a bucket (mix-on-time, p99 < 100ms).
LOSSY = EXPERIMENTS / "lossy-speakers.yaml"
PLAYED = "soundstage_origin_frames_played_total"
CONCEALED = "soundstage_origin_frames_concealed_total"
LAG = "soundstage_origin_tick_lag_seconds"
HOURS7 = 7 * 60


def lossy_rules() -> dict[str, Any]:
    return export_rules(objectives_from_experiment(load_experiment(LOSSY).experiment), "lossy")


def lag_series(slow_share: list[tuple[int, float]]) -> dict[str, str]:
    """3000 ticks a minute; ``slow_share`` of them slower than 100 ms, stretch by stretch."""
    return {
        f'{LAG}_bucket{{le="0.05"}}': counter([(m, 3000 * (1 - s) * 0.9) for m, s in slow_share]),
        f'{LAG}_bucket{{le="0.1"}}': counter([(m, 3000 * (1 - s)) for m, s in slow_share]),
        f'{LAG}_bucket{{le="+Inf"}}': counter([(m, 3000) for m, _ in slow_share]),
        f"{LAG}_count": counter([(m, 3000) for m, _ in slow_share]),
    }


def concealment_series(share: list[tuple[int, float]]) -> dict[str, str]:
    return {
        PLAYED: counter([(m, 3000) for m, _ in share]),
        CONCEALED: counter([(m, 3000 * s) for m, s in share]),
    }


@needs_promtool
def test_each_exported_alert_of_the_library_fires_when_it_should(tmp_path: Path) -> None:
    """promtool test rules, per alert: a fast burn (1h/5m at 14.4x) and a slow burn (6h/30m at
    6x) page; a burn that stopped 10 minutes ago and a burn inside the budget do not."""
    exported = lossy_rules()
    alerts = alerts_of(exported)
    assert set(alerts) == {"SloEdgesUp", "SloConcealment", "SloMixOnTime"}
    cases = [
        # p99 below 100 ms has a 1 % budget. 20 % slow ticks for the last hour: 20x, pages.
        case(lag_series([(300, 0.0), (120, 0.2)]), 360, {"SloMixOnTime": True}, alerts),
        # 8 % slow for 7 hours: under 14.4x but over 6x on 6h and 30m: pages (the slow pair).
        case(lag_series([(HOURS7, 0.08)]), 400, {"SloMixOnTime": True}, alerts),
        # 20 % slow for 50 minutes, then none for 10: the 5m window has reset; 6h is at 2.8 %.
        case(lag_series([(300, 0.0), (50, 0.2), (70, 0.0)]), 360, {"SloMixOnTime": False}, alerts),
        # 0.5 % slow: inside the budget.
        case(lag_series([(HOURS7, 0.005)]), 400, {"SloMixOnTime": False}, alerts),
        # concealment's budget is 10 %: 65 % concealed for 7 hours burns 6.5x (slow pair).
        case(concealment_series([(HOURS7, 0.65)]), 400, {"SloConcealment": True}, alerts),
        case(concealment_series([(HOURS7, 0.3)]), 400, {"SloConcealment": False}, alerts),
        # edges-up: min over 5m must equal 1, held 1m. An edge went down 10 minutes ago.
        case(
            {'soundstage_api_edge_up{edge="edge-1"}': "1x60 0x10"},
            70,
            {"SloEdgesUp": True},
            alerts,
        ),
        case({'soundstage_api_edge_up{edge="edge-1"}': "1x70"}, 70, {"SloEdgesUp": False}, alerts),
    ]
    failures = promtool_test(tmp_path, exported, cases)
    assert failures == ""


@needs_promtool
def test_promtool_fails_when_the_budget_is_changed(tmp_path: Path) -> None:
    """The test above could fail: with a 30 % concealment budget, 65 % no longer pages."""
    exported = lossy_rules()
    alerts = alerts_of(exported)
    text = dump_rules(exported).replace("expr: '0.1'", "expr: '0.3'")
    text = text.replace("(6 * 0.1)", "(6 * 0.3)")
    changed = YAML(typ="safe").load(text)
    cases = [case(concealment_series([(HOURS7, 0.65)]), 400, {"SloConcealment": True}, alerts)]
    assert "SloConcealment" in promtool_test(tmp_path, changed, cases)


SYNTHETIC = [
    Objective(
        "join-success",
        Ratio(Selector.of("api_joins_ok_total"), Selector.of("api_joins_total")),
        Threshold(Comparison.ABOVE, 0.99),
    ),
    Objective("quiet", Counter(Selector.of("mixer_howls_total")), Threshold(Comparison.EQUALS, 0)),
    Objective(
        "api-latency",
        Quantile(Selector.of("api_request_seconds"), 0.95),
        Threshold(Comparison.BELOW, 1.0),
    ),
]


@needs_promtool
def test_ratio_above_counter_and_integer_bucket_alerts(tmp_path: Path) -> None:
    exported = export_rules(SYNTHETIC, "synthetic")
    alerts = alerts_of(exported)
    assert set(alerts) == {"SloJoinSuccess", "SloQuiet", "SloApiLatency"}
    joins = {"api_joins_total": counter([(HOURS7, 600)])}
    # Python's client writes the 1 s bucket as le="1.0", Go's as le="1": both are matched.
    latency = {
        'api_request_seconds_bucket{le="1.0"}': counter([(HOURS7, 400)]),
        "api_request_seconds_count": counter([(HOURS7, 600)]),
    }
    cases = [
        case(
            {**joins, "api_joins_ok_total": counter([(HOURS7, 480)])},
            400,
            {"SloJoinSuccess": True},
            alerts,
        ),
        case(
            {**joins, "api_joins_ok_total": counter([(HOURS7, 597)])},
            400,
            {"SloJoinSuccess": False},
            alerts,
        ),
        case({"mixer_howls_total": counter([(60, 0), (10, 1)])}, 70, {"SloQuiet": True}, alerts),
        case({"mixer_howls_total": counter([(70, 0)])}, 70, {"SloQuiet": False}, alerts),
        case(latency, 400, {"SloApiLatency": True}, alerts),
        case(
            {**latency, 'api_request_seconds_bucket{le="1.0"}': counter([(HOURS7, 599)])},
            400,
            {"SloApiLatency": False},
            alerts,
        ),
    ]
    assert promtool_test(tmp_path, exported, cases) == ""


@needs_promtool
def test_promtool_accepts_the_rules_of_every_library_experiment(tmp_path: Path) -> None:
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        objectives = objectives_from_experiment(load_experiment(path).experiment)
        out = tmp_path / f"{path.stem}.rules.yml"
        exported = export_rules(objectives, path.stem)
        alerts_of(exported)  # no duplicate alert or record
        out.write_text(dump_rules(exported))
        done = subprocess.run(
            ["promtool", "check", "rules", str(out)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr


def test_probe_metrics_and_recoveries_stay_out_of_production() -> None:
    objectives = objectives_from_experiment(load_experiment(SKETCH).experiment)
    planned = plan_export(objectives)
    assert planned.exported == ()
    reasons = {s.name: s.reason for s in planned.skipped}
    assert "exist only during a game day" in reasons["launch-delay"]
    assert "gameday_listener_time_to_first_audio_seconds" in reasons["launch-delay"]
    assert "recovery" in reasons["recovery"]
    text = dump_rules(lossy_rules())
    assert "gameday_" not in text and "absent(" not in text


def test_each_slo_has_one_alert_and_burn_rate_windows() -> None:
    rules = rules_of(lossy_rules())
    assert (
        sum(
            1
            for r in rules.values()
            if r.get("labels", {}).get("slo") == "concealment" and "alert" in r
        )
        == 1
    )
    for width in ("5m", "30m", "1h", "6h"):
        assert f"slo:sli_error:ratio_rate{width}/mix-on-time" in rules
    page = rules["SloMixOnTime"]["expr"]
    assert "ratio_rate1h" in page and "ratio_rate5m" in page and "(14.4 * 0.01)" in page
    assert "ratio_rate6h" in page and "ratio_rate30m" in page and "(6 * 0.01)" in page
    assert 'le="0.1"' in rules["slo:sli_error:ratio_rate5m/mix-on-time"]["expr"]
    assert rules["SloEdgesUp"]["for"] == "1m"
    assert rules["SloEdgesUp"]["expr"] == 'slo:edges_up:value{slo="edges-up"} != 1'


def test_rule_and_alert_names_are_valid_prometheus_names() -> None:
    assert rule_name("launch-delay") == "launch_delay"
    assert rule_name("99th.pct") == "_99th_pct"
    assert alert_name("launch-delay") == "SloLaunchDelay"


def test_cli_exports_an_experiment(tmp_path: Path) -> None:
    out = tmp_path / "slos.yml"
    result = CliRunner().invoke(
        app, ["slo", "export", str(LOSSY), "--out", str(out), "--window", "10m"]
    )
    assert result.exit_code == 0, result.output
    assert "left out stalls" in result.stderr
    group = YAML(typ="safe").load(out.read_text())["groups"][0]
    assert group["name"] == "gameday:lossy-speakers"
    records = {
        r["record"]: r["expr"]
        for r in group["rules"]
        if r.get("labels", {}).get("slo") == "edges-up" and "record" in r
    }
    assert records["slo:edges_up:value"] == "min(min_over_time(soundstage_api_edge_up[10m]))"


def test_cli_refuses_an_experiment_with_nothing_for_production() -> None:
    result = CliRunner().invoke(app, ["slo", "export", str(SKETCH)])
    assert result.exit_code != 0
    assert "stack's own metrics" in str(result.exception)


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
    assert delay.indicator == Quantile(
        Selector.of("gameday_listener_time_to_first_audio_seconds"), 0.95
    )
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
