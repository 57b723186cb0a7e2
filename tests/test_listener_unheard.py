"""Seconds a listener wanted audio and heard none, whatever the cause: stalled, dropped,
reconnecting, refused. A stall ratio says nothing (or "no data") when the server drops its
listeners; this measure says what the audience lived through."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest
from gap_stream import RATE, gap_stream_server
from hypothesis import given
from hypothesis import strategies as st

from chaos.experiment.metrics import listener_families
from chaos.metrics.series import SeriesKey
from chaos.metrics.store import SeriesStore
from chaos.report.timeseries import make_grid, stall_panel
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.locust.exposition import stats_by_cohort
from chaos.workload.reconnect import ReconnectPolicy, RetryKind
from chaos.workload.stats import ListenerStats
from chaos.workload.swarm import ListenerConfig, Swarm
from chaos.workload.wanting import Wanting

FRAME_SLACK = 0.2
"""Seconds per listener a measure may be off by: a playout slot (a 0.1 s chunk of the test
server's stream) counts as played when it starts."""


@given(
    st.lists(
        st.tuples(st.floats(0.0, 5.0), st.floats(0.0, 1.0), st.booleans()), min_size=1, max_size=30
    )
)
def test_unheard_never_goes_back_never_exceeds_wanted_and_is_wanted_less_heard(
    steps: list[tuple[float, float, bool]],
) -> None:
    want = Wanting(since=100.0)
    now, heard_now, last = 100.0, 0.0, (0.0, 0.0)
    for advance, playing_share, attempt_ends in steps:
        now += advance
        heard_now += advance * playing_share  # what the attempt going on played meanwhile
        wanted, unheard = want.measure(now, heard_now)
        assert wanted == pytest.approx(now - 100.0)
        assert 0.0 <= unheard <= wanted
        assert unheard >= last[1] and wanted >= last[0]  # counters
        assert unheard == pytest.approx(wanted - want.heard_before - heard_now)
        last = (wanted, unheard)
        if attempt_ends:
            want.attempt_ended(heard_now)
            heard_now = 0.0
    want.attempt_ended(heard_now)  # it leaves: its attempt ends, then its wanting
    want.stop(now)
    assert want.measure(now + 50.0) == pytest.approx(last)  # nothing more once it stopped


@pytest.fixture
async def server() -> AsyncIterator[str]:
    async with gap_stream_server() as url:
        yield url


def _adds_up(stats: ListenerStats, listeners: int) -> None:
    """Each second wanted was heard (played) or not (unheard), nothing else."""
    assert stats.wanted_seconds > 0
    assert stats.played_seconds + stats.unheard_seconds == pytest.approx(
        stats.wanted_seconds, abs=listeners * FRAME_SLACK
    )


@pytest.mark.timeout(60)
async def test_a_stall_is_unheard_time(server: str) -> None:
    config = ListenerConfig(f"{server}/gap", bitrate=RATE * 8, target_delay=0.3)
    result = await Swarm(build_schedule([Storm(3)], 1), config, seed=1, duration=4.0).run()
    stats = result.stats
    assert stats.stalls >= 3  # one each (more when a loaded machine delays the server)
    _adds_up(stats, 3)
    assert stats.unheard_seconds >= stats.stall_seconds  # the join's wait counts as well


@pytest.mark.timeout(60)
async def test_dropped_and_reconnecting_listeners_hear_none_though_nothing_stalled(
    server: str,
) -> None:
    policy = ReconnectPolicy(RetryKind.FIXED, delay=0.5)
    config = ListenerConfig(f"{server}/drop", bitrate=RATE * 8, target_delay=0.2, reconnect=policy)
    result = await Swarm(build_schedule([Storm(2)], 1), config, seed=1, duration=5.0).run()
    stats = result.stats
    assert stats.drops["closed"] >= 2
    _adds_up(stats, 2)
    # every drop is followed by at least the 0.5 s reconnect wait, which no stall counts
    # (stalls happen inside an attempt, the waits between them)
    assert stats.unheard_seconds >= stats.stall_seconds + 0.5 * stats.drops["closed"]


@pytest.mark.timeout(60)
async def test_refused_listeners_hear_none_of_what_they_wanted_until_they_give_up() -> None:
    policy = ReconnectPolicy(RetryKind.FIXED, delay=0.3, max_attempts=3)
    config = ListenerConfig("http://127.0.0.1:9/none", bitrate=64_000, reconnect=policy)
    snapshots: list[ListenerStats] = []
    swarm = Swarm(
        build_schedule([Storm(2)], 1),
        config,
        seed=1,
        duration=4.0,
        workers=1,
        snapshot_interval=0.25,
        on_snapshot=snapshots.append,
    )
    stats = (await swarm.run()).stats
    assert stats.failures["refused"] == 2 * 4 and stats.played_seconds == 0
    assert stats.unheard_seconds == pytest.approx(stats.wanted_seconds)
    # they gave up after the third retry (~0.9 s), long before the run's 4 s ended
    assert 0 < stats.wanted_seconds < 2 * 3.0
    assert any(s.unheard == 2 for s in snapshots)  # the gauge: both want audio, hear none
    assert snapshots[-1].unheard == 0  # gone: they no longer want any


def test_the_measure_is_a_listener_metric_read_back_from_a_locust_worker() -> None:
    families = listener_families()
    assert families["gameday_listener_unheard_seconds"].type == "counter"
    assert families["gameday_listener_wanted_seconds"].type == "counter"
    assert families["gameday_listeners_unheard"].type == "gauge"
    stats = ListenerStats(wanted_seconds=12.5, unheard_seconds=4.25, unheard=3)
    text = (
        "# TYPE gameday_listener_wanted_seconds counter\n"
        "gameday_listener_wanted_seconds_total 12.5\n"
        "# TYPE gameday_listener_unheard_seconds counter\n"
        "gameday_listener_unheard_seconds_total 4.25\n"
        "# TYPE gameday_listeners_unheard gauge\ngameday_listeners_unheard 3\n"
    )
    back = stats_by_cohort(text)[""]
    assert (back.wanted_seconds, back.unheard_seconds, back.unheard) == (12.5, 4.25, 3)
    assert stats.merged(back).unheard_seconds == 8.5


def test_the_report_draws_the_unheard_ratio_where_the_stall_ratio_has_nothing_to_divide() -> None:
    origin, store = 1_795_000_000.0, SeriesStore()
    harness = {"job": "gameday", "instance": "harness"}
    for i in range(41):  # 10 listeners; from 20 s on, all of them dropped and refused
        playing = 10.0 * min(i, 20)
        for name, value in (
            ("gameday_listener_stall_seconds_total", 0.0),
            ("gameday_listener_played_seconds_total", playing),
            ("gameday_listener_wanted_seconds_total", 10.0 * i),
            ("gameday_listener_unheard_seconds_total", 10.0 * i - playing),
        ):
            store.append(SeriesKey.of(name, harness), origin + i, value)
    grid = make_grid({"gameday": [origin + i for i in range(41)]}, origin)
    lines = {line.label: line for line in stall_panel(store, grid).lines}
    late = [i for i, t in enumerate(grid.relative()) if t >= 32]
    assert late and all(math.isnan(lines["stall ratio"].values[i]) for i in late)
    assert all(lines["unheard ratio"].values[i] == pytest.approx(1.0) for i in late)
