"""The live view: a panel on a terminal, one plain line at a time in CI logs, all in T0 time."""

from __future__ import annotations

import io
import re

from rich.console import Console

from chaos.experiment.units import Duration, Ratio
from chaos.runner.guards import GuardStatus
from chaos.runner.view import FaultNow, LiveView, Snapshot, panel
from chaos.slo.display import format_like
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.live import LiveState, SloNow
from chaos.slo.objective import Comparison, Threshold
from chaos.slo.window import Interval

T0 = 1_795_000_000.0


def _slo(name: str, value: float | None, state: LiveState, threshold: Threshold) -> SloNow:
    result = SloResult(
        name, Status.FAIL, value, threshold, Evidence(Interval(T0, T0 + 1), 3, ()), ""
    )
    return SloNow(result, state, T0, T0 + 20.0)


def _snapshot() -> Snapshot:
    below_3s = Threshold(Comparison.BELOW, 3.0)
    above_99 = Threshold(Comparison.ABOVE, 0.99)
    return Snapshot(
        "Launch storm",
        run_id="20261124T150000Z-1a2b3c4d",
        phase="method",
        t0_wall=T0,
        now=11.6,
        end=70.0,
        next_event=(15.0, "apply slow-api: latency 300ms on client->api for 20s"),
        active_faults=[
            FaultNow("slow-edge", "latency 150ms ± 40ms, downstream on listener->edge", 40.0)
        ],
        listeners={"joined": 140, "playing": 120},
        failures={"timeout": 3, "refused": 1},
        ttfa_p95=0.612,
        targets=(6, 7, ["edge-2"]),
        guards=[
            GuardStatus(
                "join-collapse", 0.97, None, 10.0, Threshold(Comparison.BELOW, 0.5), "below 50%"
            )
        ],
        slos=[
            _slo("launch-delay", 0.606, LiveState.ON_TRACK, below_3s),
            _slo("join-success", 0.62, LiveState.AT_RISK, above_99),
        ],
        formats={
            "launch-delay": format_like(Duration.parse("3s")),
            "join-success": format_like(Ratio.parse("99%")),
            "join-collapse": format_like(Ratio.parse("50%")),
        },
    )  # fmt: skip


def test_the_panel_answers_what_a_game_day_lead_asks() -> None:
    console = Console(file=io.StringIO(), width=160, force_terminal=True, record=True)
    console.print(panel(_snapshot()))
    text = console.export_text()
    for expected in (
        "run 20261124T150000Z-1a2b3c4d",
        "T+00:12",  # T-minus / T-plus
        "2026-11-18T11:06:51Z",  # and the wall clock beside it
        "next",
        "T+00:15 (in 3.4s) apply slow-api: latency 300ms",
        "slow-edge (latency 150ms ± 40ms, downstream on listener->edge, 28s left)",
        "timeout 3",
        "refused 1",
        "0.612 s",
        "6/7 (down: edge-2)",
        "guard join-collapse  97 % (trips below 50% for 10s: 47 pp from its limit)",
        "on track",
        "0.606 s",
        "below 3s",
        "at risk",
        "62 %",
        "above 99%",
    ):
        assert expected in text, expected
    assert not re.search(r"\bfail\b", text), "an SLO whose window is open has no verdict yet"


def test_before_t0_it_counts_down() -> None:
    snapshot = _snapshot()
    snapshot.now = -19.7
    assert snapshot.status_line().startswith("[T-00:20] method")


def test_start_up_says_what_it_waits_for() -> None:
    snapshot = Snapshot(
        "Launch storm", phase="stack", now=3.2, waiting_for=["edge-1 to be healthy"]
    )
    assert snapshot.status_line() == "[start-up 3.2s] stack: waiting for edge-1 to be healthy"
    console = Console(file=io.StringIO(), width=120, force_terminal=True, record=True)
    console.print(panel(snapshot))
    assert "edge-1 to be healthy" in console.export_text()


def test_without_a_terminal_it_prints_one_record_a_line_never_wrapped() -> None:
    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=False)  # GitHub Actions: no COLUMNS
    with LiveView(console, _snapshot(), line_every=3600) as view:
        view.refresh()
        view.refresh()  # within line_every: nothing more
        view.event("apply slow-edge: latency 150ms ± 40ms, downstream on listener->edge for 30s")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    status, event = lines
    assert len(status) > 80, "one long record, not hard-wrapped"
    assert status.startswith("[T+00:12] method | next T+00:15 apply slow-api")
    assert "launch-delay on track 0.606 s (closes T+00:20)" in status
    assert "join-success at risk 62 % (closes T+00:20)" in status
    assert "failed joins: timeout 3 refused 1" in status and "targets up 6/7" in status
    assert event == (
        "[T+00:12 2026-11-18T11:06:51Z] apply slow-edge: latency 150ms ± 40ms, downstream on "
        "listener->edge for 30s"
    )


def test_the_view_reads_its_clock_at_every_draw() -> None:
    out = io.StringIO()
    clock = iter([-5.0, 2.0])
    snapshot = _snapshot()
    view = LiveView(Console(file=out, force_terminal=False), snapshot, now=lambda: next(clock))
    view.event("first")
    view.event("second")
    assert [line.split("]")[0] for line in out.getvalue().splitlines()] == [
        "[T-00:05 2026-11-18T11:06:35Z",
        "[T+00:02 2026-11-18T11:06:42Z",
    ]


def test_after_rollback_the_last_frame_shows_no_fault_as_active() -> None:
    snapshot = _snapshot()
    snapshot.active_faults = []
    snapshot.closing = "rolled back 1 active fault(s) in 0.01s"
    console = Console(file=io.StringIO(), width=160, force_terminal=True, record=True)
    console.print(panel(snapshot))
    text = console.export_text()
    assert "slow-edge (" not in text and "rolled back 1 active fault(s)" in text
    line = snapshot.status_line()
    assert "faults: none" in line and "rolled back" in line and "next " not in line
