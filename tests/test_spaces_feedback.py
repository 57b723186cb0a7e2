"""Feedback for real on spaces, end to end with `gameday run`: the host's second device plays
the room's HLS into its microphone (loop gain 2 at 1 kHz), so the loop runs through Janus's
mixer, ffmpeg's packager and an nginx edge; the listeners' ears hear it howl unless the
stack's howl guard (spaces.howl_guard) mutes the host through AudioBridge's API.

Both runs are behind the `long` marker: the guard in `make test` is the 2023 seed pair's
(`test_spaces_overload_2023*.py`, the same guard at loop gain 4). Also here, quickly: the echo
device's setting and playlist parsing, and the guard's detector and RTP parsing, which are
pure code."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.audio.signals import speech
from chaos.workload.echo_device import EchoSetting, EchoSettingError, media_uris
from spaces.howl_guard import MixDetector, rtp_payload
from tests.spaces_support import require_binaries

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000


def _run(experiment: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos.cli", "run", str(experiment), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=out.parent,
        env={**os.environ, "COLUMNS": "200"},
        timeout=280,
    )


def _guard_events(journal: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in journal.read_text().splitlines() if line.strip()]


@pytest.mark.long
@pytest.mark.timeout(300)
def test_the_howl_guard_mutes_the_host_before_listeners_hear_a_howl(tmp_path: Path) -> None:
    require_binaries()
    done = _run(ROOT / "experiments" / "spaces-feedback-guarded.yaml", tmp_path / "run")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for slo in ("heard", "longest-howl", "howl-seconds"):
        assert f"pass     {slo}" in done.stdout
    # The guard acted: its mutes are in the metrics the run scraped.
    scraped = (tmp_path / "run" / "journal.jsonl").read_text()
    assert "spaces_howl_guard_mutes_total" in scraped


@pytest.mark.long
@pytest.mark.timeout(300)
def test_without_the_guard_the_listeners_hear_the_host_howl(tmp_path: Path) -> None:
    require_binaries()
    done = _run(ROOT / "experiments" / "spaces-feedback.yaml", tmp_path / "run")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert "pass     heard" in done.stdout
    assert "FAIL     longest-howl" in done.stdout or "fail     longest-howl" in done.stdout


# ---------------------------------------------------------------- pure parts


def test_an_echo_setting_names_what_is_wrong() -> None:
    assert EchoSetting.parse({"gain": 3, "delay_ms": 50, "resonance_hz": 1000}).delay_s == 0.05
    with pytest.raises(EchoSettingError, match="JSON object"):
        EchoSetting.parse([1])
    with pytest.raises(EchoSettingError, match="numbers"):
        EchoSetting.parse({"gain": "loud"})
    with pytest.raises(EchoSettingError, match="resonance_hz"):
        EchoSetting.parse({"gain": 1, "resonance_hz": 50})


def test_media_uris_follow_the_media_sequence() -> None:
    playlist = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:41\n#EXTINF:2.0,\nmix41.ts\n#EXTINF:2.0,\nmix42.ts\n"
    assert media_uris(playlist) == [(41, "mix41.ts"), (42, "mix42.ts")]


def _tone(seconds: float, hz: float, dbfs: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return np.sqrt(2) * 32768 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)


def test_the_guard_hears_a_ring_and_not_speech() -> None:
    talk = MixDetector()
    assert not talk.feed(speech(30.0, RATE, 7, -20.0))
    assert talk.onsets == 0
    ring = MixDetector()
    ring.feed(speech(2.0, RATE, 7, -20.0))
    assert ring.feed(_tone(1.5, 1000.0, -20.0) + speech(1.5, RATE, 8, -45.0))
    assert ring.onsets == 1
    assert not ring.feed(np.zeros(RATE))  # the ring is gone once the speaker is muted


def _loop_ring(seconds: float, seed: int) -> np.ndarray:
    """The host's voice, the room's audio back from the second device louder than the voice,
    and a 1 kHz ring under both growing 6 dB a trip (8 s) from -60 dBFS up to the limiter."""
    t = np.arange(int(seconds * RATE)) / RATE
    level = np.minimum(-60 + 6 / 8 * t, -9.0)
    ring = np.sqrt(2) * 32768 * 10 ** (level / 20) * np.sin(2 * np.pi * 1000 * t)
    return speech(seconds, RATE, seed, -20.0) + speech(seconds, RATE, seed + 100, -14.0) + ring


@pytest.mark.parametrize("seed", range(4))
def test_the_guard_hears_a_ring_growing_under_voice_and_echo_while_it_is_quiet(seed: int) -> None:
    """A loop's ring is found while still well under the voice (by -40 dBFS: 20 dB below it),
    not once it drowns everything; the voice and its echo alone are never a howl."""
    mix = _loop_ring(60.0, seed)
    guard = MixDetector()
    found_at = next(
        (n / RATE for n in range(0, mix.size, 1600) if guard.feed(mix[n : n + 1600])), None
    )
    assert found_at is not None and -60 + 6 / 8 * found_at <= -40.0, found_at
    quiet = MixDetector()
    quiet.feed(speech(30.0, RATE, seed, -20.0) + speech(30.0, RATE, seed + 50, -14.0))
    assert quiet.onsets == 0


@given(
    csrc=st.integers(0, 15),
    extension=st.lists(st.integers(0, 2**32 - 1), max_size=4) | st.none(),
    payload=st.binary(min_size=1, max_size=200),
    padding=st.integers(0, 8),
)
def test_rtp_payloads_are_found_past_csrcs_extensions_and_padding(
    csrc: int, extension: list[int] | None, payload: bytes, padding: int
) -> None:
    first = 0x80 | csrc | (0x10 if extension is not None else 0) | (0x20 if padding else 0)
    packet = bytes([first, 111]) + struct.pack("!HII", 1, 960, 42) + bytes(4 * csrc)
    if extension is not None:
        packet += struct.pack("!HH", 0xBEDE, len(extension))
        packet += b"".join(struct.pack("!I", word) for word in extension)
    packet += payload
    if padding:
        packet += bytes(padding - 1) + bytes([padding])
    assert rtp_payload(packet) == payload


def test_what_is_not_rtp_has_no_payload() -> None:
    assert rtp_payload(b"") is None
    assert rtp_payload(bytes([0x40]) + bytes(20)) is None  # version 1
