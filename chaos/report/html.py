"""The HTML report: one self-contained file (styles inline, plots as data URIs, no script).

It must open years later on a laptop with no network, attached to a ticket or a CI artifact,
so nothing it shows is fetched: the template ships inside the package and every image is
embedded.
"""

from __future__ import annotations

import jinja2

from chaos import __version__
from chaos.report.journal import Journal
from chaos.report.model import build_report
from chaos.report.plots import FAULT_COLOURS, render_plots
from chaos.report.timeseries import charts

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("chaos.report", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _status_class(status: str) -> str:
    return f"status-{status}" if status in ("pass", "fail") else "status-other"


def render_html(journal: Journal) -> str:
    """The report of one run, from its journal alone."""
    report = build_report(journal)
    drawn = charts(journal, report.summary)
    warnings = report.warnings
    if drawn.skipped:
        warnings.append(f"{drawn.skipped} unreadable metrics record(s) were left out of the plots.")
    return _ENV.get_template("report.html.j2").render(
        report=report,
        warnings=warnings,
        plots=render_plots(report, drawn),
        version=__version__,
        journal_path=str(journal.path),
        status_class=_status_class,
        fault_colour=lambda i: FAULT_COLOURS[i % len(FAULT_COLOURS)],
    )
