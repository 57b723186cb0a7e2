"""Cross-references and the run timeline: names resolve, windows fit, protocols suit faults."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaos.experiment.timeline import Timeline, UnknownWindow, Window, phase_names
from tests.experiment_helpers import BASE, issues, load, with_

SKETCH: dict[str, Any] = {
    "title": "sketch",
    "workload": {
        "speakers": 2,
        "listeners": [
            {"arrival": "storm", "count": 2000, "at": "0s", "spread": "2s"},
            {"arrival": "ramp", "count": 1000, "from": "30s", "to": "90s"},
        ],
    },
    "faults": [
        {
            "name": "slow-edge",
            "at": "20s",
            "for": "60s",
            "link": "listener->edge",
            "latency": "200ms",
        },
        {"name": "flood", "at": "60s", "for": "30s", "link": "listener->edge", "flood": "50Mbps"},
        {"name": "bounce", "at": "95s", "restart": "api"},
    ],
    "slos": [{"name": "delay", "p95": "time_to_first_audio", "below": "5s", "during": "storm"}],
}


def _timeline(document: dict[str, Any], tmp_path: Path) -> Timeline:
    return load(document, tmp_path).timeline


def test_run_windows(tmp_path: Path) -> None:
    timeline = _timeline(SKETCH, tmp_path)
    assert (timeline.method_end.seconds, timeline.run_end.seconds) == (95, 125)
    assert timeline.span("baseline") == Window(-10, 0)
    assert timeline.span("method") == Window(0, 95)
    assert timeline.span("recovery") == Window(95, 125)
    assert timeline.span("run") == Window(-10, 125)
    assert timeline.span("run").length == 135


def test_phase_and_fault_windows(tmp_path: Path) -> None:
    timeline = _timeline(SKETCH, tmp_path)
    assert timeline.span("storm") == Window(0, 30)  # until the ramp starts
    assert timeline.span("ramp") == Window(30, 95)  # the last phase runs to the method's end
    assert timeline.span("slow-edge") == Window(20, 80)
    assert timeline.window(("after", "slow-edge")) == Window(80, 125)
    assert timeline.window(("during", "flood")) == Window(60, 90)
    assert timeline.span("bounce") == Window(95, 95)
    with pytest.raises(UnknownWindow):
        timeline.span("nothing")


def test_explicit_duration_fixes_the_run_length(tmp_path: Path) -> None:
    timeline = _timeline(SKETCH | {"duration": "3m"}, tmp_path)
    assert timeline.run_end.seconds == 180
    assert timeline.span("recovery") == Window(95, 180)
    assert _timeline(SKETCH | {"duration": "95s"}, tmp_path).span("recovery") == Window(95, 95)


def test_phase_names_and_arrival_aliases(tmp_path: Path) -> None:
    listeners = [
        {"arrival": "storm", "count": 1},
        {"arrival": "storm", "count": 1, "at": "10s"},
        {"arrival": "ramp", "count": 1, "from": "20s", "to": "30s", "name": "late"},
        {"arrival": "paced", "count": 10, "at": "40s", "rate": "10/s"},
    ]
    document = with_(("workload", "listeners"), listeners, SKETCH)
    ambiguous = _problems(document, tmp_path)
    assert _has(ambiguous, "slos[0].during", "matches several listener phases (storm-1, storm-2)")
    document["slos"][0]["during"] = "storm-1"
    experiment = load(document, tmp_path).experiment
    assert phase_names(experiment.workload.listeners) == ["storm-1", "storm-2", "late", "paced"]
    timeline = Timeline.of(experiment)
    assert timeline.span("ramp") == timeline.span("late")
    assert timeline.span("storm-2") == Window(10, 20)
    with pytest.raises(UnknownWindow):
        timeline.span("storm")  # two storms: ambiguous, so not an alias


def test_the_sketch_binds_its_slos(tmp_path: Path) -> None:
    slos = [
        {
            "name": "a",
            "ratio": "stall_ratio",
            "below": "1%",
            "during": "slow-edge",
            "window": "30s",
        },
        {"name": "b", "recovers_within": "30s", "after": "slow-edge"},
        {"name": "c", "max": "m", "below": "1", "after": "ramp"},
        {"name": "d", "max": "m", "below": "1", "during": "baseline"},
    ]
    load(with_(("slos",), slos, SKETCH), tmp_path)


def _problems(document: dict[str, Any], tmp_path: Path) -> list[tuple[str, str]]:
    return [(i.path, i.message) for i in issues(document, tmp_path)]


def _has(found: list[tuple[str, str]], path: str, fragment: str) -> bool:
    return any(p == path and fragment in m for p, m in found)


@pytest.mark.parametrize(
    ("path", "value", "where", "fragment"),
    [
        (
            ("faults", 0, "link"),
            "listener->egde",
            "faults[0].link",
            "did you mean 'listener->edge'?",
        ),
        (("faults", 0, "link"), "nowhere->else", "faults[0].link", "links: client->api"),
        (("faults", 2, "restart"), "apy", "faults[2].restart", "did you mean 'api'?"),
        (("faults", 2, "restart"), "edge-3", "faults[2].restart", "edge-1, edge-2"),
        (("faults", 1, "name"), "slow-edge", "faults[1].name", "already used by faults[0]"),
        (("faults", 1, "name"), "storm", "faults[1].name", "already used by workload.listeners[0]"),
        (("faults", 1, "name"), "recovery", "faults[1].name", "reserved"),
        (("workload", "listeners", 1, "name"), "run", "workload.listeners[1].name", "reserved"),
        (("slos", 0, "during"), "strom", "slos[0].during", "did you mean 'storm'?"),
        (("slos", 0, "during"), "bounce", "slos[0].during", "empty; use `after: bounce`"),
        (
            ("slos", 0, "window"),
            "45s",
            "slos[0].window",
            "does not fit in during 'storm' (30s long)",
        ),
        (("duration",), "85s", "faults[1].for", "after the run's duration"),
        (("duration",), "80s", "workload.listeners[1]", "ends at 90s, after the run's duration"),
    ],
)
def test_reference_problems(
    tmp_path: Path, path: tuple[Any, ...], value: Any, where: str, fragment: str
) -> None:
    assert _has(_problems(with_(path, value, SKETCH), tmp_path), where, fragment)


def test_slo_names_unique_and_recovery_targets_exist(tmp_path: Path) -> None:
    slos = [
        {"name": "x", "max": "m", "below": "1"},
        {"name": "x", "max": "m", "below": "1"},
        {"name": "r", "recovers_within": "10s", "after": "slow-edge", "of": ["x", "r", "y"]},
        {"name": "late", "recovers_within": "1m", "after": "flood"},
    ]
    found = _problems(with_(("slos",), slos, SKETCH), tmp_path)
    assert _has(found, "slos[1].name", "SLO name 'x' is already used by slos[0]")
    assert _has(found, "slos[2].of[1]", "'r' is not an SLO that can recover (one of: x, x)")
    assert _has(found, "slos[2].of[2]", "'y' is not an SLO that can recover")
    assert _has(found, "slos[3].recovers_within", "before recovery could be judged")
    assert not any(p == "slos[2].of[0]" for p, _ in found)


def test_loss_on_a_tcp_link_is_the_proxy_s_tcp_loss_toxic(tmp_path: Path) -> None:
    fault = {"name": "lossy", "at": "1s", "for": "2s", "link": "listener->edge", "loss": "5%"}
    loaded = load(SKETCH | {"faults": [fault]}, tmp_path)
    assert loaded.experiment.faults[0].kind == "loss"


def test_guard_names_unique_and_durations_fit(tmp_path: Path) -> None:
    guards = [
        {"name": "g", "metric": "m", "above": "1%", "for": "1s"},
        {"name": "g", "metric": "m", "above": "1%", "for": "10m"},
    ]
    found = _problems(SKETCH | {"abort": guards}, tmp_path)
    assert _has(found, "abort[1].name", "guard name 'g' is already used")
    assert _has(found, "abort[1].for", "never trips")


@pytest.mark.parametrize(
    ("fault", "where", "fragment"),
    [
        ({"link": "speaker->ingest", "slicer": {"average_size": "1KB"}}, "faults[0].slicer", "UDP"),
        ({"link": "speaker->ingest", "timeout": "1s"}, "faults[0].timeout", "byte stream"),
        ({"link": "speaker->ingest", "limit_data": "1KB"}, "faults[0].limit_data", "byte stream"),
        (
            {"feedback": {"speaker": "speaker-3", "gain": "110%"}},
            "faults[0].feedback.speaker",
            "speaker-1, speaker-2",
        ),
        (
            {"feedback": {"speaker": "speakr-1", "gain": "110%"}},
            "faults[0].feedback.speaker",
            "did you mean 'speaker-1'?",
        ),
    ],
)
def test_fault_must_suit_its_target(
    tmp_path: Path, fault: dict[str, Any], where: str, fragment: str
) -> None:
    document = with_(("faults",), [{"name": "f", "at": "1s", "for": "2s", **fault}], SKETCH)
    assert _has(_problems(document, tmp_path), where, fragment)


@pytest.mark.parametrize(
    "fault",
    [
        {"link": "speaker->ingest", "loss": "5%", "direction": "upstream"},
        {"link": "speaker->ingest", "latency": "50ms", "jitter": "20ms"},
        {"link": "speaker->ingest", "bandwidth": "32kbps"},
        {"link": "speaker->ingest", "down": True},
        {"link": "client->api", "reset_peer": "0s"},
        {"pause": "edge-2"},
        {"kill": "speaker"},
        {"feedback": {"speaker": "speaker-2", "gain": "100%", "delay": "80ms"}},
    ],
)
def test_faults_that_suit_their_target(tmp_path: Path, fault: dict[str, Any]) -> None:
    load(with_(("faults",), [{"name": "f", "at": "1s", "for": "2s", **fault}], SKETCH), tmp_path)


def test_base_document_is_valid(tmp_path: Path) -> None:
    assert load(BASE, tmp_path).timeline.span("storm") == Window(0, 15)


def test_an_after_window_needs_time_left_in_the_run(tmp_path: Path) -> None:
    slos = [{"name": "late", "max": "m", "below": "1", "after": "bounce"}]
    document = with_(("slos",), slos, SKETCH) | {"recovery": "0s"}
    assert _has(_problems(document, tmp_path), "slos[0].after", "nothing to judge after it")
    load(document | {"recovery": "5s"}, tmp_path)


@pytest.mark.parametrize(
    ("second", "conflict"),
    [
        ({"link": "listener->edge", "down": True, "at": "15s", "for": "10s"}, True),
        ({"link": "listener->edge", "down": True, "at": "20s", "for": "10s"}, False),
        ({"link": "client->api", "down": True, "at": "15s", "for": "10s"}, False),
        ({"link": "listener->edge", "latency": "1s", "at": "15s", "for": "10s"}, False),
    ],
)
def test_overlapping_outages_of_one_link_are_refused(
    tmp_path: Path, second: dict[str, Any], conflict: bool
) -> None:
    faults = [
        {"name": "out", "at": "10s", "for": "10s", "link": "listener->edge", "down": True},
        {"name": "again", **second},
    ]
    document = with_(("faults",), faults, SKETCH)
    if conflict:
        assert _has(_problems(document, tmp_path), "faults[1].at", "overlaps 'out' (10s to 20s)")
    else:
        load(document, tmp_path)


@pytest.mark.parametrize(
    ("second", "conflict"),
    [
        ({"kill": "edge-1", "at": "12s", "for": "1s"}, True),
        ({"pause": "edge", "at": "19s", "for": "5s"}, True),
        ({"restart": "edge-2", "at": "10s"}, True),
        ({"restart": "edge-1", "at": "20s"}, False),
        ({"kill": "edge-1", "at": "20s", "for": "5s"}, False),
        ({"kill": "origin", "at": "12s", "for": "5s"}, False),
    ],
)
def test_overlapping_faults_on_one_component_are_refused(
    tmp_path: Path, second: dict[str, Any], conflict: bool
) -> None:
    faults = [
        {"name": "crash", "at": "10s", "for": "10s", "kill": "edge-1"},
        {"name": "b", **second},
    ]
    document = with_(("faults",), faults, SKETCH)
    if conflict:
        assert _has(_problems(document, tmp_path), "faults[1].at", "on component edge")
    else:
        load(document, tmp_path)
