"""Fail a run at its start when an objective reads a metric the stack does not expose.

Otherwise a typo surfaces only at the end as "no data", after the whole experiment ran.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from chaos.errors import InvalidInput
from chaos.slo.objective import Slo, metric_names


def check_metric_names(objectives: Iterable[Slo], available_names: Iterable[str]) -> None:
    """Raise ``InvalidInput`` listing every unknown metric with the nearest existing names."""
    exposed = set(available_names)
    available = sorted(exposed)
    problems = []
    for slo in objectives:
        for name in sorted(metric_names(slo)):
            if name in exposed:
                continue
            near = difflib.get_close_matches(name, available, n=3, cutoff=0.5)
            hint = f"nearest: {', '.join(near)}" if near else "no similar name exposed"
            problems.append(
                f"SLO {slo.name!r} reads {name!r}, which the stack does not expose ({hint})"
            )
    if problems:
        raise InvalidInput(
            "\n  ".join(problems),
            where="slos",
            fix="correct the metric names, or check that the component exposing them is scraped",
        )
