"""The HTML report: one self-contained file, its figures drawn by its own inline script.

It must open years later on a laptop with no network, attached to a ticket or a CI artifact,
so nothing it shows is fetched: the template, the styles and the script ship inside the
package and go into the page, and the figures' data is embedded as JSON. The same journal
always gives a byte-identical file.
"""

from __future__ import annotations

import json
import math
from importlib.resources import files
from typing import Any

import jinja2

from chaos import __version__
from chaos.report.compare import compare
from chaos.report.cost import HOLD
from chaos.report.figures import fault_colour, page
from chaos.report.journal import Journal
from chaos.report.model import build_report, span
from chaos.report.summary import summarize
from chaos.report.timeseries import charts

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("chaos.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_STATIC = files("chaos.report") / "static"
GROUPS = {
    "timeline": "The faults over the run's phases",
    "slo": "The SLOs, each against its threshold",
    "listeners": "What the listeners heard",
    "servers": "What the stack's servers said (a panel per component, from its /metrics)",
}


def _status_class(status: str) -> str:
    return f"status-{status}" if status in ("pass", "fail") else "status-other"


def _finite(data: object) -> object:
    """``data`` with every NaN or infinity as ``None`` (JSON has neither; a sample of ``+Inf``
    in a journal is drawn as no data, not refused)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def embedded_json(data: object) -> str:
    """JSON that cannot end the ``<script>`` element it sits in."""
    text = json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _overlay(run: dict[str, Any], against: dict[str, Any], run_id: str, other_id: str) -> None:
    """Draw the other run on this run's figures: the same T0 axes (the union of both runs'
    ranges), its line on each figure both have, dashed and labelled with its run id."""
    theirs = {f["key"]: f for f in against["figures"]}
    for figure in run["figures"]:
        other = theirs.get(figure["key"])
        if other is None or figure["kind"] != "time":
            continue
        for line in figure["lines"]:
            line["label"] = f"{line['label']} ({run_id})"
        figure["lines"] += [
            {**line, "label": f"{line['label']} ({other_id})", "run": "B"}
            for line in other["lines"]
        ]
    (a0, a1), (b0, b1) = run["range"], against["range"]
    run["range"] = [min(a0, b0), max(a1, b1)]


def render_html(journal: Journal, against: Journal | None = None) -> str:
    """The report of one run, from its journal alone; with ``against``, the other run drawn
    on the same axes and each SLO's and fault's delta."""
    drawn_from = charts(journal, summarize(journal))
    report = build_report(journal, drawn_from.store)
    drawn = page(report, drawn_from)
    warnings = report.warnings
    if drawn_from.skipped:
        warnings.append(
            f"{drawn_from.skipped} unreadable metrics record(s) were left out of the plots."
        )
    comparison = None
    if against is not None:
        their_charts = charts(against, summarize(against))
        their_report = build_report(against, their_charts.store)
        comparison = compare(journal, report, against, their_report)
        _overlay(
            drawn.data,
            page(their_report, their_charts).data,
            comparison.run_id,
            comparison.run_id_against,
        )
    return _ENV.get_template("report.html.j2").render(
        report=report,
        warnings=warnings,
        figures=drawn.figures,
        comparison=comparison,
        groups=GROUPS,
        data=embedded_json(drawn.data),
        css=(_STATIC / "report.css").read_text(encoding="utf-8"),
        script=(_STATIC / "report.js").read_text(encoding="utf-8"),
        control=any(row.control is not None for t in report.costs for row in t.rows),
        hold=HOLD,
        version=__version__,
        journal_path=str(journal.path),
        status_class=_status_class,
        fault_colour=fault_colour,
        span=span,
    )
