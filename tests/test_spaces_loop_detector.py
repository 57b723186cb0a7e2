"""The howl guard's loop detector (spaces.loop_detector), on a simulated Space: the host's
voice, and a second device playing the room back into the microphone one HLS trip late through
the air's 1 kHz resonance (the harness's own acoustic model), capped by the phone's limiter.
The loop is heard within a few trips of closing, before it rings; speech alone, and a steady
tone, never make one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from chaos.audio.signals import speech
from chaos.faults.acoustic import AcousticPath
from spaces.howl_guard import MixDetector
from spaces.loop_detector import LoopDetector, LoopFound

RATE = 16000
BLOCK = 320
LIMIT = 32768 * 10 ** (-9 / 20)


def looped_mix(
    seconds: float, gain: float, trip_s: float, seed: int, closes_at: float
) -> np.ndarray:
    voice = speech(seconds, RATE, seed, -20.0)
    voice = voice[: voice.size // BLOCK * BLOCK]
    air = AcousticPath(RATE, gain=gain, delay=0.05, resonance_hz=1000)
    mix = np.zeros_like(voice)
    trip = round(trip_s * RATE / BLOCK) * BLOCK
    for start in range(0, voice.size, BLOCK):
        now = start / RATE
        if start >= trip:  # the device plays the Space one trip late, through its limiter
            air.hear(np.clip(mix[start - trip : start - trip + BLOCK], -LIMIT, LIMIT), at=now)
        echo = air.take(BLOCK, now)
        mix[start : start + BLOCK] = voice[start : start + BLOCK] + (
            echo if now >= closes_at else 0
        )
    return mix


def first_loop(mix: np.ndarray, detector: LoopDetector) -> tuple[float, LoopFound] | None:
    for start in range(0, mix.size, 1600):
        if (found := detector.feed(mix[start : start + 1600])) is not None:
            return start / RATE, found
    return None


@settings(max_examples=6, deadline=None)
@example(trip_s=4.734375, gain=2.0, seed=339)  # make test's draws: past three trips
@example(trip_s=5.0, gain=2.0, seed=339)
@given(
    trip_s=st.floats(min_value=2.0, max_value=12.0),
    gain=st.sampled_from([2.0, 3.0, 4.0]),
    seed=st.integers(0, 1000),
)
def test_a_loop_is_heard_within_four_trips_at_its_trip(
    trip_s: float, gain: float, seed: int
) -> None:
    """The echo must stand out of the voice in its band first: a scan of 24 voices heard the
    loop 1.0-2.6 trips after it closed at gain 4, 1.3-3.5 at gain 2 (the window of 4 s and two
    checks included), and make test's draws found a voice at gain 2 past 3 trips: the bound is
    four trips and the window."""
    closes_at = 5.0
    mix = looped_mix(closes_at + 5 * trip_s + 6, gain, trip_s, seed, closes_at)
    found = first_loop(mix, LoopDetector(RATE))
    assert found is not None
    at, loop = found
    assert abs(loop.lag_s - trip_s) <= 0.1, loop
    assert at <= closes_at + 4 * trip_s + 5.0, (at, loop)


def test_the_loop_is_heard_before_the_ring_is() -> None:
    """At loop gain 4 and a 6 s trip the howl detector hears the ring trips later (or never,
    in a minute); the loop detector within two trips of this voice."""
    mix = looped_mix(60.0, 4.0, 6.0, 1, 10.0)
    found = first_loop(mix, LoopDetector(RATE))
    ring = MixDetector()
    rang_at = next(
        (n / RATE for n in range(0, mix.size, 1600) if ring.feed(mix[n : n + 1600])), None
    )
    assert found is not None and found[0] <= 10.0 + 2 * 6.0 + 5.0
    assert rang_at is None or rang_at > found[0] + 6.0


@pytest.mark.parametrize("seed", range(6))
def test_speech_and_a_second_voice_are_never_a_loop(seed: int) -> None:
    """Two speakers for a minute (the speaker's programme repeats every 30 s, past the longest
    trip looked for): no band's envelope repeats itself at one lag."""
    mix = speech(60.0, RATE, 100 + seed, -20.0) + speech(60.0, RATE, 200 + seed, -26.0)
    detector = LoopDetector(RATE)
    assert first_loop(mix, detector) is None
    assert detector.loops == 0


def test_a_steady_tone_and_silence_have_no_envelope_to_repeat() -> None:
    t = np.arange(30 * RATE) / RATE
    tone = np.sqrt(2) * 32768 * 0.1 * np.sin(2 * np.pi * 1000 * t)
    assert first_loop(tone, LoopDetector(RATE)) is None
    assert first_loop(np.zeros(30 * RATE), LoopDetector(RATE)) is None


def test_after_a_reset_the_loop_must_be_heard_again() -> None:
    mix = looped_mix(40.0, 3.0, 5.0, 3, 5.0)
    detector = LoopDetector(RATE)
    found = first_loop(mix, detector)
    assert found is not None
    at = round(found[0] * RATE)
    assert first_loop(mix[at : at + 2 * RATE], detector) is None  # reported once
    detector.reset()
    again = first_loop(mix[at:], detector)
    assert again is not None and again[0] >= 4.0  # a fresh window of evidence first
