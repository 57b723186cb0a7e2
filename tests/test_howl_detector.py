"""The howling detector: silent on speech, music and noise; quick on a growing tone.

Signals come from ``howl_signals`` (generators stated there): an additive source-filter voice,
3-4 note chords with harmonics, white and pink noise, and a tone growing linearly in dB.
"""

from __future__ import annotations

import howl_signals as sig
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.audio.howl import HowlConfig, HowlDetector, HowlEnd, HowlEvent, HowlOnset, frame_size
from chaos.audio.howl_features import imsd, slope_weights
from soundstage import codec
from soundstage.echo import EchoPath
from soundstage.frames import PayloadType
from soundstage.voice import Voice

THRESHOLD = HowlConfig().min_level_dbfs


def run(
    samples: np.ndarray, rate: int, chunk_s: float = 0.25
) -> tuple[HowlDetector, list[HowlEvent]]:
    detector = HowlDetector(rate)
    step = max(1, int(rate * chunk_s))
    events: list[HowlEvent] = []
    for start in range(0, samples.size, step):
        events += detector.feed(samples[start : start + step])
    return detector, events


def onsets(events: list[HowlEvent]) -> list[HowlOnset]:
    return [e for e in events if isinstance(e, HowlOnset)]


@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.parametrize(
    ("name", "generator", "seconds"),
    [
        ("speech-like", sig.speech, 60),
        ("chords", sig.chords, 60),
        ("white noise", sig.white_noise, 20),
        ("pink noise", sig.pink_noise, 20),
    ],
)
@pytest.mark.parametrize("level", [-20.0, -6.0])
def test_no_howl_in_clean_signals(
    name: str, generator, seconds: int, rate: int, level: float
) -> None:
    samples = sig.as_int16(generator(seconds, rate, seed=7, level_dbfs=level))
    detector, events = run(samples, rate)
    assert events == [], f"{name} at {level} dBFS was taken for howling: {events[:3]}"
    assert detector.howl_seconds() == 0.0


def test_no_howl_in_soundstages_voice() -> None:
    """The speaker simulator's own voice (pulse train through Klatt formants) is clean too."""
    voice = Voice(seed=3, level_dbfs=-14.0)
    samples = np.concatenate([voice.next_frame() for _ in range(50 * 20)])
    assert run(samples, 16000)[1] == []


@pytest.mark.parametrize("rate", [16000, 8000])
@pytest.mark.parametrize("hz", [250.0, 1000.0, 3100.0])
def test_growing_tone_under_speech_detected_within_half_a_second_of_crossing(
    rate: int, hz: float
) -> None:
    growth = 20.0
    tone = sig.growing_tone(5, rate, hz, start_dbfs=-100, db_per_s=growth)
    speechy = sig.speech(5, rate, seed=2, level_dbfs=-30)
    _, events = run(sig.as_int16(tone + speechy), rate)
    found = onsets(events)
    # Under louder speech the threshold is the speech: the tone must stand out to be a howl.
    audible = sig.crossing_time(-100, growth, THRESHOLD)
    crossing = sig.crossing_time(-100, growth, max(THRESHOLD, -30.0))
    assert found, "the growing tone was never detected"
    assert audible <= found[0].at <= crossing + 0.5
    assert found[0].frequency_hz == pytest.approx(hz, rel=0.01)


@settings(max_examples=40, deadline=None)
@given(
    hz=st.floats(200, 5000),
    growth=st.floats(8, 80),
    noise=st.floats(-90, -60),
    start=st.floats(-120, -80),
)
def test_growing_tone_property(hz: float, growth: float, noise: float, start: float) -> None:
    """Any howl frequency in 200-5000 Hz and growth of 8-80 dB/s: found ≤ 0.5 s after crossing."""
    rate = 16000
    crossing = sig.crossing_time(start, growth, THRESHOLD)
    seconds = crossing + 1.0
    samples = sig.growing_tone(seconds, rate, hz, start, growth)
    samples += sig.white_noise(seconds, rate, seed=1, level_dbfs=noise)
    _, events = run(sig.as_int16(samples), rate)
    found = onsets(events)
    assert found and crossing - 0.1 <= found[0].at <= crossing + 0.5, (crossing, found)
    assert abs(found[0].frequency_hz - hz) <= 0.01 * hz + 3


def test_howl_tracked_through_clipping_and_ended_when_it_stops() -> None:
    """A howl that saturates into a square wave stays one howl; silence ends it."""
    rate = 16000
    tone = sig.growing_tone(3, rate, 1200, -90, 40)
    clipped = np.clip(tone * 8, -32767, 32767)  # hard clipping: odd harmonics at 3f, 5f
    quiet = sig.white_noise(1, rate, seed=4, level_dbfs=-80)
    detector, events = run(sig.as_int16(np.concatenate([clipped, quiet])), rate)
    assert [type(e) for e in events] == [HowlOnset, HowlEnd]
    end = events[1]
    assert isinstance(end, HowlEnd)
    assert end.at == pytest.approx(3.0, abs=0.15)
    assert end.seconds == pytest.approx(detector.howl_seconds()) == detector.longest_seconds
    assert end.peak_level_dbfs > -3
    assert detector.howls == 1 and not detector.howling


def test_finish_closes_a_howl_still_going() -> None:
    rate = 8000
    detector, events = run(sig.as_int16(sig.growing_tone(3, rate, 700, -70, 30)), rate)
    assert detector.howling and len(onsets(events)) == 1
    ongoing = detector.howl_seconds()
    (end,) = detector.finish()
    assert isinstance(end, HowlEnd) and end.seconds == pytest.approx(ongoing)
    assert not detector.howling and detector.finish() == []


@settings(max_examples=25, deadline=None)
@given(chunks=st.lists(st.integers(1, 6000), min_size=1, max_size=30))
def test_events_do_not_depend_on_how_the_stream_is_chunked(chunks: list[int]) -> None:
    rate = 8000
    samples = sig.as_int16(
        np.concatenate([sig.speech(1.5, rate, seed=5), sig.growing_tone(2.5, rate, 900, -80, 40)])
    )
    _, whole = run(samples, rate, chunk_s=10)
    detector = HowlDetector(rate)
    pieces: list[HowlEvent] = []
    start = 0
    while start < samples.size:
        for size in chunks:
            pieces += detector.feed(samples[start : start + size])
            start += size
    assert pieces == whole and len(onsets(whole)) == 1


@given(
    slope=st.floats(-5, 5),
    offset=st.floats(-100, 0),
    q=st.integers(3, 20),
)
def test_imsd_is_zero_on_a_straight_db_line(slope: float, offset: float, q: int) -> None:
    history = offset + slope * -np.arange(q + 1.0)  # newest first: y(t-j)
    assert imsd(history[None, :])[0] == pytest.approx(0.0, abs=1e-9)


def test_imsd_scores_a_syllable_shape() -> None:
    rise_and_fall = np.array([-40, -30, -20, -10, -10, -20, -30, -40, -50.0])
    assert imsd(rise_and_fall[None, :])[0] > 2.0


def test_slope_weights_match_the_reference_formula() -> None:
    rng = np.random.default_rng(0)
    y = rng.normal(size=9)
    q = 8
    for m in range(1, q + 1):
        expected = sum((y[j] - y[m]) / (m - j) for j in range(m)) / m
        assert (y @ slope_weights(q))[m - 1] == pytest.approx(expected)


def test_frame_size_keeps_64_ms_frames() -> None:
    assert frame_size(16000) == 1024 and frame_size(8000) == 512


def closed_loop(gain: float, seconds: float, delay_us: int = 200_000) -> np.ndarray:
    """soundstage's voice into a mic that also hears the room (echo path with a resonance),
    through µ-law and back: the sans-IO shape of a host's second device closing the loop."""
    voice = Voice(seed=1, level_dbfs=-20.0)
    echo = EchoPath(gain, delay_us, resonance_hz=1000.0, q=20.0)
    heard = []
    for tick in range(int(seconds * 50)):
        now = tick * 20_000
        mic = voice.next_frame().astype(np.int32) + echo.take(320, now)
        sent = np.clip(mic, -32768, 32767).astype(np.int16)
        played = codec.decode(PayloadType.PCMU_8K, codec.encode(PayloadType.PCMU_8K, sent))
        echo.hear(played, now + 20_000)
        heard.append(played)
    return np.concatenate(heard)


def test_a_real_closed_loop_howls_and_a_stable_one_does_not() -> None:
    unstable = closed_loop(1.5, 8)
    _, events = run(unstable, 16000)
    found = onsets(events)
    assert len(found) == 1 and found[0].frequency_hz == pytest.approx(1000, abs=20)
    # Detected while the loop grows, not long after it has saturated (about 3 s in).
    level = [codec.level_dbfs(unstable[i : i + 8000]) for i in range(0, unstable.size, 8000)]
    saturated = next(i for i, db in enumerate(level) if db > -4) * 0.5
    assert found[0].at <= saturated + 1.0
    assert run(closed_loop(0.8, 8), 16000)[1] == []
