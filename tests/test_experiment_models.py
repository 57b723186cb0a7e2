"""Every field of the experiment model: what it accepts, and how it refuses what it must not."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from chaos.experiment.experiment import Experiment
from chaos.experiment.faults import (
    BandwidthFault,
    DownFault,
    FeedbackFault,
    FloodFault,
    KillFault,
    LatencyFault,
    LimitDataFault,
    LossFault,
    PauseFault,
    ResetPeerFault,
    RestartFault,
    SlicerFault,
    SlowCloseFault,
    TimeoutFault,
    target_of,
)
from chaos.experiment.slos import GaugeSLO, QuantileSLO, RatioSLO, RecoverySLO
from chaos.experiment.units import BitRate, ByteRate, Duration, Ratio, Scale, Size
from chaos.experiment.workload import Backoff, Curve, FixedDelay, Immediate, Paced, Ramp, Storm
from tests.experiment_helpers import BASE, DELETE, issues, load, with_

S = Duration.parse


def only(found: list[Any]) -> Any:
    assert len(found) == 1, found
    return found[0]


# --- top level -------------------------------------------------------------------------------


def test_minimal_document_loads_with_defaults(tmp_path: Path) -> None:
    loaded = load(BASE, tmp_path)
    experiment = loaded.experiment
    assert experiment.title == "minimal"
    assert experiment.seed is None
    assert experiment.baseline == S("10s")
    assert experiment.recovery == S("30s")
    assert experiment.duration is None
    assert experiment.scale is None
    assert experiment.abort == []
    assert experiment.rollback.on_abort == "immediate"
    assert experiment.rollback.lease == S("30s")
    assert loaded.stack.name == "soundstage"
    assert experiment.summary() == "minimal, 1 fault, 1 SLO"


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("seed", 42, 42),
        ("seed", 2**64 - 1, 2**64 - 1),
        ("scale", "1:500", Scale(1, 500)),
        ("baseline", "30s", S("30s")),
        ("recovery", "0s", S("0s")),
        ("duration", "2m", S("2m")),
        ("description", "why we run it", "why we run it"),
    ],
)
def test_top_level_fields(tmp_path: Path, field: str, value: Any, expected: Any) -> None:
    experiment = load(with_((field,), value), tmp_path).experiment
    assert getattr(experiment, field) == expected


@pytest.mark.parametrize(
    ("path", "value", "where", "fragment"),
    [
        (("title",), "", "title", "at least 1 character"),
        (("title",), DELETE, "title", "required field is missing"),
        (("seed",), -1, "seed", "greater than or equal to 0"),
        (("seed",), 2**64, "seed", "less than"),
        (("seed",), "forty-two", "seed", "valid integer"),
        (("seed",), True, "seed", "valid integer"),
        (("seed",), 4.0, "seed", "valid integer"),
        (("scale",), 500, "scale", "model:real"),
        (("baseline",), "0s", "baseline", "longer than 0s"),
        (("recovery",), "30", "recovery", "expected a duration"),
        (("duration",), "12s", "faults[0].for", "after the run's duration"),
        (("workload",), DELETE, "workload", "required field is missing"),
        (("slos",), [], "slos", "at least 1 item"),
        (("faults",), {"a": 1}, "faults", "valid list"),
        (("titel",), "x", "titel", "did you mean 'title'?"),
    ],
)
def test_top_level_refusals(
    tmp_path: Path, path: tuple[str, ...], value: Any, where: str, fragment: str
) -> None:
    issue = only(issues(with_(path, value), tmp_path))
    assert issue.path == where
    assert fragment in issue.message


# --- workload --------------------------------------------------------------------------------


def test_speakers_by_count_or_by_name(tmp_path: Path) -> None:
    by_count = load(with_(("workload", "speakers"), 3), tmp_path).experiment.workload
    assert [s.name for s in by_count.speakers] == ["speaker-1", "speaker-2", "speaker-3"]
    assert by_count.speakers[0].bitrate == BitRate(64_000)
    listed = with_(("workload", "speakers"), ["host", {"name": "guest", "bitrate": "32kbps"}])
    named = load(listed, tmp_path).experiment.workload
    assert [(s.name, str(s.bitrate)) for s in named.speakers] == [
        ("host", "64kbps"),
        ("guest", "32kbps"),
    ]
    default = load(with_(("workload", "speakers"), DELETE), tmp_path).experiment.workload
    assert [s.name for s in default.speakers] == ["speaker-1"]


@pytest.mark.parametrize(
    ("value", "where", "fragment"),
    [
        (-1, "workload.speakers", "number of speakers"),
        (["a", "a"], "workload.speakers", "unique"),
        ([{"name": "a", "bitrat": "1kbps"}], "workload.speakers[0].bitrat", "'bitrate'"),
        (["bad name"], "workload.speakers[0].name", "should match pattern"),
    ],
)
def test_speaker_refusals(tmp_path: Path, value: Any, where: str, fragment: str) -> None:
    issue = only(issues(with_(("workload", "speakers"), value), tmp_path))
    assert (issue.path, fragment in issue.message) == (where, True), issue


@pytest.mark.parametrize(
    ("phase", "kind", "start", "end"),
    [
        ({"arrival": "storm", "count": 2000, "at": "0s", "spread": "2s"}, Storm, "0s", "2s"),
        ({"arrival": "storm", "count": "2k"}, Storm, "0s", "0s"),
        ({"arrival": "ramp", "count": 1000, "from": "30s", "to": "90s"}, Ramp, "30s", "90s"),
        ({"arrival": "paced", "count": 100, "at": "5s", "rate": "50/s"}, Paced, "5s", "7s"),
        (
            {"arrival": "paced", "count": 60, "rate": "60/min", "max_in_flight": 5},
            Paced,
            "0s",
            "1m",
        ),
    ],
)
def test_listener_phases(
    tmp_path: Path, phase: dict[str, Any], kind: type, start: str, end: str
) -> None:
    loaded = load(with_(("workload", "listeners"), [phase]), tmp_path).experiment
    parsed = loaded.workload.listeners[0]
    assert isinstance(parsed, kind)
    assert (parsed.start, parsed.end) == (S(start), S(end))


def test_curve_phase_reads_a_csv_next_to_the_experiment(tmp_path: Path) -> None:
    (tmp_path / "curve.csv").write_text("seconds,listeners\n0,0\n60,1000\n")
    phase = {"arrival": "curve", "csv": "curve.csv", "scale": "1:500", "name": "replay"}
    document = with_(("workload", "listeners"), [phase]) | {"duration": "2m"}
    curve = load(document, tmp_path).experiment.workload.listeners[0]
    assert isinstance(curve, Curve)
    assert (curve.csv, curve.scale, curve.end) == ("curve.csv", Scale(1, 500), None)


@pytest.mark.parametrize(
    ("phase", "where", "fragment"),
    [
        ({"arrival": "strom", "count": 1}, "workload.listeners[0].arrival", "did you mean 'storm'"),
        ({"count": 1}, "workload.listeners[0].arrival", "required field is missing"),
        ("storm", "workload.listeners[0].count", "required field is missing"),
        (7, "workload.listeners[0]", "mapping with `arrival:`"),
        ({"arrival": "storm", "count": -5}, "workload.listeners[0].count", "negative"),
        (
            {"arrival": "storm", "count": 5, "spred": "1s"},
            "workload.listeners[0].spred",
            "'spread'",
        ),
        (
            {"arrival": "ramp", "count": 5, "from": "9s", "to": "3s"},
            "workload.listeners[0].to",
            "end after",
        ),
        ({"arrival": "ramp", "count": 5, "to": "3s"}, "workload.listeners[0].from", "missing"),
        (
            {"arrival": "paced", "count": 5, "rate": 0},
            "workload.listeners[0].rate",
            "more than 0/s",
        ),
        (
            {"arrival": "paced", "count": 5, "rate": 1, "max_in_flight": 0},
            "workload.listeners[0].max_in_flight",
            "greater than or equal to 1",
        ),
        ({"arrival": "curve", "csv": "missing.csv"}, "workload.listeners[0].csv", "no file"),
    ],
)
def test_phase_refusals(tmp_path: Path, phase: Any, where: str, fragment: str) -> None:
    found = issues(with_(("workload", "listeners"), [phase]) | {"duration": "1m"}, tmp_path)
    assert any(i.path == where and fragment in i.message for i in found), found


@pytest.mark.parametrize(
    ("csv", "fragment"),
    [
        ("0,1\n60,x\n", "curve.csv:2: not a number"),
        ("0,1,2\n", "expected 2 columns"),
        ("30,1\n10,2\n", "sort the rows by time"),
        ("", "no rows"),
        ("0,0\n90,100\n", "the curve ends at 100s, after the run's duration (1m)"),
    ],
)
def test_curve_csv_is_checked_at_validation(tmp_path: Path, csv: str, fragment: str) -> None:
    (tmp_path / "curve.csv").write_text(csv)
    phase = {"arrival": "curve", "csv": "curve.csv", "at": "10s"}
    document = with_(("workload", "listeners"), [phase]) | {"duration": "1m"}
    issue = only(issues(document, tmp_path))
    assert issue.path == "workload.listeners[0].csv"
    assert fragment in issue.message, issue


def test_curve_needs_an_explicit_duration(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("0,1\n")
    issue = only(
        issues(with_(("workload", "listeners"), [{"arrival": "curve", "csv": "c.csv"}]), tmp_path)
    )
    assert issue.path == "workload.listeners[0]"
    assert "duration" in issue.message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("immediate", Immediate(policy="immediate")),
        (
            {"policy": "fixed", "delay": "2s", "max_attempts": 3},
            FixedDelay(policy="fixed", delay=S("2s"), max_attempts=3),
        ),
        (
            {
                "policy": "backoff",
                "initial": "100ms",
                "max": "10s",
                "multiplier": 1.5,
                "jitter": "50%",
            },
            Backoff(initial=S("100ms"), max=S("10s"), multiplier=1.5, jitter=Ratio(Fraction(1, 2))),
        ),
        ("backoff", Backoff()),
    ],
)
def test_reconnect_policies(tmp_path: Path, value: Any, expected: Any) -> None:
    workload = load(with_(("workload", "reconnect"), value), tmp_path).experiment.workload
    assert workload.reconnect == expected


def test_default_reconnect_is_jittered_exponential_backoff(tmp_path: Path) -> None:
    reconnect = load(BASE, tmp_path).experiment.workload.reconnect
    assert isinstance(reconnect, Backoff)
    assert (reconnect.initial, reconnect.max, reconnect.multiplier) == (S("1s"), S("30s"), 2.0)
    assert reconnect.jitter == Ratio(Fraction(1))


@pytest.mark.parametrize(
    ("value", "where", "fragment"),
    [
        ("backof", "workload.reconnect.policy", "did you mean 'backoff'"),
        ({"policy": "fixed"}, "workload.reconnect.delay", "missing"),
        ({"policy": "fixed", "delay": "0s"}, "workload.reconnect.delay", "longer than 0s"),
        (
            {"policy": "backoff", "initial": "5s", "max": "1s"},
            "workload.reconnect.max",
            "at least `initial`",
        ),
        (
            {"policy": "backoff", "multiplier": 0.5},
            "workload.reconnect.multiplier",
            "greater than or equal to 1",
        ),
        (
            {"policy": "backoff", "multiplier": True},
            "workload.reconnect.multiplier",
            "valid number",
        ),
        ({"policy": "backoff", "jitter": "150%"}, "workload.reconnect.jitter", "more than 100%"),
        (5, "workload.reconnect", "a mapping with `policy:`"),
    ],
)
def test_reconnect_refusals(tmp_path: Path, value: Any, where: str, fragment: str) -> None:
    issue = only(issues(with_(("workload", "reconnect"), value), tmp_path))
    assert (issue.path, fragment in issue.message) == (where, True), issue


def test_session_and_churn(tmp_path: Path) -> None:
    document = with_(("workload", "session"), "10m")
    document["workload"]["churn"] = {"share": "2%", "every": "30s"}
    workload = load(document, tmp_path).experiment.workload
    assert workload.session == S("10m")
    assert workload.churn is not None
    assert (workload.churn.share, workload.churn.every) == (Ratio(Fraction(1, 50)), S("30s"))
    bad = with_(("workload", "churn"), {"share": "2"})
    assert only(issues(bad, tmp_path)).path == "workload.churn.share"


# --- faults ----------------------------------------------------------------------------------

LINK = {"at": "5s", "for": "10s", "link": "listener->edge"}


def test_a_flood_share_is_of_a_capacity_on_its_link(tmp_path: Path) -> None:
    capacity = {"name": "c", **LINK, "capacity": "10Mbps"}
    flood = {"name": "f", **LINK, "flood": "90%"}
    fault = load(with_(("faults",), [capacity, flood]), tmp_path).experiment.faults[1]
    assert isinstance(fault, FloodFault) and fault.flood == Ratio(Fraction(9, 10))
    alone = only(issues(with_(("faults",), [flood]), tmp_path))
    assert (alone.path, "add a capacity fault" in alone.message) == ("faults[0].flood", True)


@pytest.mark.parametrize(
    ("fields", "kind", "check"),
    [
        ({"latency": "200ms", "jitter": "50ms"}, LatencyFault, lambda f: f.jitter == S("50ms")),
        ({"bandwidth": "64kbps"}, BandwidthFault, lambda f: f.bandwidth == BitRate(64_000)),
        ({"bandwidth": "1000KB/s"}, BandwidthFault, lambda f: f.bandwidth == ByteRate(10**6)),
        (
            {"slicer": {"average_size": "1KB", "size_variation": "100B", "delay": "1ms"}},
            SlicerFault,
            lambda f: f.slicer.average_size == Size(1000),
        ),
        ({"timeout": "0s"}, TimeoutFault, lambda f: f.timeout == S("0s")),
        ({"reset_peer": "500ms"}, ResetPeerFault, lambda f: f.reset_peer == S("500ms")),
        ({"limit_data": "64KiB"}, LimitDataFault, lambda f: f.limit_data == Size(65536)),
        ({"slow_close": "1s"}, SlowCloseFault, lambda f: f.slow_close == S("1s")),
        ({"down": True}, DownFault, lambda f: f.down is True),
        ({"flood": "50Mbps"}, FloodFault, lambda f: f.flood == BitRate(50 * 10**6)),
        (
            {"latency": "1s", "direction": "upstream", "toxicity": "50%"},
            LatencyFault,
            lambda f: (f.direction, f.toxicity) == ("upstream", Ratio(Fraction(1, 2))),
        ),
    ],
)
def test_link_fault_kinds(tmp_path: Path, fields: dict[str, Any], kind: type, check: Any) -> None:
    fault = load(with_(("faults",), [{"name": "f", **LINK, **fields}]), tmp_path).experiment.faults[
        0
    ]
    assert isinstance(fault, kind)
    assert fault.kind == type(fault).kind
    assert (fault.at, fault.end) == (S("5s"), S("15s"))
    assert check(fault)


def test_link_faults_default_to_both_directions_and_full_toxicity(tmp_path: Path) -> None:
    fault = load(BASE, tmp_path).experiment.faults[0]
    assert isinstance(fault, LatencyFault)
    assert (fault.direction, fault.toxicity, fault.jitter) == ("both", Ratio(Fraction(1)), S("0s"))


def test_loss_on_a_udp_link(tmp_path: Path) -> None:
    fault_doc = {"name": "lossy", **LINK, "link": "speaker->ingest", "loss": "5%"}
    fault = load(with_(("faults",), [fault_doc]), tmp_path).experiment.faults[0]
    assert isinstance(fault, LossFault)
    assert fault.loss == Ratio(Fraction(1, 20))


@pytest.mark.parametrize(
    ("fault", "kind", "target", "end"),
    [
        ({"kill": "edge-1", "for": "5s"}, KillFault, "edge-1", "15s"),
        ({"pause": "origin", "for": "3s"}, PauseFault, "origin", "13s"),
        ({"restart": "api"}, RestartFault, "api", "10s"),
    ],
)
def test_component_faults(
    tmp_path: Path, fault: dict[str, Any], kind: type, target: str, end: str
) -> None:
    parsed = load(with_(("faults",), [{"name": "c", "at": "10s", **fault}]), tmp_path).experiment
    component_fault = parsed.faults[0]
    assert isinstance(component_fault, KillFault | PauseFault | RestartFault)
    assert isinstance(component_fault, kind)
    assert (target_of(component_fault), component_fault.end) == (target, S(end))


def test_feedback_fault(tmp_path: Path) -> None:
    doc = {
        "name": "howl",
        "at": "1s",
        "for": "5s",
        "feedback": {"speaker": "speaker-1", "gain": "120%"},
    }
    fault = load(with_(("faults",), [doc]), tmp_path).experiment.faults[0]
    assert isinstance(fault, FeedbackFault)
    assert (fault.feedback.gain, fault.feedback.delay) == (Ratio(Fraction(6, 5)), S("50ms"))


F = "faults[0]"


@pytest.mark.parametrize(
    ("fields", "where", "fragment"),
    [
        ({**LINK, "lateny": "1s"}, f"{F}.lateny", "unknown field; did you mean 'latency'?"),
        ({**LINK, "latency": "1s", "loss": "1%"}, F, "exactly one kind"),
        ({**LINK}, F, "add one of latency, loss"),
        ({**LINK, "latency": "1s", "jiter": "1ms"}, f"{F}.jiter", "did you mean 'jitter'?"),
        ({**LINK, "latency": 200}, f"{F}.latency", "no unit"),
        ({**LINK, "latency": "-200ms"}, f"{F}.latency", "negative"),
        ({**LINK, "for": "0s", "latency": "1s"}, f"{F}.for", "longer than 0s"),
        ({"at": "1s", "link": "listener->edge", "latency": "1s"}, f"{F}.for", "missing"),
        ({**LINK, "latency": "1s", "direction": "up"}, f"{F}.direction", "did you mean 'upstream'"),
        ({**LINK, "latency": "1s", "toxicity": "101%"}, f"{F}.toxicity", "more than 100%"),
        ({**LINK, "bandwidth": "0bps"}, f"{F}.bandwidth", "down: true"),
        ({**LINK, "bandwidth": 1000}, f"{F}.bandwidth", "no unit"),
        ({**LINK, "slicer": {"average_size": 0}}, f"{F}.slicer.average_size", "at least 1B"),
        (
            {**LINK, "slicer": {"average_size": 10, "size_variation": 10}},
            f"{F}.slicer.size_variation",
            "smaller",
        ),
        ({**LINK, "down": False}, f"{F}.down", "expected one of True; got False"),
        ({**LINK, "flood": "0%"}, f"{F}.flood", "more than 0%"),
        ({**LINK, "flood": "fast"}, f"{F}.flood", "expected a data rate"),
        (
            {"at": "1s", "for": "1s", "feedback": {"speaker": "speaker-1", "gain": "1.2"}},
            f"{F}.feedback.gain",
            "expected a percentage",
        ),
        ({"at": "1s", "restart": "api", "for": "1s"}, f"{F}.for", "unknown field"),
        (
            {"at": "1s", "for": "1s", "kill": "edge", "link": "listener->edge"},
            f"{F}.link",
            "unknown field",
        ),
        ("latency", F, "expected a fault as a mapping"),
    ],
)
def test_fault_refusals(tmp_path: Path, fields: Any, where: str, fragment: str) -> None:
    fault = {"name": "f", **fields} if isinstance(fields, dict) else fields
    found = issues(with_(("faults",), [fault]), tmp_path)
    issue = only(found)
    assert (issue.path, fragment in issue.message) == (where, True), issue


# --- SLOs and guards -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slo", "kind", "check"),
    [
        (
            {"p95": "time_to_first_audio", "below": "5s", "during": "storm"},
            QuantileSLO,
            lambda s: (
                (s.quantile, s.metric, s.comparison, s.binding)
                == (
                    0.95,
                    "gameday_listener_time_to_first_audio_seconds",
                    ("below", S("5s")),
                    ("during", "storm"),
                )
            ),
        ),
        (
            {"p999": "m", "above": 3},
            QuantileSLO,
            lambda s: (s.quantile, s.comparison) == (0.999, ("above", 3.0)),
        ),
        (
            {"ratio": "joins_ok / joins", "above": "99.5%"},
            RatioSLO,
            lambda s: (
                (s.numerator, s.denominator, s.binding)
                == (
                    "gameday_listener_joins_ok_total",
                    "gameday_listener_join_attempts_total",
                    ("during", "run"),
                )
            ),
        ),
        (
            {"max": "edge_buffer_ratio", "below": "1%", "during": "slow", "window": "5s"},
            GaugeSLO,
            lambda s: (s.aggregate, s.metric, s.window) == ("max", "edge_buffer_ratio", S("5s")),
        ),
        (
            {"increase": "howl_seconds_total", "equals": 0, "after": "slow"},
            GaugeSLO,
            lambda s: (
                (s.aggregate, s.comparison, s.binding)
                == ("increase", ("equals", 0.0), ("after", "slow"))
            ),
        ),
        (
            {"mean": "bitrate_bps", "above": "48kbps", "during": "baseline"},
            GaugeSLO,
            lambda s: s.comparison == ("above", BitRate(48_000)),
        ),
        (
            {"recovers_within": "20s", "after": "slow", "of": ["delay"]},
            RecoverySLO,
            lambda s: (s.recovers_within, s.after, s.of) == (S("20s"), "slow", ["delay"]),
        ),
    ],
)
def test_slo_kinds(tmp_path: Path, slo: dict[str, Any], kind: type, check: Any) -> None:
    document = with_(("slos",), [*BASE["slos"], {"name": "x", **slo}])
    parsed = load(document, tmp_path).experiment.slos[1]
    assert isinstance(parsed, kind)
    assert check(parsed)


S1 = "slos[1]"


@pytest.mark.parametrize(
    ("slo", "where", "fragment"),
    [
        ({"p95": "m"}, S1, "exactly one comparison: below, above, equals"),
        ({"p95": "m", "below": "1s", "above": "2s"}, f"{S1}.above", "this sets below, above"),
        ({"p95": "m", "p99": "m", "below": "1s"}, f"{S1}.p99", "exactly one quantile"),
        ({"p96": "m", "below": "1s"}, f"{S1}.p96", "unknown field; did you mean 'p9"),
        ({"stall_ratio": None, "below": "1%"}, f"{S1}.stall_ratio", "write the aggregate"),
        ({"below": "1%"}, S1, "does not say what it does: add one of p50"),
        ({"p95": "bad metric", "below": "1s"}, f"{S1}.p95", "after the selector 'bad'"),
        ({"ratio": "joins", "above": "99%"}, f"{S1}.ratio", "numerator/denominator"),
        ({"ratio": "a/b", "above": "5s"}, f"{S1}.above", "percentage"),
        ({"max": "m", "below": "fast"}, f"{S1}.below", "expected a value like"),
        ({"max": "m", "below": "1s", "during": "slow", "after": "slow"}, f"{S1}.after", "not both"),
        ({"max": "m", "below": "1s", "window": "0s"}, f"{S1}.window", "longer than 0s"),
        ({"recovers_within": "10s"}, f"{S1}.after", "missing"),
        (
            {"recovers_within": "10s", "after": "slow", "below": "1s"},
            f"{S1}.below",
            "unknown field",
        ),
        ({"max": "m", "below": "1s", "p95": "m"}, S1, "exactly one kind"),
    ],
)
def test_slo_refusals(tmp_path: Path, slo: dict[str, Any], where: str, fragment: str) -> None:
    issue = only(issues(with_(("slos",), [*BASE["slos"], {"name": "x", **slo}]), tmp_path))
    assert (issue.path, fragment in issue.message) == (where, True), issue


def test_guards_and_rollback(tmp_path: Path) -> None:
    document = dict(BASE) | {
        "abort": [
            {"metric": "edge_error_ratio", "above": "50%", "for": "10s"},
            {"name": "no-audio", "ratio": "frames_ok/frames", "below": "90%", "for": "0s"},
        ],
        "rollback": {"on_abort": "recover", "lease": "1m"},
    }
    experiment = load(document, tmp_path).experiment
    first, second = experiment.abort
    assert (first.label, first.limit, first.for_) == (
        "edge_error_ratio",
        ("above", Ratio(Fraction(1, 2))),
        S("10s"),
    )
    assert (second.label, second.limit, second.for_) == (
        "no-audio",
        ("below", Ratio(Fraction(9, 10))),
        S("0s"),
    )
    assert (experiment.rollback.on_abort, experiment.rollback.lease) == ("recover", S("1m"))


@pytest.mark.parametrize(
    ("field", "value", "where", "fragment"),
    [
        ("abort", [{"above": "1%", "for": "1s"}], "abort[0]", "series to watch"),
        ("abort", [{"join_errors": None, "above": "1%"}], "abort[0].join_errors", "`metric: join"),
        (
            "abort",
            [{"metric": "m", "ratio": "a/b", "above": "1%", "for": "1s"}],
            "abort[0].ratio",
            "exactly one",
        ),
        ("abort", [{"metric": "m", "for": "1s"}], "abort[0]", "limit: above, below"),
        ("abort", [{"metric": "m", "above": "1%"}], "abort[0].for", "a guard needs `for:`"),
        (
            "abort",
            [{"metric": "m", "above": "1%", "equals": 1, "for": "1s"}],
            "abort[0].equals",
            "unknown field",
        ),
        ("abort", [{"metric": "m", "above": "1%", "for": "1h"}], "abort[0].for", "never trips"),
        (
            "rollback",
            {"on_abort": "later"},
            "rollback.on_abort",
            "expected one of immediate, recover",
        ),
        ("rollback", {"lease": "0s"}, "rollback.lease", "longer than 0s"),
    ],
)
def test_guard_and_rollback_refusals(
    tmp_path: Path, field: str, value: Any, where: str, fragment: str
) -> None:
    issue = only(issues(with_((field,), value), tmp_path))
    assert (issue.path, fragment in issue.message) == (where, True), issue


def test_models_round_trip_through_their_json_form(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent / "experiments"
    for path in sorted(root.glob("*.yaml")):
        from chaos.experiment.loader import load_experiment

        experiment = load_experiment(path).experiment
        dumped = experiment.model_dump(mode="json", by_alias=True, exclude_none=True)
        assert Experiment.model_validate(dumped) == experiment, path
