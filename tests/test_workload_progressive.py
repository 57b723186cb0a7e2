"""Progressive listeners play a stream for its media time, read from the stream itself.

A VBR Ogg Vorbis stream that announces no bitrate joins and stalls exactly as a player would;
an ear's decoder makes frames as long as what FFmpeg decoded, carrying the PCM.
"""

from __future__ import annotations

import io

import av
import howl_signals as sig
import pytest
from encoded_audio import FORMATS, encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.audio.decode import Decoded
from chaos.workload.probe import FirstAudio, Probe
from chaos.workload.progressive import ProgressiveDecoder

RATE = 44100
SECONDS = 8.0


@pytest.fixture(scope="module")
def streams() -> dict[str, bytes]:
    audio = sig.as_int16(sig.speech(SECONDS, RATE, seed=3))
    return {fmt: encode(audio, RATE, fmt) for fmt in ("mp3", "aac", "opus", "vorbis")}


def head(content_type: str | None) -> bytes:
    label = f"Content-Type: {content_type}\r\n" if content_type else ""
    return f"HTTP/1.0 200 OK\r\n{label}\r\n".encode()


def played_for(data: bytes, content_type: str | None, ear: bool = False) -> tuple[Probe, float]:
    """Feed the whole stream at once: the media time is what the playout was given."""
    probe = Probe(ProgressiveDecoder(ear=ear), requested_at=0.0, target_delay=0.5)
    probe.feed(0.0, head(content_type))
    for i in range(0, len(data), 1500):
        probe.feed(0.01, data[i : i + 1500])
    probe.leave(100.0)
    return probe, probe.playout.played_seconds


@pytest.mark.parametrize("fmt", ["mp3", "aac", "opus", "vorbis"])
@pytest.mark.parametrize("labelled", [True, False])
def test_media_time_without_a_bitrate(streams: dict[str, bytes], fmt: str, labelled: bool) -> None:
    content_type = FORMATS[fmt][1] if labelled else None
    probe, played = played_for(streams[fmt], content_type)
    assert probe.failure is None and probe.ttfa is not None
    assert played == pytest.approx(SECONDS, abs=0.1)


def decoded_seconds(data: bytes) -> float:
    """The media time FFmpeg's own demuxer and decoder find in ``data`` (independent of ours)."""
    with av.open(io.BytesIO(data), mode="r") as container:
        return sum(f.samples / f.sample_rate for f in container.decode(audio=0))


@pytest.mark.parametrize("gap", [0.3, 3.0])
def test_vbr_vorbis_stalls_by_its_decoded_media_time(streams: dict[str, bytes], gap: float) -> None:
    """Half the stream at once plays for its media time M; the rest G seconds after it ran
    dry: one stall of G, which only a listener timing the real media time measures."""
    data = streams["vorbis"]
    page = data.find(b"OggS", len(data) // 2)
    first = decoded_seconds(data[:page])
    probe = Probe(ProgressiveDecoder(), requested_at=0.0, target_delay=0.5)
    probe.feed(0.0, head("audio/ogg") + data[:page])
    probe.feed(first + gap, data[page:])
    probe.leave(100.0)
    assert probe.ttfa == 0.0
    # FFmpeg's decoder holds back the overlap of its last block (~1024 samples) until the next
    # packet and outputs nothing for the first one, so its count runs up to 0.07 s short.
    assert probe.playout.stalls[0] == pytest.approx(gap, abs=0.1)
    assert len(probe.playout.stalls) == 2  # and the end of the stream, 100 s later


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_an_ears_frames_last_what_was_decoded(streams: dict[str, bytes], fmt: str) -> None:
    heard: list[Decoded] = []
    decoder = ProgressiveDecoder(ear=True)
    decoder.start({"content-type": FORMATS[fmt][1]})
    frames = [
        f
        for i in range(0, len(streams[fmt]), 2000)
        for f in decoder.feed(streams[fmt][i : i + 2000])
    ]
    for frame in frames:
        assert isinstance(frame.payload, Decoded)
        assert frame.duration == frame.payload.seconds
        heard.append(frame.payload)
    assert sum(d.seconds for d in heard) == pytest.approx(SECONDS, abs=0.1)
    assert sum(d.errors + d.lost for d in heard) == 0


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(1, 60_000))
def test_a_mid_stream_join_plays_the_rest(streams: dict[str, bytes], cut: int) -> None:
    data = streams["mp3"]
    cut = cut % (len(data) // 2)
    probe, played = played_for(data[cut:], "audio/mpeg")
    whole = played_for(data, "audio/mpeg")[1]
    assert played == pytest.approx(whole * (len(data) - cut) / len(data), abs=0.3)
    assert probe.failure is None


def test_a_bitrate_still_times_what_no_splitter_reads() -> None:
    probe = Probe(ProgressiveDecoder(64_000), requested_at=0.0, target_delay=0.5)
    probe.feed(0.0, head("audio/x-unknown"))
    assert probe.feed(0.1, b"z" * 4000) == (FirstAudio(0.1, 0.1),)
