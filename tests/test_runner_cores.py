"""The runner's pure cores: timeline, toxic plans, feature checks, guards, JUnit, verdicts."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from experiment_helpers import BASE, load, with_
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.errors import ExitCode, InvalidInput
from chaos.experiment.slos import Guard
from chaos.experiment.units import Duration
from chaos.faults.flood import FloodPlan
from chaos.metrics.series import Series, SeriesKey
from chaos.runner.audience import scaled, split_schedule
from chaos.runner.guards import GuardWatch
from chaos.runner.junit import junit_xml
from chaos.runner.run_tag import run_id_of
from chaos.runner.timeline import Action, resolve
from chaos.runner.toxics import capacity_ops, check_supported, flood_plan, toxic_ops
from chaos.runner.verdict import Verdict, decide
from chaos.slo.evaluate import Evidence, SloResult, Status
from chaos.slo.objective import Comparison, Context, Threshold
from chaos.slo.window import Interval
from chaos.workload.arrivals import Join, Schedule

RUN = "20261124T150000Z-1a2b3c4d"


def _experiment(tmp_path: Path, faults: list[dict[str, Any]], **extra: Any) -> Any:
    document = with_(("faults",), faults)
    document.update(extra)
    return load(document, tmp_path).experiment


def _fault(**fields: Any) -> dict[str, Any]:
    return {"name": "f", "at": "5s", "for": "10s", "link": "listener->edge", **fields}


# ----------------------------------------------------------------------------------- timeline


def test_timeline_removes_before_it_applies_and_ends_after_recovery(tmp_path: Path) -> None:
    experiment = _experiment(
        tmp_path,
        [
            _fault(name="a", latency="100ms"),
            _fault(name="b", at="15s", link="client->api", latency="50ms"),
        ],
    )
    steps = resolve(experiment).steps
    at_15 = [(s.action, s.name) for s in steps if s.at == 15.0]
    assert at_15 == [(Action.REMOVE, "a"), (Action.APPLY, "b")]
    assert steps[-1].action is Action.END and steps[-1].at == 55.0  # 25s + default 30s recovery
    assert [s.name for s in steps if s.action is Action.PHASE] == ["storm"]


@settings(max_examples=60, deadline=None)
@given(
    spans=st.lists(
        st.tuples(st.integers(0, 100), st.integers(1, 50)), min_size=1, max_size=6, unique=True
    )
)
def test_every_applied_fault_is_removed_at_its_end_and_steps_are_ordered(
    tmp_path_factory: pytest.TempPathFactory, spans: list[tuple[int, int]]
) -> None:
    faults = [
        _fault(name=f"f{i}", at=f"{at}s", **{"for": f"{length}s"}, latency="10ms")
        for i, (at, length) in enumerate(spans)
    ]
    timeline = resolve(_experiment(tmp_path_factory.mktemp("t"), faults))
    times = [s.at for s in timeline.steps]
    assert times == sorted(times)
    for i, (at, length) in enumerate(spans):
        applied = [s for s in timeline.steps if s.name == f"f{i}" and s.action is Action.APPLY]
        removed = [s for s in timeline.steps if s.name == f"f{i}" and s.action is Action.REMOVE]
        assert [s.at for s in applied] == [at] and [s.at for s in removed] == [at + length]
    assert timeline.run_end >= max(at + length for at, length in spans)


def test_dry_run_lines_name_every_fault_with_its_parameters(tmp_path: Path) -> None:
    experiment = _experiment(tmp_path, [_fault(latency="200ms", jitter="50ms")])
    lines = resolve(experiment).lines()
    assert lines[0].strip().startswith("T-00:10.0  baseline"), "T0 time, as the file counts"
    applied = next(ln for ln in lines if "apply f:" in ln)
    assert "latency 200ms ± 50ms on " in applied, "parameters as the file wrote them"
    assert "=" not in applied and "{" not in applied
    assert any("end f (latency)" in ln for ln in lines)


# ----------------------------------------------------------------------------------- toxics


def test_toxics_use_toxiproxy_units_and_carry_the_run_tag(tmp_path: Path) -> None:
    fault = _experiment(
        tmp_path, [_fault(direction="downstream", bandwidth="64kbps", toxicity="50%")]
    ).faults[0]
    (op,) = toxic_ops(fault, ["listener->edge#1"], RUN)
    assert (op.type, op.stream, op.toxicity) == ("bandwidth", "downstream", 0.5)
    assert op.attributes == {"rate": 8}  # 64 kbit/s = 8000 B/s = 8 KB/s
    assert run_id_of(op.name) == RUN and op.name.startswith("f@")


def test_both_directions_make_two_toxics_on_every_proxy_of_the_link(tmp_path: Path) -> None:
    fault = _experiment(tmp_path, [_fault(latency="1.5s", jitter="20ms")]).faults[0]
    ops = toxic_ops(fault, ["l#1", "l#2"], RUN)
    assert sorted((o.proxy, o.stream) for o in ops) == [
        ("l#1", "downstream"),
        ("l#1", "upstream"),
        ("l#2", "downstream"),
        ("l#2", "upstream"),
    ]
    assert {o.attributes["latency"] for o in ops} == {1500}
    assert len({(o.proxy, o.name) for o in ops}) == 4  # names unique per proxy


def test_faults_the_server_cannot_make_are_refused_before_anything_starts(tmp_path: Path) -> None:
    loaded = load(
        with_(
            ("faults",),
            [
                _fault(name="lossy", link="speaker->ingest", loss="5%"),
                _fault(name="flood", flood="50Mbps"),
                _fault(name="fine", at="30s", latency="10ms"),
            ],
        ),
        tmp_path,
    )
    with pytest.raises(InvalidInput) as caught:
        check_supported(loaded.experiment.faults, loaded.stack, frozenset(), "http://x")
    message = caught.value.render()
    assert "'lossy'" in message and "feature 'udp'" in message
    assert "'flood'" in message and "'fine'" not in message
    check_supported(loaded.experiment.faults[2:], loaded.stack, frozenset(), "http://x")


@settings(max_examples=60, deadline=None)
@given(bits=st.integers(8_000, 10_000_000_000))
def test_a_capacity_off_netns_is_one_shared_bandwidth_toxic_per_proxy_in_kb_per_second(
    tmp_path_factory: pytest.TempPathFactory, bits: int
) -> None:
    tmp_path = tmp_path_factory.mktemp("c")
    fault = _experiment(tmp_path, [_fault(capacity=f"{bits}bps")]).faults[0]
    ops = capacity_ops(fault, ["listener->edge#1", "listener->edge#2"], RUN)
    assert [(o.proxy, o.type, o.stream, o.toxicity) for o in ops] == [
        ("listener->edge#1", "shared_bandwidth", "downstream", 1.0),
        ("listener->edge#2", "shared_bandwidth", "downstream", 1.0),
    ]
    assert {o.attributes["rate"] for o in ops} == {max(1, round(bits / 8 / 1000))}
    assert all(run_id_of(o.name) == RUN and o.name.startswith("f@") for o in ops)


def test_a_capacity_needs_shared_bandwidth_unless_the_backend_makes_it_in_the_kernel(
    tmp_path: Path,
) -> None:
    loaded = load(with_(("faults",), [_fault(name="thin", capacity="10Mbps")]), tmp_path)
    faults, stack = loaded.experiment.faults, loaded.stack
    with pytest.raises(InvalidInput) as caught:
        check_supported(faults, stack, frozenset({"loss", "udp"}), "http://toxiproxy")
    message = caught.value.render()
    assert "'thin'" in message and "lacks feature 'shared_bandwidth'" in message
    assert caught.value.exit_code == ExitCode.INVALID_INPUT
    check_supported(faults, stack, frozenset({"shared_bandwidth"}), "http://x")
    check_supported(faults, stack, frozenset(), "http://x", kernel=True)


def test_a_flood_share_is_a_share_of_a_capacity_on_its_link(tmp_path: Path) -> None:
    faults = _experiment(
        tmp_path,
        [
            _fault(name="thin", at="0s", **{"for": "30s"}, capacity="8Mbps"),
            _fault(name="flood", at="5s", direction="upstream", flood="50%"),
        ],
    ).faults
    share = flood_plan(faults[1], faults)
    assert share is not None and share.rate == pytest.approx(0.5 * 1_000_000)


# ----------------------------------------------------------------------------------- guards


def _ratio_ctx(points: list[tuple[float, float, float]]) -> Context:
    """Counters ok/all sampled at (t, ok, all)."""
    ok = Series(SeriesKey("ok"), tuple(p[0] for p in points), tuple(p[1] for p in points))
    total = Series(SeriesKey("all"), tuple(p[0] for p in points), tuple(p[2] for p in points))

    def read(name: str, matchers: Any, start: float, end: float) -> list[Series]:
        series = ok if name == "ok" else total
        kept = [
            (t, v)
            for t, v in zip(series.timestamps, series.values, strict=True)
            if start <= t <= end
        ]
        if not kept:
            return []
        return [Series(series.key, tuple(t for t, _ in kept), tuple(v for _, v in kept))]

    return Context(read)


def test_a_guard_trips_only_after_its_limit_is_crossed_for_its_whole_duration() -> None:
    guard = Guard.model_validate(
        {"name": "collapse", "ratio": "ok/all", "below": "50%", "for": "3s"}
    )
    points = [(float(t), t * 10.0, t * 10.0) for t in range(0, 10)]  # all joins succeed
    points += [(float(t), 90.0 + (t - 9), 90.0 + (t - 9) * 10) for t in range(10, 30)]
    ctx = _ratio_ctx(points)
    watch = GuardWatch([guard], window=2.0)
    trips_at = [t for t in range(2, 30) if watch.check(float(t), ctx)]
    assert trips_at[0] == 14  # crossed from t=11 (the first window of only bad seconds), +3 s
    [status] = watch.status(29.0)
    assert status.crossed_for == 18.0 and status.trips_after == 3.0 and status.limit == "below 50%"
    assert status.margin is not None and status.margin < 0, "crossed: a negative margin"


def test_a_guard_that_recovers_before_its_duration_does_not_trip() -> None:
    guard = Guard.model_validate({"ratio": "ok/all", "below": "50%", "for": "5s"})
    good = [(float(t), t * 10.0, t * 10.0) for t in range(0, 40)]
    bad = {12, 13, 14}  # three bad seconds: only those windows fail
    points = [(t, ok - (5.0 * (t in bad)), total) for t, ok, total in good]
    watch = GuardWatch([guard], window=1.0)
    assert not any(watch.check(float(t), _ratio_ctx(points)) for t in range(1, 40))


# ----------------------------------------------------------------------------------- JUnit


def _result(name: str, status: Status, value: float | None) -> SloResult:
    return SloResult(
        name,
        status,
        value,
        Threshold(Comparison.ABOVE, 0.995),
        Evidence(Interval(1000.0, 1060.0), 12, ("x",)),
        "detail text",
    )


def test_junit_has_one_case_per_slo_and_failures_say_value_threshold_and_window() -> None:
    results = [
        _result("ok", Status.PASS, 0.999),
        _result("joins", Status.FAIL, 0.82),
        _result("quiet", Status.NO_DATA, None),
    ]
    root = ElementTree.fromstring(junit_xml("launch", results, 1010.0, duration=3.0))
    suite = root.find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("failures") == "2"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["ok"].find("failure") is None
    failure = cases["joins"].find("failure")
    assert failure is not None
    message = failure.get("message", "")
    assert "0.82" in message and "above 0.995" in message and "[-10.0s, +50.0s]" in message
    no_data = cases["quiet"].find("failure")
    assert no_data is not None and no_data.get("type") == "no-data"


def test_junit_adds_a_failed_case_when_the_run_could_not_be_judged() -> None:
    root = ElementTree.fromstring(
        junit_xml("launch", [], 0.0, duration=1.0, problem="guard 'collapse' tripped")
    )
    suite = root.find("testsuite")
    assert suite is not None and suite.get("failures") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "collapse" in failure.get("message", "")


# ----------------------------------------------------------------------------------- verdicts


def test_verdicts_map_to_the_documented_exit_codes() -> None:
    passed, failed = _result("a", Status.PASS, 1.0), _result("b", Status.NO_DATA, None)
    assert decide([passed]) is Verdict.PASS and Verdict.PASS.exit_code is ExitCode.PASS
    assert decide([passed, failed]) is Verdict.FAIL  # no data is never a pass
    assert decide([]) is Verdict.FAIL
    assert decide([passed], aborted_by="g").exit_code is ExitCode.SLO_FAILED
    assert decide([], error=ExitCode.INFRASTRUCTURE) is Verdict.INFRASTRUCTURE
    assert decide([], error=ExitCode.INVALID_INPUT).exit_code is ExitCode.INVALID_INPUT
    assert decide([passed], interrupted=True).exit_code is ExitCode.INTERRUPTED


# ----------------------------------------------------------------------------------- audience


@settings(max_examples=80, deadline=None)
@given(
    joins=st.lists(
        st.tuples(st.floats(0, 100, allow_nan=False), st.one_of(st.none(), st.just(0))),
        max_size=40,
    ),
    parts=st.integers(1, 5),
    limit=st.integers(1, 20),
)
def test_split_schedule_keeps_every_join_once_and_every_gate_open(
    joins: list[tuple[float, int | None]], parts: int, limit: int
) -> None:
    whole = Schedule(tuple(Join(at, gate=gate) for at, gate in joins), (limit,))
    split = split_schedule(whole, parts)
    assert len(split) == parts
    assert sorted(j.at for s in split for j in s.joins) == sorted(j.at for j in whole.joins)
    for share in split:
        assert all(g >= 1 for g in share.gates)
    assert sum(s.gates[0] for s in split) == max(limit, parts)


def test_scale_multiplies_listener_counts(tmp_path: Path) -> None:
    experiment = load(BASE, tmp_path).experiment
    assert scaled(experiment, 0.3).workload.listeners[0].count == 3
    assert scaled(experiment, 0.001).workload.listeners[0].count == 1


def test_a_bandwidth_on_a_udp_link_is_the_datagram_rate_toxic(tmp_path: Path) -> None:
    fault = _experiment(
        tmp_path, [_fault(link="speaker->ingest", direction="upstream", bandwidth="2Mbps")]
    ).faults[0]
    (op,) = toxic_ops(fault, ["speaker->ingest"], RUN, udp=True)
    assert (op.type, op.attributes) == ("rate", {"rate": 250})


def test_a_flood_takes_its_share_of_a_bandwidth_fault_that_covers_it(tmp_path: Path) -> None:
    faults = _experiment(
        tmp_path,
        [
            _fault(name="thin", at="0s", **{"for": "30s"}, bandwidth="8Mbps"),
            _fault(name="flood", at="5s", direction="upstream", flood="90%"),
            _fault(name="fixed", at="40s", direction="upstream", flood="8Mbps"),
        ],
    ).faults
    share = flood_plan(faults[1], faults)
    assert share is not None and share.rate == pytest.approx(0.9 * 1_000_000)
    # a file cannot hold a flood share nothing covers (validation refuses it); the model can
    late = faults[1].model_copy(update={"name": "late", "at": Duration.parse("25s")})
    assert flood_plan(late, [*faults, late]) is None  # thin ends at 30s, before the flood does
    fixed = flood_plan(faults[2], faults)
    assert fixed is not None and fixed.rate == 1_000_000
    assert fixed.connections == 20  # a flood is 20 flows unless it says how many


def test_a_downstream_flood_needs_the_flood_ingress_and_a_capacity_it_can_cross(
    tmp_path: Path,
) -> None:
    thin = _fault(name="thin", capacity="10Mbps")
    pulled = _fault(name="pull", direction="downstream", flood="1Mbps", connections=200)
    loaded = load(with_(("faults",), [thin, pulled]), tmp_path)
    faults, stack = loaded.experiment.faults, loaded.stack
    assert flood_plan(faults[1], faults) == FloodPlan(200, 125_000)
    with pytest.raises(InvalidInput, match="lacks feature 'flood_ingress'"):
        check_supported(faults, stack, frozenset({"shared_bandwidth"}), "http://x")
    check_supported(faults, stack, frozenset({"shared_bandwidth", "flood_ingress"}), "http://x")
    with pytest.raises(InvalidInput, match="never crosses; run with --backend local or docker"):
        check_supported(faults, stack, frozenset({"flood_ingress"}), "http://x", kernel=True)
    pushed = load(with_(("faults",), [thin, {**pulled, "direction": "upstream"}]), tmp_path)
    check_supported(pushed.experiment.faults, pushed.stack, frozenset(), "http://x", kernel=True)
