"""An experiment's SLOs as production Prometheus rules: recording rules and multi-window,
multi-burn-rate alerts, the way Sloth and Pyrra generate them.

Only objectives on the stack's own metrics are exported. The harness's probe metrics
(``gameday_*``: listeners' time to first audio, joins, stalls, howls) exist only while a game day
runs, so an alert on them would fire forever or never; a recovery objective is about a fault's
end, which production does not have. ``plan_export`` says what was left out and why.

An objective that is a share of events becomes an error-budget SLO (Google SRE workbook,
chapter 5, "Alerting on SLOs"): its error ratio is recorded over 5m, 30m, 1h and 6h, and one
page alert fires when the budget burns 14.4 times too fast over both 1h and 5m (2 % of a
30-day budget in an hour) or 6 times too fast over both 6h and 30m (5 % in six hours). The
short window of each pair lets the alert reset soon after the burn stops.

- ``ratio: bad/total below X``: the error ratio is ``bad/total``, the budget ``X``.
- ``ratio: good/total above X``: the error ratio is ``1 - good/total``, the budget ``1 - X``.
- ``pNN: histogram below T``: NN % of events must be faster than T, so the error ratio is the
  share of observations above the bucket ``le=T`` (T must be one of the histogram's buckets),
  the budget ``1 - NN %``.

An objective with no budget (a gauge such as ``min: edge_up equals 1``, a counter that must stay
0, raw PromQL) becomes a recorded value over ``window`` and one alert while it is violated for
``hold``. Each SLO yields exactly one alert.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML

from chaos.slo.objective import (
    Comparison,
    Indicator,
    Objective,
    OnAir,
    Quantile,
    Ratio,
    Recovery,
    Selector,
    Slo,
    metric_names,
    promql_duration,
)

PROBE_PREFIX = "gameday_"
"""The harness's own metrics: they exist only while a game day runs."""
SHORT_WINDOWS = (300.0, 1800.0)
LONG_WINDOWS = (3600.0, 21600.0)
BURN_RATES = ((3600.0, 300.0, 14.4), (21600.0, 1800.0, 6.0))
"""(long window, short window, burn rate) pairs of the page alert (SRE workbook, table 5-8)."""
BUDGET_PERIOD = "30d"


def rule_name(slo_name: str) -> str:
    """``launch-delay`` → ``launch_delay``: a valid metric name part."""
    name = re.sub(r"[^a-zA-Z0-9_]+", "_", slo_name).strip("_") or "slo"
    return f"_{name}" if name[0].isdigit() else name


def alert_name(slo_name: str) -> str:
    """``launch-delay`` → ``SloLaunchDelay``."""
    return "Slo" + "".join(part.capitalize() for part in rule_name(slo_name).split("_"))


def error_ratio_record(width: float) -> str:
    return f"slo:sli_error:ratio_rate{promql_duration(width)}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """An SLO left out of the export, and why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExportPlan:
    exported: tuple[Objective, ...]
    skipped: tuple[Skipped, ...]


def plan_export(slos: Sequence[Slo]) -> ExportPlan:
    """Which SLOs production can alert on: objectives on the stack's own metrics."""
    exported, skipped = [], []
    for slo in slos:
        if isinstance(slo, Recovery):
            skipped.append(Skipped(slo.name, "a recovery after a fault exists only in a game day"))
            continue
        if isinstance(slo, OnAir):
            skipped.append(Skipped(slo.name, "a T0 to be on air after exists only in a game day"))
            continue
        probes = sorted(n for n in metric_names(slo) if n.startswith(PROBE_PREFIX))
        if probes:
            skipped.append(
                Skipped(slo.name, f"reads {', '.join(probes)}, which exist only during a game day")
            )
            continue
        exported.append(slo)
    return ExportPlan(tuple(exported), tuple(skipped))


def _le_matcher(value: float) -> str:
    """The bucket `le` of a threshold as Go (`1`) and Python (`1.0`) clients both write it."""
    text = f"{value:g}"
    if "e" in text or "." in text:
        return f'le="{text}"'
    return f'le=~"{text}|{text}.0"'


def _sum_rate(selector: Selector, suffix: str, window: str, extra: str = "") -> str:
    base = selector.promql(suffix)
    if extra:
        base = base[:-1] + "," + extra + "}" if base.endswith("}") else base + "{" + extra + "}"
    return f"sum(rate({base}[{window}]))"


@dataclass(frozen=True, slots=True)
class _Budget:
    """An error-budget SLO: the PromQL of its error ratio over a window, and its budget."""

    error_ratio: str
    """PromQL with ``$window`` for the range."""
    budget: float
    describe: str


def _budget(slo: Objective) -> _Budget | None:
    """The objective as an error budget, or None when it has none (gauges, counters)."""
    indicator, threshold = slo.indicator, slo.threshold
    w = "$window"
    if isinstance(indicator, Ratio) and threshold.comparison is Comparison.BELOW:
        num = _sum_rate(indicator.numerator, "", w)
        den = _sum_rate(indicator.denominator, "", w)
        return _Budget(
            f"{num} / {den}",
            threshold.value,
            f"{indicator.numerator.name} below {threshold.value:g} of {indicator.denominator.name}",
        )
    if isinstance(indicator, Ratio) and threshold.comparison is Comparison.ABOVE:
        num = _sum_rate(indicator.numerator, "", w)
        den = _sum_rate(indicator.denominator, "", w)
        return _Budget(
            f"1 - ({num} / {den})",
            1 - threshold.value,
            f"{indicator.numerator.name} above {threshold.value:g} of {indicator.denominator.name}",
        )
    if isinstance(indicator, Quantile) and threshold.comparison is Comparison.BELOW:
        good = _sum_rate(indicator.histogram, "_bucket", w, _le_matcher(threshold.value))
        total = _sum_rate(indicator.histogram, "_count", w)
        return _Budget(
            f"1 - ({good} / {total})",
            1 - indicator.q,
            f"{indicator.q:.4g} of {indicator.histogram.name} below {threshold.value:g}",
        )
    return None


def _burn_rate_rules(slo: Objective, budget: _Budget) -> list[dict[str, Any]]:
    labels = {"slo": slo.name}
    rules: list[dict[str, Any]] = [
        {
            "record": error_ratio_record(width),
            "expr": budget.error_ratio.replace("$window", promql_duration(width)),
            "labels": dict(labels),
        }
        for width in sorted({*SHORT_WINDOWS, *LONG_WINDOWS})
    ]
    rules.append(
        {"record": "slo:error_budget:ratio", "expr": f"{budget.budget:g}", "labels": labels}
    )
    sel = '{slo="' + slo.name + '"}'
    pairs = [
        f"(\n  {error_ratio_record(long)}{sel} > ({rate:g} * {budget.budget:g})\n"
        f"  and\n  {error_ratio_record(short)}{sel} > ({rate:g} * {budget.budget:g})\n)"
        for long, short, rate in BURN_RATES
    ]
    rules.append(
        {
            "alert": alert_name(slo.name),
            "expr": "\nor\n".join(pairs) + "\n",
            "labels": {"severity": "page", **labels},
            "annotations": {
                "summary": f"SLO {slo.name} is burning its error budget too fast",
                "description": (
                    f"{budget.describe}: the error ratio is over 14.4x its budget of "
                    f"{budget.budget:g} for 1h and 5m, or over 6x for 6h and 30m "
                    f"(a {BUDGET_PERIOD} budget gone in 2 or 5 days)."
                ),
            },
        }
    )
    return rules


def _threshold_rules(slo: Objective, window: float, hold: float) -> list[dict[str, Any]]:
    record = f"slo:{rule_name(slo.name)}:value"
    labels = {"slo": slo.name}
    indicator: Indicator = slo.indicator
    width = slo.window.sliding or window
    selector = record + '{slo="' + slo.name + '"}'
    return [
        {"record": record, "expr": indicator.promql(promql_duration(width)), "labels": labels},
        {
            "alert": alert_name(slo.name),
            "expr": f"{selector} {slo.threshold.violation_promql()}",
            "for": promql_duration(hold),
            "labels": {"severity": "page", **labels},
            "annotations": {
                "summary": (
                    f"SLO {slo.name} violated: its value must be {slo.threshold.describe()}"
                    f" over {promql_duration(width)}"
                ),
            },
        },
    ]


def export_rules(
    slos: Sequence[Slo], group: str, *, window: float = 300.0, hold: float = 60.0
) -> dict[str, Any]:
    """A Prometheus rule file (as data) for the objectives ``plan_export`` keeps: one group of
    recording rules and exactly one alert per SLO."""
    rules: list[dict[str, Any]] = []
    for slo in plan_export(slos).exported:
        budget = _budget(slo)
        if budget is not None:
            rules += _burn_rate_rules(slo, budget)
        else:
            rules += _threshold_rules(slo, window, hold)
    return {"groups": [{"name": group, "rules": rules}]}


def dump_rules(rules: dict[str, Any]) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096  # keep each PromQL line whole
    yaml.representer.ignore_aliases = lambda *_: True  # no &id001 anchors in a rules file

    def multiline(representer: Any, data: str) -> Any:
        style = "|" if "\n" in data else None
        return representer.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    yaml.representer.add_representer(str, multiline)
    out = io.StringIO()
    yaml.dump(rules, out)
    return out.getvalue()
