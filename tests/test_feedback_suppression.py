"""soundstage's howl guard: silent on its own voices, suppresses a ringing loop quickly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundstage import codec
from soundstage.echo import EchoPath
from soundstage.frames import Frame, PayloadType
from soundstage.howl import GuardConfig, HowlGuard, Suppression
from soundstage.mixer import RoomMixer
from soundstage.voice import Voice


def loop_through_guard(
    gain: float, seconds: float, guard: HowlGuard | None, seed: int = 1
) -> list[float]:
    """Mic = voice + echo of the mix; the mix passes the guard. Returns the mix level per 0.5 s."""
    voice = Voice(seed=seed, level_dbfs=-20.0)
    echo = EchoPath(gain, 200_000, resonance_hz=1000.0, q=20.0)
    mix = []
    for tick in range(int(seconds * 50)):
        now = tick * 20_000
        mic = voice.next_frame().astype(np.int32) + echo.take(320, now)
        sent = np.clip(mic, -32768, 32767).astype(np.int16)
        track = codec.decode(PayloadType.PCMU_8K, codec.encode(PayloadType.PCMU_8K, sent))
        if guard is not None:
            track = guard.process(1, track)
        echo.hear(track, now + 20_000)
        mix.append(track)
    audio = np.concatenate(mix)
    return [codec.level_dbfs(audio[i : i + 8000]) for i in range(0, audio.size, 8000)]


@pytest.mark.parametrize("seed", range(4))
def test_guard_leaves_speech_alone(seed: int) -> None:
    guard = HowlGuard(GuardConfig())
    voice = Voice(seed=seed, level_dbfs=-14.0)
    for _ in range(50 * 30):
        frame = voice.next_frame()
        assert np.array_equal(guard.process(7, frame), frame)
    assert guard.stats.suppressions == 0 and guard.suppressed_now == 0


@pytest.mark.parametrize("mode", [Suppression.DUCK, Suppression.MUTE])
def test_guard_breaks_a_ringing_loop(mode: Suppression) -> None:
    unguarded = loop_through_guard(1.5, 10, None)
    assert max(unguarded[-4:]) > -5  # without suppression the loop saturates
    guard = HowlGuard(GuardConfig(mode=mode))
    guarded = loop_through_guard(1.5, 10, guard)
    assert guard.stats.suppressions == 1
    assert guard.stats.suppressed_seconds > 5
    first = next(i for i, (a, b) in enumerate(zip(unguarded, guarded, strict=True)) if a != b)
    assert max(guarded[first + 2 :]) < max(unguarded[: first + 1])  # it decays once ducked
    assert max(guarded) < -5  # suppressed before it reached full scale


def test_guard_hold_ends_and_a_still_closed_loop_is_suppressed_again() -> None:
    guard = HowlGuard(GuardConfig(hold_s=2.0))
    loop_through_guard(1.5, 20, guard)
    assert guard.stats.suppressions >= 2


def test_mixer_ducks_the_howling_speaker_only() -> None:
    """Two speakers: 1 rings (a steady loud tone), 2 talks; only 1 is ducked in the mix."""
    guard = HowlGuard(GuardConfig(duck_db=40.0))
    mixer = RoomMixer(1, PayloadType.L16_16K, prebuffer=1, guard=guard)
    voice = Voice(seed=2, level_dbfs=-20.0)
    t = np.arange(320) / 16000
    for seq in range(100):
        tone = (8000 * np.sin(2 * np.pi * 1500 * (t + seq * 0.02))).astype(np.int16)
        for source, samples in ((1, tone), (2, voice.next_frame())):
            payload = codec.encode(PayloadType.L16_16K, samples)
            mixer.push(Frame(1, source, seq, seq * 20_000, PayloadType.L16_16K, payload))
        mixer.tick(seq * 20_000)
    assert guard.stats.suppressions == 1 and guard.suppressed_now == 1
    mixed = codec.decode(PayloadType.L16_16K, mixer.tick(2_000_000).frame.payload)
    assert np.abs(mixed).max() < 8000 * 0.05 + 32768 * 0.2  # the tone is gone, speech remains


@settings(max_examples=25, deadline=None)
@given(hz=st.floats(300, 3000), level=st.floats(-40, -6), phase=st.floats(0, 6.28))
def test_guard_suppresses_any_steady_ring_within_a_second(
    hz: float, level: float, phase: float
) -> None:
    guard = HowlGuard(GuardConfig())
    amplitude = np.sqrt(2) * 32768 * 10 ** (level / 20)
    t = np.arange(320) / 16000
    for tick in range(100):
        ring = amplitude * np.sin(2 * np.pi * hz * (t + tick * 0.02) + phase)
        out = guard.process(3, np.round(ring).astype(np.int16))
        if guard.stats.suppressions:
            break
    assert guard.stats.suppressions == 1 and tick * 0.02 <= GuardConfig().persist_s + 0.2
    assert np.abs(out).max() <= amplitude * 0.1 + 1  # ducked by 20 dB
