"""The ear's detectors and its timeline: silence counted whole past its minimum, loudness as
BS.1770 measures it, glitches from what the stream revealed, and every event mapped back to
the moment the listener heard it on the playout's clock."""

from __future__ import annotations

import itertools

import howl_signals as sig
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.audio.decode import EAR_RATE, Decoded
from chaos.audio.ear import Ear
from chaos.audio.loudness import LoudnessMeter
from chaos.audio.playout import Frame, PlayoutModel
from chaos.audio.silence import SilenceConfig, SilenceDetector, SilenceEnd, SilenceStart

R = EAR_RATE


def tone(seconds: float, dbfs: float = -20.0, hz: float = 1000.0) -> np.ndarray:
    return sig.as_int16(sig.growing_tone(seconds, R, hz, dbfs, 0.0))


def fed(detector: SilenceDetector, samples: np.ndarray, cuts: list[int]) -> list[object]:
    events: list[object] = []
    edges = [0, *sorted(c % (samples.size + 1) for c in cuts), samples.size]
    for a, b in itertools.pairwise(edges):
        events += detector.feed(samples[a:b])
    return events + detector.finish()


@settings(max_examples=60, deadline=None)
@given(
    before=st.floats(0.1, 3.0),
    gap=st.floats(0.05, 5.0),
    after=st.floats(0.0, 2.0),
    cuts=st.lists(st.integers(0, 10**6), max_size=12),
)
def test_a_gap_is_silence_when_it_lasts_and_counted_whole(
    before: float, gap: float, after: float, cuts: list[int]
) -> None:
    samples = np.concatenate([tone(before), np.zeros(round(gap * R), np.int16), tone(after)])
    detector = SilenceDetector(R)
    events = fed(detector, samples, cuts)
    block = SilenceConfig().block_seconds
    if gap >= 1.0 + block:
        assert detector.silences == 1
        start, end = events
        assert isinstance(start, SilenceStart) and isinstance(end, SilenceEnd)
        assert start.at == pytest.approx(before, abs=block)
        assert detector.silence_seconds() == pytest.approx(gap, abs=2 * block)
    elif gap < 1.0 - block:
        assert events == [] and detector.silence_seconds() == 0


def test_speech_pauses_are_not_silence_and_an_ongoing_silence_counts() -> None:
    detector = SilenceDetector(R)
    assert detector.feed(sig.as_int16(sig.speech(60, R, seed=5))) == []
    detector.feed(np.zeros(3 * R, np.int16))
    assert detector.silent and detector.silence_seconds() == pytest.approx(3.0, abs=0.6)


@pytest.mark.parametrize(
    ("dbfs", "hz", "lufs"),
    [(-20, 1000, -20.0), (-30, 1000, -30.0), (-20, 100, -21.8), (-20, 4000, -16.7)],
)
def test_loudness_is_bs1770s(dbfs: float, hz: float, lufs: float) -> None:
    meter = LoudnessMeter(R)
    meter.feed(tone(4.0, dbfs, hz))
    assert meter.last_lufs == pytest.approx(lufs, abs=0.2)


def test_too_loud_and_too_quiet_but_not_silence() -> None:
    meter = LoudnessMeter(R)
    meter.feed(tone(5.0, -2.0))  # a howl at full scale
    assert meter.loud_seconds == pytest.approx(5.0 - 2.9, abs=0.11) and meter.quiet_seconds == 0
    quiet = LoudnessMeter(R)
    quiet.feed(tone(5.0, -50.0))
    quiet.feed(np.zeros(5 * R, np.int16))
    assert quiet.loud_seconds == 0 and 2.0 <= quiet.quiet_seconds <= 5.0


@settings(max_examples=60, deadline=None)
@given(
    frames=st.lists(st.tuples(st.floats(0.01, 0.5), st.booleans()), min_size=3, max_size=40),
    late=st.floats(0.0, 2.0),
)
def test_an_ear_hears_the_playout_timeline(frames: list[tuple[float, bool]], late: float) -> None:
    """Whatever arrives and whatever is lost, the ear hears played + concealed audio, and maps
    each audio second back to when its slot played."""
    ear = Ear()
    playout = PlayoutModel(0.0, ear)
    at = 0.0
    for seq, (duration, lost) in enumerate(frames):
        if not lost or seq == 0:
            pcm = np.full(round(duration * R), 1000, np.int16)
            playout.receive(at, Frame(seq, duration, Decoded(pcm, duration)))
        at += duration * (1 + late / len(frames))
    playout.finish(at + 10)
    ear.finish()
    heard = playout.played_seconds + playout.concealed_seconds
    assert ear.heard_seconds == pytest.approx(heard, abs=len(frames) / R)
    lost = [flag and i > 0 for i, (_, flag) in enumerate(frames)]
    runs = sum(1 for i in range(1, len(lost)) if lost[i] and not lost[i - 1])
    assert ear.glitches["dropout"] <= runs  # a lost frame at the end is never concealed


def test_onsets_are_journaled_when_the_listener_heard_them() -> None:
    ear = Ear(edge="edge-2", listener=7)
    playout = PlayoutModel(0.5, ear)
    howl = sig.as_int16(sig.growing_tone(6, R, 1500, -60, 20))
    clean = sig.as_int16(sig.speech(4, R, seed=2))
    audio = np.concatenate([clean, howl])
    step = R // 50
    for seq, start in enumerate(range(0, audio.size, step)):
        chunk = audio[start : start + step]
        # 100 s into the listener's clock, with a 2 s stall after 3 s of audio.
        arrival = 100.0 + seq * 0.02 + (2.0 if seq >= 150 else 0.0)
        playout.receive(arrival, Frame(seq, chunk.size / R, Decoded(chunk, chunk.size / R)))
    playout.finish(200.0)
    ear.finish()
    onset = next(e for e in ear.drain() if e.kind == "howl")
    # The tone crosses the detector's -50 dBFS floor 0.5 s after it starts (at audio 4.5 s):
    # played at 100 + 0.5 (buffer) + 4.5 + 2 (the stall) s on the probe's clock.
    assert onset.audio_at == pytest.approx(4.5, abs=0.35)
    assert onset.at == pytest.approx(100.0 + 0.5 + onset.audio_at + 2.0, abs=0.05)
    assert onset.detail["frequency_hz"] == pytest.approx(1500, abs=10)


def test_glitches_are_what_the_stream_revealed() -> None:
    ear = Ear()
    pcm = tone(0.1)
    ear(Frame(0, 0.1, Decoded(pcm, 0.1)), 0.1, 0.0)
    ear(Frame(1, 0.1, Decoded(pcm, 0.1, errors=2, lost=1)), 0.1, 0.1)
    ear(None, 0.1, 0.2)
    ear(None, 0.1, 0.3)
    ear(Frame(4, 0.1, Decoded(pcm, 0.1, reset=True)), 0.1, 0.4)
    ear(Frame(5, 0.1, object()), 0.1, 0.5)  # not decoded (a nominal-bitrate stream): unheard
    assert dict(ear.glitches) == {"decode_error": 2, "lost_sync": 1, "dropout": 1, "reset": 1}
    assert ear.heard_seconds == pytest.approx(0.5)


@given(silent=st.floats(0.0, 5.0), late=st.floats(0.0, 3.0))
@settings(max_examples=20, deadline=None)
def test_an_ear_reports_the_first_sound_it_heard_once(silent: float, late: float) -> None:
    """The on-air moment: the first 20 ms block above the silence threshold, on the probe's
    clock, once per ear, whatever came after (a pause, more speech)."""
    ear = Ear(edge="edge-1", listener=3)
    playout = PlayoutModel(0.5, ear)
    quiet = np.zeros(int(silent * R), dtype=np.int16)
    audio = np.concatenate([quiet, tone(1.0), np.zeros(R, dtype=np.int16), tone(1.0)])
    step = R // 50
    for seq, start in enumerate(range(0, audio.size, step)):
        chunk = audio[start : start + step]
        playout.receive(
            10.0 + late + seq * 0.02, Frame(seq, chunk.size / R, Decoded(chunk, chunk.size / R))
        )
    playout.finish(100.0)
    ear.finish()
    on_air = [e for e in ear.drain() if e.kind == "on_air"]
    assert len(on_air) == 1 and ear.on_air
    assert on_air[0].audio_at == pytest.approx(silent, abs=0.021)
    assert on_air[0].at == pytest.approx(10.0 + late + 0.5 + silent, abs=0.05)


def test_an_ear_that_hears_only_silence_never_reports_the_host_on_air() -> None:
    ear = Ear()
    playout = PlayoutModel(0.5, ear)
    quiet = np.zeros(R // 50, dtype=np.int16)
    for seq in range(200):
        playout.receive(seq * 0.02, Frame(seq, 0.02, Decoded(quiet, 0.02)))
    playout.finish(10.0)
    ear.finish()
    assert not ear.on_air and not [e for e in ear.drain() if e.kind == "on_air"]
