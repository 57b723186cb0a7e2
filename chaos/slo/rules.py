"""Objectives as Prometheus recording and alerting rules, so a launch's SLOs carry into
production alerting.

A run binds windows to phases; production has no phases, so each objective becomes a rolling
window: its sliding width when it has one, otherwise ``window``. Each objective gets a
recording rule for its value, an alert while the threshold is violated, and an alert while the
value is absent — no data is never a pass, in production either. A recovery objective alerts
when its condition stays violated for longer than the recovery it allows.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from chaos.slo.objective import Indicator, Objective, Slo, Threshold, promql_duration


def rule_name(slo_name: str) -> str:
    """``launch-delay`` → ``launch_delay``: a valid metric name part."""
    name = re.sub(r"[^a-zA-Z0-9_]+", "_", slo_name).strip("_") or "slo"
    return f"_{name}" if name[0].isdigit() else name


def alert_name(slo_name: str) -> str:
    """``launch-delay`` → ``SloLaunchDelay``."""
    return "Slo" + "".join(part.capitalize() for part in rule_name(slo_name).split("_"))


@dataclass(frozen=True, slots=True)
class _Series:
    """A recorded value: its recording rule's name and labels, and what it measures."""

    record: str
    labels: dict[str, str]
    indicator: Indicator

    @property
    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return f"{self.record}{{{inner}}}"


def _alerts(
    series: _Series,
    name: str,
    threshold: Threshold,
    hold_for: float,
    summary: str,
    labels: dict[str, str],
) -> list[dict[str, Any]]:
    """The violation alert, and the alert for when the value is missing altogether."""
    labels = {"severity": "page", **labels}
    return [
        {
            "alert": name,
            "expr": f"{series.selector} {threshold.violation_promql()}",
            "for": promql_duration(hold_for),
            "labels": labels,
            "annotations": {"summary": summary},
        },
        {
            "alert": name + "NoData",
            "expr": f"absent({series.selector})",
            "for": promql_duration(hold_for),
            "labels": dict(labels),
            "annotations": {"summary": f"SLO {labels['slo']} has no data to judge"},
        },
    ]


def _record(series: _Series, width: float) -> dict[str, Any]:
    expr = series.indicator.promql(promql_duration(width))
    return {"record": series.record, "expr": expr, "labels": dict(series.labels)}


def export_rules(
    slos: Sequence[Slo], group: str, *, window: float = 300.0, hold: float = 60.0
) -> dict[str, Any]:
    """A Prometheus rule file (as data) with one group holding every objective's rules.

    A recovery condition that is itself an exported objective alerts on that objective's
    recorded value (held for the allowed recovery time) instead of recording it twice.
    """
    rules: list[dict[str, Any]] = []
    recorded: dict[str, tuple[_Series, Threshold]] = {}
    for slo in slos:
        if isinstance(slo, Objective):
            width = slo.window.sliding or window
            series = _Series(f"slo:{rule_name(slo.name)}:value", {"slo": slo.name}, slo.indicator)
            recorded[slo.name] = (series, slo.threshold)
            summary = (
                f"SLO {slo.name} violated: its value must be {slo.threshold.describe()}"
                f" over {promql_duration(width)}"
            )
            rules.append(_record(series, width))
            rules += _alerts(
                series, alert_name(slo.name), slo.threshold, hold, summary, series.labels
            )
    for slo in slos:
        if isinstance(slo, Objective):
            continue
        for c in slo.conditions:
            name = alert_name(slo.name) + alert_name(c.label)[len("Slo") :]
            summary = (
                f"SLO {slo.name} violated: {c.label} must be {c.threshold.describe()} again "
                f"within {promql_duration(slo.within)} after a fault"
            )
            labels = {"slo": slo.name, "of": c.label}
            reuse = recorded.get(c.label)
            if reuse is not None and (reuse[0].indicator, reuse[1]) == (c.indicator, c.threshold):
                rules.append(_alerts(reuse[0], name, c.threshold, slo.within, summary, labels)[0])
                continue
            series = _Series(f"slo:{rule_name(slo.name)}:value", labels, c.indicator)
            rules.append(_record(series, window))
            rules += _alerts(series, name, c.threshold, slo.within, summary, labels)
    return {"groups": [{"name": group, "rules": rules}]}


def dump_rules(rules: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # keep each PromQL expression on one line
    yaml.representer.ignore_aliases = lambda *_: True  # no &id001 anchors in a rules file
    out = io.StringIO()
    yaml.dump(rules, out)
    return out.getvalue()
