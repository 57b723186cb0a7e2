"""The live view: a panel on a terminal, one plain line at a time in CI logs."""

from __future__ import annotations

import io

from rich.console import Console

from chaos.runner.view import LiveView, Snapshot, panel
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.objective import Comparison, Threshold
from chaos.slo.window import Interval


def _snapshot() -> Snapshot:
    result = SloResult(
        "launch-delay",
        Status.FAIL,
        4.2,
        Threshold(Comparison.BELOW, 3.0),
        Evidence(Interval(0.0, 1.0), 3, ()),
        "",
    )
    return Snapshot(
        "Launch storm",
        total=80.0,
        phase="method",
        elapsed=31.5,
        active_faults=["slow-edge"],
        listeners={"joined": 140, "playing": 120},
        slos=[result],
        guards=[("join-collapse", 0.97, False)],
    )


def test_the_panel_shows_phase_faults_listeners_guards_and_each_slo_now() -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=True, record=True)
    console.print(panel(_snapshot()))
    text = console.export_text()
    for expected in ("phase method", "32s / 80s", "slow-edge", "joined 140", "join-collapse"):
        assert expected in text
    assert "launch-delay" in text and "fail" in text and "below 3" in text


def test_without_a_terminal_it_prints_plain_lines_at_most_every_few_seconds() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=False)
    with LiveView(console, _snapshot(), line_every=3600) as view:
        view.refresh()
        view.refresh()  # within line_every: nothing more
        view.event("apply latency fault 'slow-edge'")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[  31.5s/80s] method") and "launch-delay=fail" in lines[0]
    assert lines[1] == "[  31.5s] apply latency fault 'slow-edge'"
    assert len(lines) == 2
