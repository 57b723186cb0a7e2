"""The Locust engine's pure parts: the load shape, the job, the metrics read back, the verdict.

End-to-end runs against soundstage are in ``test_locust_soundstage.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from chaos.audio.ear import GLITCH_KINDS
from chaos.errors import ExitCode, InvalidInput
from chaos.experiment.loader import load_experiment
from chaos.runner.infrastructure import HarnessFailure, Part
from chaos.runner.load_engine import LoadOptions
from chaos.runner.verdict import Verdict, decide
from chaos.workload.arrivals import Join, Schedule
from chaos.workload.framed import FramedDecoder
from chaos.workload.locust.engine import MasterBind
from chaos.workload.locust.exposition import stats_by_cohort, workers_from_text
from chaos.workload.locust.job import LocustJob, parse_job
from chaos.workload.locust.master import T0_KNOWN_KEY, T0Relay, WorkerStates
from chaos.workload.locust.shape import GRID, TICK, LoadShape
from chaos.workload.metrics import CohortCollector, ListenerCollector
from chaos.workload.probe import Probe
from chaos.workload.reconnect import ReconnectPolicy, RetryKind
from chaos.workload.stats import LATENCY_BUCKETS, TTFA_BUCKETS, EarTotals, ListenerStats
from chaos.workload.swarm import ListenerConfig, StreamFormat

times = st.floats(0, 120, allow_nan=False)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    joins = []
    for at in draw(st.lists(times, max_size=40)):
        stay = draw(st.none() | st.floats(0, 60))
        joins.append(Join(at, None if stay is None else at + stay))
    return Schedule(tuple(joins))


def _grid(t: float) -> float:
    step = -(-round(t / GRID, 9) // 1)
    return step * GRID


@given(schedules(), times)
def test_the_shape_holds_every_listener_present_at_each_moment(
    schedule: Schedule, t: float
) -> None:
    shape = LoadShape.of(schedule, end=200.0)
    present = sum(
        1 for j in schedule.joins if _grid(j.at) <= t and (j.leave is None or _grid(j.leave) > t)
    )
    assert shape.users_at(t) == present
    assert shape.peak >= present


@given(schedules(), st.floats(-10, 250, allow_nan=False))
def test_a_tick_aims_at_the_next_tick_and_stops_at_the_end(schedule: Schedule, e: float) -> None:
    shape = LoadShape.of(schedule, end=150.0)
    tick = shape.tick(e)
    if e >= 150.0:
        assert tick is None
        return
    assert tick is not None
    users, rate = tick
    assert users == shape.users_at(e + TICK)
    assert rate >= 1.0
    assert rate * TICK >= abs(users - shape.users_at(e))  # gets there within one tick


def test_a_storm_at_t0_is_all_there_one_tick_later() -> None:
    shape = LoadShape.of(Schedule(tuple(Join(0.1 * i) for i in range(10))), end=60)
    assert shape.users_at(-0.5) == 0
    assert shape.tick(0.0) == (10, 9.0)  # the join at T0 is there; the next tick brings nine
    assert shape.tick(5.0) == (10, 1.0)


configs = st.builds(
    ListenerConfig,
    url=st.sampled_from(["http://127.0.0.1:8000/stream/1", "http://127.0.0.1:9/x.mp3"]),
    stream=st.sampled_from(list(StreamFormat)),
    bitrate=st.none() | st.floats(1, 1e6),
    target_delay=st.floats(0, 5),
    join_timeout=st.floats(1, 60),
    reconnect=st.builds(
        ReconnectPolicy,
        kind=st.sampled_from(list(RetryKind)),
        delay=st.floats(0, 10),
        max_attempts=st.none() | st.integers(0, 9),
    ),
)


@given(
    st.lists(configs, min_size=1, max_size=3),
    schedules(),
    st.floats(0, 2e9),
    st.integers(0),
    st.none() | st.sampled_from([0.5, 0.25, 0.1]),
)
def test_a_job_survives_its_trip_through_the_command_line(
    listeners: list[ListenerConfig], schedule: Schedule, t0: float, seed: int, control: float | None
) -> None:
    cohorts = tuple("control" if i % 2 else "experiment" for i in range(len(listeners)))
    job = LocustJob(
        tuple(listeners),
        LoadShape.of(schedule, 90.0),
        t0,
        seed,
        "127.0.0.5",
        0.5,
        control=control,
        cohorts=cohorts if control is not None else (),
    )
    text = job.env()["GAMEDAY_LOCUST_JOB"]
    assert text.isascii() and " " not in text
    assert parse_job(text) == job


def test_a_storm_of_a_million_fits_in_one_option() -> None:
    joins = tuple(Join(i * 600 / 1_000_000) for i in range(1_000_000))
    job = LocustJob(
        (ListenerConfig("http://127.0.0.1:1/s"),), LoadShape.of(Schedule(joins), 900), 0.0, 1
    )
    assert len(job.encode()) < 100_000  # well under Linux's 128 KiB per argument


@pytest.mark.parametrize("text", [None, "", "bm90IGEgam9i"])
def test_a_master_without_a_valid_job_says_how_to_start_it(text: str | None) -> None:
    with pytest.raises(InvalidInput, match="GAMEDAY_LOCUST_JOB"):
        parse_job(text)


counts = st.integers(0, 10**9)
seconds = st.floats(0, 1e7, allow_nan=False)
reasons = st.dictionaries(st.sampled_from(["timeout", "refused", "http_503", "closed"]), counts)


@st.composite
def listener_stats(draw: st.DrawFn) -> ListenerStats:
    s = ListenerStats(
        join_attempts=draw(counts),
        joins_ok=draw(counts),
        failures=Counter(draw(reasons)),
        drops=Counter(draw(reasons)),
        reconnects=draw(counts),
        ttfa_counts=draw(
            st.lists(counts, min_size=len(TTFA_BUCKETS) + 1, max_size=len(TTFA_BUCKETS) + 1)
        ),
        ttfa_sum=draw(seconds),
        latency_counts=draw(
            st.lists(counts, min_size=len(LATENCY_BUCKETS) + 1, max_size=len(LATENCY_BUCKETS) + 1)
        ),
        latency_sum=draw(seconds),
        stalls=draw(counts),
        freezes=draw(counts),
        stall_seconds=draw(seconds),
        played_seconds=draw(seconds),
        concealed_seconds=draw(seconds),
        late_frames=draw(counts),
        duplicate_frames=draw(counts),
        out_of_order_frames=draw(counts),
        received_bytes=draw(counts),
        ears={
            edge: EarTotals(
                ears=draw(counts),
                heard_seconds=draw(seconds),
                howls=draw(counts),
                howl_seconds=draw(seconds),
                howl_longest_seconds=draw(seconds),
                howl_worst_listener_seconds=draw(seconds),
                silences=draw(counts),
                silence_seconds=draw(seconds),
                glitches=Counter(
                    {kind: draw(counts) for kind in draw(st.sets(st.sampled_from(GLITCH_KINDS)))}
                ),
                loud_seconds=draw(seconds),
                quiet_seconds=draw(seconds),
                howling=draw(counts),
                silent=draw(counts),
            )
            for edge in draw(st.sets(st.sampled_from(["edge", "edge-1", "edge-2"]), max_size=2))
        },
        connected=draw(counts),
        playing=draw(counts),
        stalled=draw(counts),
    )
    return s


def _rendered(stats: ListenerStats) -> str:
    registry = CollectorRegistry()
    registry.register(ListenerCollector(lambda: stats))
    return generate_latest(registry).decode()


@settings(max_examples=150)
@given(listener_stats())
def test_a_workers_metrics_read_back_into_the_stats_they_came_from(stats: ListenerStats) -> None:
    (back,) = stats_by_cohort(_rendered(stats)).values()
    stats.failures = +stats.failures  # zero counts render as nothing to tell apart
    stats.drops = +stats.drops
    back.failures, back.drops = +back.failures, +back.drops
    for totals in (*stats.ears.values(), *back.ears.values()):
        totals.glitches = +totals.glitches
    assert back == stats


@given(st.lists(listener_stats(), min_size=1, max_size=3))
def test_workers_read_back_merge_to_what_one_swarm_would_report(parts: list[ListenerStats]) -> None:
    merged = ListenerStats()
    for part in parts:
        merged = merged.merged(stats_by_cohort(_rendered(part))[""])
    expected = ListenerStats()
    for part in parts:
        expected = expected.merged(part)
    assert merged.joins_ok == expected.joins_ok
    assert merged.ttfa_counts == expected.ttfa_counts
    assert {e: t.howl_longest_seconds for e, t in merged.ears.items()} == {
        e: t.howl_longest_seconds for e, t in expected.ears.items()
    }
    assert {e: t.howl_seconds for e, t in merged.ears.items()} == pytest.approx(
        {e: t.howl_seconds for e, t in expected.ears.items()}
    )


@settings(max_examples=60)
@given(st.dictionaries(st.sampled_from(["control", "experiment", "rest"]), listener_stats()))
def test_a_cohort_workers_metrics_read_back_into_each_cohorts_stats(
    by_cohort: dict[str, ListenerStats],
) -> None:
    """A worker of a split audience renders each cohort under its ``cohort`` label; read back,
    each cohort's totals are its own (the harness merges them per cohort across workers)."""
    registry = CollectorRegistry()
    registry.register(CohortCollector(lambda: by_cohort))
    back = stats_by_cohort(generate_latest(registry).decode())
    assert set(back) == set(by_cohort)
    for cohort, stats in by_cohort.items():
        assert back[cohort].joins_ok == stats.joins_ok
        assert back[cohort].ttfa_counts == stats.ttfa_counts
        assert back[cohort].played_seconds == pytest.approx(stats.played_seconds)
        assert +back[cohort].failures == +stats.failures


def test_the_master_lists_each_worker_with_its_state_and_metrics_url() -> None:
    clients = {
        "a": SimpleNamespace(id="a", state="running"),
        "b": SimpleNamespace(id="b", state="missing"),
    }
    states = WorkerStates(clients)
    states.on_report("a", {"gameday_metrics": "http://127.0.0.1:9100/metrics", "stats": []})
    registry = CollectorRegistry()
    registry.register(states)
    workers = workers_from_text(generate_latest(registry).decode())
    assert [(w.id, w.state, w.metrics) for w in workers] == [
        ("a", "running", "http://127.0.0.1:9100/metrics"),
        ("b", "missing", ""),
    ]


def test_an_incomplete_load_is_neither_a_pass_nor_the_stacks_failure() -> None:
    lost = [HarnessFailure(Part.LOAD, "worker w1 went missing")]
    assert decide([], infrastructure=lost) is Verdict.INFRASTRUCTURE
    assert Verdict.INFRASTRUCTURE.exit_code is ExitCode.INFRASTRUCTURE
    assert decide([], infrastructure=lost, interrupted=True) is Verdict.INTERRUPTED
    assert decide([], infrastructure=lost, aborted_by="g") is Verdict.INFRASTRUCTURE


PACED = """
title: paced
stack: soundstage
workload:
  listeners:
    - {arrival: paced, count: 10, at: 0s, rate: 5, max_in_flight: 2}
slos:
  - {name: joins, ratio: gameday_listener_joins_ok_total/gameday_listener_join_attempts_total,
     above: 99%}
"""


@pytest.mark.parametrize(
    ("options", "complaint"),
    [
        (LoadOptions("k6"), "unknown load engine"),
        (LoadOptions("native", locust_workers=2), "need --load-engine locust"),
        (LoadOptions("locust", locust_workers=0), "--locust-workers 0"),
        (LoadOptions("locust", master_bind="nowhere"), "not HOST:PORT"),
        (LoadOptions("locust", master_bind="0.0.0.0:5557"), "needs --locust-workers"),
        (LoadOptions("locust"), "max_in_flight has no equivalent in Locust"),
    ],
)
def test_engine_options_it_cannot_run_are_refused_before_anything_starts(
    tmp_path: Path, options: LoadOptions, complaint: str
) -> None:
    path = tmp_path / "paced.yaml"
    path.write_text(PACED)
    with pytest.raises(InvalidInput, match=complaint):
        options.check(load_experiment(path).experiment)


def test_the_master_binds_where_told_and_local_workers_dial_loopback() -> None:
    assert MasterBind.parse("0.0.0.0:5557").dial == "127.0.0.1"
    assert MasterBind.parse("127.0.0.9:6000") == MasterBind("127.0.0.9", 6000)


def test_the_harness_never_imports_locust_or_gevent() -> None:
    code = (
        "import sys\nimport chaos.cli, chaos.runner.run, chaos.runner.load_engine\n"
        "import chaos.workload.locust.engine\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('locust', 'gevent')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.replace("'", '"')) == []


@given(st.floats(0, 100), st.floats(0, 100), st.booleans(), st.booleans())
def test_a_join_is_overdue_only_without_audio_past_its_timeout(
    waited: float, timeout: float, connected: bool, playing: bool
) -> None:
    probe = Probe(FramedDecoder(), requested_at=0.0, target_delay=0.1)
    if connected:
        probe.connected(0.0)
    if playing:
        probe.playout.first_audio_at = 0.1
    reason = probe.overdue(waited, timeout)
    if playing or waited < timeout:
        assert reason is None
    else:
        assert reason == ("timeout" if connected else "connect_timeout")


def test_the_master_learns_t0_from_the_harness_and_sends_it_to_every_worker(
    tmp_path: Path,
) -> None:
    """No T0 until the harness writes it (the shape starts nobody); then one message to all
    workers, once; a worker that reports it lacks T0 (it reconnected) is sent it alone."""
    sent: list[tuple[float, str | None]] = []
    path = tmp_path / "locust-t0"
    relay = T0Relay(None, path, lambda t0, client: sent.append((t0, client)))
    assert relay.t0() is None and sent == []
    path.write_text("1796323031.5")
    assert relay.t0() == 1796323031.5 and relay.t0() == 1796323031.5
    assert sent == [(1796323031.5, None)]
    relay.on_report("w1", {T0_KNOWN_KEY: True})
    relay.on_report("w2", {T0_KNOWN_KEY: False})
    assert sent == [(1796323031.5, None), (1796323031.5, "w2")]
    fixed = T0Relay(42.0, None, lambda t0, client: sent.append((t0, client)))
    assert fixed.t0() == 42.0 and len(sent) == 2  # the job's own T0: nothing to send


def test_a_job_without_t0_round_trips() -> None:
    config = ListenerConfig("http://127.0.0.1:1/stream/1", stream=StreamFormat.FRAMED)
    job = LocustJob((config,), LoadShape(((0.0, 1),), 10.0), t0=None, seed=1)
    assert parse_job(job.encode()).t0 is None
