"""Sans-IO pieces of the feedback work: acoustic path, frame encoding, the howl monitor,
listener howl stats and the fault's time-to-suppression measure."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import howl_signals as sig
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest

from chaos.audio.ear import Ear
from chaos.audio.frames import AudioFrame, Flags, FrameReader, PayloadType
from chaos.audio.howl import HowlEnd, HowlOnset
from chaos.audio.playout import Frame
from chaos.errors import InfrastructureError
from chaos.faults.acoustic import AcousticPath
from chaos.faults.feedback import _Measure, target_in
from chaos.stack.local import RunningStack
from chaos.workload.metrics import ListenerCollector
from chaos.workload.stats import EarTotals, ListenerStats


def test_acoustic_path_delays_and_rings_at_its_resonance() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    for hz, expected in ((1000, 1.3), (600, None)):
        path = AcousticPath(rate, gain=1.3, delay=0.1, resonance_hz=1000, q=20)
        path.hear(10000 * np.sin(2 * np.pi * hz * t), at=0.0)
        assert not path.take(320, now=0.05).any()  # not due yet
        out = path.take(rate, now=0.2)[8000:]
        ratio = np.sqrt(np.mean(out**2)) / (10000 / np.sqrt(2))
        if expected is None:
            assert ratio < 0.2
        else:
            assert ratio == pytest.approx(expected, rel=0.03)
    with pytest.raises(ValueError, match="outside"):
        AcousticPath(rate, 1.0, 0.1, resonance_hz=9000)


@given(
    room=st.integers(0, 2**32 - 1),
    source=st.integers(0, 2**32 - 1),
    sequence=st.integers(0, 2**40),
    capture=st.integers(0, 2**63),
    payload=st.binary(max_size=640),
    ptype=st.sampled_from(PayloadType),
    flags=st.sampled_from([Flags.NONE, Flags.DISCONTINUITY, Flags.CLIPPED | Flags.SILENCE]),
)
def test_frame_encoding_round_trips(
    room: int,
    source: int,
    sequence: int,
    capture: int,
    payload: bytes,
    ptype: PayloadType,
    flags: Flags,
) -> None:
    frame = AudioFrame(room, source, sequence, capture, ptype, flags, payload)
    (back,) = FrameReader().feed(frame.encode())
    assert back == AudioFrame(room, source, sequence % 2**32, capture, ptype, flags, payload)


def played(monitor: Ear, samples: np.ndarray, ptype: PayloadType) -> None:
    """Feed ``samples`` to ``monitor`` as 20 ms frames of ``ptype`` (L16 only, here)."""
    assert ptype is PayloadType.L16_16K
    for i in range(0, samples.size - 319, 320):
        payload = samples[i : i + 320].astype(">i2").tobytes()
        audio = AudioFrame(1, 0, i // 320, 0, ptype, Flags.NONE, payload)
        monitor(Frame(i // 320, audio.duration, audio), audio.duration)


def test_an_ear_judges_played_audio_and_concealment_is_silence() -> None:
    monitor = Ear(batch_seconds=0.5)
    monitor(None, 0.5)  # concealment before anything played: half a second of silence heard
    played(monitor, sig.as_int16(sig.speech(2, 16000, seed=1)), PayloadType.L16_16K)
    assert monitor.howl_events == [] and monitor.howl_seconds() == 0
    played(monitor, sig.as_int16(sig.growing_tone(3, 16000, 1500, -70, 30)), PayloadType.L16_16K)
    assert monitor.howling and monitor.howl.howls == 1
    for _ in range(25):
        monitor(None, 0.02)  # the stream stalls: concealment plays silence, the howl ends
    monitor.finish()
    onset, end = monitor.howl_events
    assert isinstance(onset, HowlOnset) and isinstance(end, HowlEnd)
    assert 2.5 < onset.at < 5.5 and end.at == pytest.approx(5.5, abs=0.15)
    assert monitor.longest_howl_seconds() == pytest.approx(end.seconds) == monitor.howl_seconds()
    assert not monitor.howling
    assert monitor.glitches == {"dropout": 2}  # two concealed runs


def test_an_ear_keeps_its_clock_and_totals_across_payload_rates() -> None:
    monitor = Ear()
    played(monitor, sig.as_int16(sig.growing_tone(3, 16000, 1500, -70, 30)), PayloadType.L16_16K)
    first = monitor.howl_seconds()
    assert first > 0
    ulaw_silence = AudioFrame(1, 0, 0, 0, PayloadType.PCMU_8K, Flags.NONE, b"\xff" * 160)
    for n in range(50):
        monitor(Frame(n, 0.02, ulaw_silence), 0.02)
    monitor.finish()
    assert monitor.howl.howls == 1 and monitor.howl_seconds() == pytest.approx(first, abs=0.1)
    assert isinstance(monitor.howl_events[-1], HowlEnd) and monitor.howl_events[-1].at <= 3.1
    assert monitor.heard_seconds == pytest.approx(3.0 + 1.0, abs=0.03)


def test_ear_maxima_merge_by_max_and_are_exported_by_edge() -> None:
    a = ListenerStats(
        ears={
            "edge-1": EarTotals(
                howls=1, howl_seconds=2.0, howl_longest_seconds=2.0, howl_worst_listener_seconds=2.0
            )
        }
    )
    b = ListenerStats(
        ears={
            "edge-1": EarTotals(
                howls=2,
                howl_seconds=1.5,
                howl_longest_seconds=1.0,
                howl_worst_listener_seconds=1.5,
                howling=1,
            ),
            "edge-2": EarTotals(silence_seconds=3.0, glitches=Counter(dropout=2)),
        }
    )
    merged = a.merged(b)
    one = merged.ears["edge-1"]
    assert (one.howls, one.howl_seconds, one.howling) == (3, 3.5, 1)
    assert (one.howl_longest_seconds, one.howl_worst_listener_seconds) == (2.0, 2.0)
    registry = CollectorRegistry()
    registry.register(ListenerCollector(lambda: merged))
    text = generate_latest(registry).decode()
    for line in (
        'gameday_listener_howl_seconds_total{edge="edge-1"} 3.5',
        'gameday_listener_howls_total{edge="edge-1"} 3.0',
        'gameday_listener_howl_longest_seconds{edge="edge-1"} 2.0',
        'gameday_listener_howl_worst_seconds{edge="edge-1"} 2.0',
        'gameday_listeners_howling{edge="edge-1"} 1.0',
        'gameday_listener_silence_seconds_total{edge="edge-2"} 3.0',
        'gameday_listener_glitches_total{edge="edge-2",kind="dropout"} 2.0',
        'gameday_listener_glitches_total{edge="edge-2",kind="reset"} 0.0',
    ):
        assert line in text


def test_time_to_suppression_grows_while_it_howls_and_freezes_when_quiet() -> None:
    m = _Measure(closed_at=100.0)
    assert m.time_to_quiet(105.0) == 0.0  # no howl yet
    m.howling_since = 103.0
    assert m.time_to_quiet(106.0) == 6.0  # still howling: the clock runs
    m.howling_since, m.last_howl_end = None, 104.5
    assert m.time_to_quiet(120.0) == 4.5  # suppressed 4.5 s after the loop closed
    m.howling_since, m.opened_at = 110.0, 112.0
    assert m.time_to_quiet(130.0) == 12.0  # howled until the fault itself opened the loop
    assert _Measure().time_to_quiet(5.0) == 0.0


def test_target_in_resolves_a_speaker_replica_and_what_listeners_dial(tmp_path: Path) -> None:
    stack = RunningStack(
        spec="soundstage",
        run_dir=tmp_path,
        processes=[],
        addresses={"speaker-1": {"metrics": "127.0.0.1:9101"}, "speaker-2": {"metrics": "x:2"}},
        links={},
        dialled={"listener->edge": ["127.0.0.1:7000"], "speaker->ingest": ["127.0.0.1:5004"]},
        metrics={},
        health={},
    )
    target = target_in(stack, "speaker-2", "/stream/1")
    assert (target.stream_url, target.control_url, target.ingest, target.speaker_number) == (
        "http://127.0.0.1:7000/stream/1",
        "http://x:2",
        ("127.0.0.1", 5004),
        2,
    )
    with pytest.raises(InfrastructureError, match="nope"):
        target_in(stack, "speaker-1", "/s", listener_link="nope")
