"""Locust's engine runs the same HLS player as the native swarm: the same storm against ffmpeg +
nginx through both, on loopback (a master and one local worker), hears alike."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hls_lab import SEGMENT_SECONDS, HlsOrigin, Unavailable, hls_origin

from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.locust.engine import LocustEngine
from chaos.workload.locust.job import LocustJob
from chaos.workload.locust.shape import LoadShape
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm

LISTENERS = 40
DURATION = 12.0


@pytest.fixture(scope="module")
def origin() -> Iterator[HlsOrigin]:
    try:
        with hls_origin(300) as live:
            yield live
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.slow
@pytest.mark.timeout(150)
@pytest.mark.xdist_group("cpu")  # two load engines compared: not beside the other comparison
async def test_locust_and_the_native_swarm_play_the_same_hls_storm_alike(
    origin: HlsOrigin, tmp_path: Path
) -> None:
    config = ListenerConfig(origin.url, stream=StreamFormat.HLS, join_timeout=10, edge="edge")
    schedule = build_schedule([Storm(LISTENERS, spread=1.0)], 3)
    native = (await Swarm(schedule, config, seed=3, duration=DURATION, workers=1).run()).stats
    engine = LocustEngine(
        LocustJob((config,), LoadShape.of(schedule, DURATION + 30), t0=None, seed=3),
        listeners=LISTENERS,
        workers=1,
        local_workers=1,
        bind=None,
        logs=tmp_path / "locust",
        duration=DURATION,
    )
    await engine.ready()  # T0 once its worker is connected, however long that takes
    engine.begin_at(time.monotonic() + 0.5)
    await engine.run()
    assert engine.incomplete() is None
    locust = engine.stats()
    assert native.joins_ok == locust.joins_ok == LISTENERS, (native.failures, locust.failures)
    assert not native.failures and not locust.failures
    assert abs(locust.ttfa_sum - native.ttfa_sum) / LISTENERS <= SEGMENT_SECONDS / 4
    # Both made about one request a second per listener and played about as long.
    assert locust.requests == pytest.approx(native.requests, rel=0.25)
    assert locust.played_seconds == pytest.approx(native.played_seconds, rel=0.25)
    assert sum(locust.latency_counts) > 0  # delay behind live, from the date-times
    assert locust.ears["edge"].heard_seconds > 0  # Locust's ears hear HLS too
