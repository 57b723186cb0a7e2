"""End to end against soundstage: the feedback fault makes listeners hear howling, unless the
mixer's suppression is on, in which case they hear less than a second of it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from soundstage_support import live_room, running, scrape, soundstage_spec

from chaos.audio.ear import Ear
from chaos.audio.frames import FrameReader
from chaos.audio.playout import Frame
from chaos.errors import InfrastructureError
from chaos.experiment.faults import Feedback
from chaos.faults.feedback import FeedbackLoop, FeedbackTarget, target_in
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm
from soundstage.listener import join, listen

LOOP_SECONDS = 8.0
HOWL_DEADLINE = 40.0


pytestmark = pytest.mark.slow  # first in the queue: see conftest


def harness_metrics(registry: CollectorRegistry) -> dict[str, float]:
    text = generate_latest(registry).decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


async def hear(api: str, room: int, stop: asyncio.Event) -> Ear:
    """An independent listener, joined through the api, judged by the howling detector."""
    monitor = Ear(batch_seconds=0.25)
    reader = FrameReader()

    def played(frame: object, _at: float) -> None:
        for audio in reader.feed(frame.encode()):  # type: ignore[attr-defined]
            monitor(Frame(audio.sequence, audio.duration, audio), audio.duration)

    async with aiohttp.ClientSession() as session:
        joined = await join(session, api, room)
    await listen(joined.stream_url, stop=stop, on_frame=played)
    monitor.finish()
    return monitor


async def _howl_or_suppression(registry: CollectorRegistry, origin: str, suppression: str) -> float:
    """Keep the loop closed for ``LOOP_SECONDS``, and on until what the mode is about has
    happened (3 s of howling without suppression; the mixer's first suppression with it), up to
    ``HOWL_DEADLINE`` seconds: a busy machine builds a howl up more slowly. The time closed."""
    closed = time.monotonic()
    while (elapsed := time.monotonic() - closed) < HOWL_DEADLINE:
        await asyncio.sleep(0.5)
        if elapsed < LOOP_SECONDS:
            continue
        if suppression == "off":
            if harness_metrics(registry)["gameday_feedback_howl_seconds_total"] > 3.0:
                break
        elif (await scrape(origin))["soundstage_origin_howl_suppressions_total"] >= 1:
            break
    return time.monotonic() - closed


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    ("via", "suppression"),
    [("device", "off"), ("device", "duck"), ("harness", "off"), ("harness", "duck")],
)
async def test_feedback_loop_howls_unless_suppressed(
    tmp_path: Path, via: str, suppression: str
) -> None:
    spec = soundstage_spec({"origin": ["--howl-suppression", suppression]})
    async with running(spec, tmp_path) as (_backend, stack):
        api = stack.addresses["api"]["http"]
        room = await live_room(api)
        target = target_in(stack, "speaker-1", f"/stream/{room}")
        assert target.control_url == f"http://{stack.addresses['speaker']['metrics']}"
        assert target.ingest is not None and target.speaker_number == 1
        registry = CollectorRegistry()
        feedback = Feedback.model_validate({"speaker": 1, "gain": 1.5, "via": via})
        loop = FeedbackLoop("howl", feedback, target, registry, lease=2.0)  # renewed 4x a run
        stop = asyncio.Event()
        listener = asyncio.create_task(hear(api, room, stop))
        await asyncio.sleep(1.0)  # the listener is playing clean speech before the loop closes
        await loop.start()
        assert loop.closed
        closed_for = await _howl_or_suppression(
            registry, f"http://{stack.addresses['origin']['metrics']}/metrics", suppression
        )
        await loop.stop()
        await loop.stop()  # idempotent
        stop.set()
        heard = await listener
        origin = await scrape(f"http://{stack.addresses['origin']['metrics']}/metrics")
        speaker = await scrape(f"http://{stack.addresses['speaker']['metrics']}/metrics")
    fault = harness_metrics(registry)
    suppressions = origin["soundstage_origin_howl_suppressions_total"]
    if suppression == "off":
        assert heard.howl_seconds() > 2.0, heard.howl_events
        assert fault["gameday_feedback_howl_seconds_total"] > 2.0
        assert fault["gameday_feedback_time_to_suppression_seconds"] > 2.0
        assert suppressions == 0
    else:
        assert heard.howl_seconds() < 1.0, (heard.howl_events, fault, suppressions)
        assert fault["gameday_feedback_howl_seconds_total"] < 1.0
        assert fault["gameday_feedback_time_to_suppression_seconds"] < closed_for - 2
        assert suppressions >= 1, (heard.howl_events, fault, speaker)
    assert fault["gameday_feedback_loop_closed"] == 0.0
    assert loop.summary()["via"] == via


async def test_unreachable_echo_control_is_an_infrastructure_error() -> None:
    target = FeedbackTarget("http://127.0.0.1:9/stream/1", control_url="http://127.0.0.1:9")
    loop = FeedbackLoop("howl", Feedback.model_validate({"speaker": 1, "gain": 1.2}), target)
    with pytest.raises(InfrastructureError, match="echo control"):
        await loop.start()
    assert not loop.closed
    await loop.stop()


def test_a_mode_without_its_address_is_refused_up_front() -> None:
    harness = Feedback.model_validate({"speaker": 1, "gain": 1.2, "via": "harness"})
    with pytest.raises(InfrastructureError, match="ingest"):
        FeedbackLoop("howl", harness, FeedbackTarget("http://127.0.0.1:9/stream/1"))
    device = Feedback.model_validate({"speaker": 1, "gain": 1.2})
    with pytest.raises(InfrastructureError, match="control endpoint"):
        FeedbackLoop("howl", device, FeedbackTarget("http://127.0.0.1:9/stream/1"))


@pytest.mark.timeout(90)
async def test_swarm_listeners_report_the_howl_they_heard(tmp_path: Path) -> None:
    """The workload's ears run the detectors: a room that howls shows in
    ``gameday_listener_howl_*{edge}``, only the ``ears`` listeners are judged, and each
    journals its onsets."""
    heard: list[dict[str, object]] = []
    echo = ["--echo-gain", "1.5", "--echo-delay-ms", "50", "--echo-resonance-hz", "1000"]
    spec = soundstage_spec({"speaker": echo}, replicas={"edge": 1})
    async with running(spec, tmp_path) as (_, stack):
        room = await live_room(stack.addresses["api"]["http"])
        url = f"http://{stack.addresses['edge']['http']}/stream/{room}"
        swarm = Swarm(
            build_schedule([Storm(6)], 3),
            ListenerConfig(url, stream=StreamFormat.FRAMED, target_delay=0.1, edge="edge", ears=4),
            seed=3,
            duration=10.0,
            workers=1,
            on_heard=heard.extend,
        )
        result = await swarm.run()
    stats = result.stats.ears["edge"]
    assert stats.ears == 4
    assert stats.howls >= 4 and stats.howl_seconds > 4 * 3.0
    assert 3.0 < stats.howl_longest_seconds <= 10.0
    assert stats.howl_worst_listener_seconds >= stats.howl_longest_seconds
    onsets = [r for r in heard if r["event"] == "howl"]
    assert len({r["listener"] for r in onsets}) == 4  # every ear journals its onsets
    assert all(r["edge"] == "edge" and r["heard_at"] > 1e9 for r in onsets)
