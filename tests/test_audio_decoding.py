"""The decoding core: splitters find every packet and its media time, FFmpeg decodes them.

Real ffmpeg encodes the signals; the splitters must give the same packets however the bytes
are cut, find the sync of a stream joined mid-way, count lost sync as a discontinuity, and
never fail with anything but a format error on garbage.
"""

from __future__ import annotations

import itertools
import struct

import howl_signals as sig
import numpy as np
import pytest
from encoded_audio import encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.audio.coded import CodedPacket, Splitter, StreamFormatError
from chaos.audio.decode import EAR_RATE, PacketDecoder
from chaos.audio.formats import sniff, splitter_for
from chaos.audio.mpeg import FrameSplitter, adts_header, mpeg_header
from chaos.audio.ogg import OggSplitter, opus_seconds, xiph_lacing
from chaos.audio.rawpcm import PcmSplitter, l16_info

RATE = 44100
SECONDS = 6.0
TYPES = {"mp3": "audio/mpeg", "aac": "audio/aac", "opus": "audio/ogg", "vorbis": "audio/ogg",
         "wav": "audio/wav"}  # fmt: skip


@pytest.fixture(scope="module")
def streams() -> dict[str, bytes]:
    tone = sig.as_int16(sig.growing_tone(SECONDS, RATE, 1000.0, -30.0, 0.0))
    return {fmt: encode(tone, RATE, fmt) for fmt in TYPES}


def split(splitter: Splitter, data: bytes, cuts: list[int]) -> list[CodedPacket]:
    out: list[CodedPacket] = []
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    for a, b in itertools.pairwise(edges):
        out += splitter.feed(data[a:b])
    return out


def fresh(fmt: str) -> Splitter:
    splitter = splitter_for(TYPES[fmt])
    assert splitter is not None
    return splitter


@pytest.mark.parametrize("fmt", list(TYPES))
def test_media_time_is_the_streams_own(streams: dict[str, bytes], fmt: str) -> None:
    packets = fresh(fmt).feed(streams[fmt])
    seconds = sum(p.seconds or 0.0 for p in packets)
    # Encoders pad the end to a whole frame and add priming (at most ~0.06 s here).
    assert SECONDS - 0.001 <= seconds <= SECONDS + 0.1, f"{fmt}: {seconds}"


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fmt=st.sampled_from(list(TYPES)), cuts=st.lists(st.integers(0, 10**7), max_size=40))
def test_packets_do_not_depend_on_how_the_bytes_arrive(
    streams: dict[str, bytes], fmt: str, cuts: list[int]
) -> None:
    whole = fresh(fmt).feed(streams[fmt])
    pieces = split(fresh(fmt), streams[fmt], cuts)
    if fmt == "wav":  # PCM is cut where the bytes are: the same samples, other chunks
        assert b"".join(p.data for p in pieces) == b"".join(p.data for p in whole)
        assert sum(p.seconds or 0 for p in pieces) == pytest.approx(
            sum(p.seconds or 0 for p in whole)
        )
    else:
        assert [(p.data, p.seconds) for p in pieces] == [(p.data, p.seconds) for p in whole]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(fmt=st.sampled_from(["mp3", "aac"]), start=st.floats(0.05, 0.9))
def test_a_join_mid_frame_finds_the_sync_without_a_discontinuity(
    streams: dict[str, bytes], fmt: str, start: float
) -> None:
    data = streams[fmt]
    splitter = fresh(fmt)
    offset = int(len(data) * start) | 1  # odd: never on a frame boundary by luck
    packets = splitter.feed(data[offset:])
    assert splitter.stats.resyncs == 0 and splitter.stats.skipped_bytes == 0
    seconds = sum(p.seconds or 0.0 for p in packets)
    assert seconds == pytest.approx(SECONDS * (1 - start), abs=0.1)


@pytest.mark.parametrize("fmt", ["mp3", "aac", "opus", "vorbis"])
def test_lost_bytes_count_as_a_lost_sync(streams: dict[str, bytes], fmt: str) -> None:
    data = streams[fmt]
    middle = len(data) // 2
    splitter = fresh(fmt)
    packets = splitter.feed(data[:middle] + data[middle + 777 :])
    assert splitter.stats.resyncs == 1 and splitter.stats.skipped_bytes > 0
    assert sum(p.seconds or 0.0 for p in packets) < SECONDS


def test_ogg_chained_stream_resets_the_codec(streams: dict[str, bytes]) -> None:
    splitter = OggSplitter()
    packets = splitter.feed(streams["opus"] + streams["vorbis"])
    assert splitter.stats.resets == 1
    assert {p.codec.codec for p in packets} == {"opus", "vorbis"}
    assert sum(p.seconds or 0 for p in packets) == pytest.approx(2 * SECONDS, abs=0.2)


@pytest.mark.parametrize("fmt", list(TYPES))
def test_an_unlabelled_stream_is_sniffed(streams: dict[str, bytes], fmt: str) -> None:
    splitter = sniff(streams[fmt][:4096])
    assert splitter is not None and type(splitter) is type(fresh(fmt))
    with pytest.raises(StreamFormatError):
        sniff(b"<html>" + b"x" * 5000)
    assert sniff(b"\xff") is None  # not sure yet


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=3000), kind=st.sampled_from(["mp3", "aac", "ogg", "wav"]))
def test_garbage_is_a_format_error_or_nothing(data: bytes, kind: str) -> None:
    splitter: Splitter = (
        FrameSplitter(adts=kind == "aac") if kind in ("mp3", "aac")
        else OggSplitter() if kind == "ogg" else PcmSplitter()
    )  # fmt: skip
    try:
        for _ in range(30):
            for packet in splitter.feed(data):
                assert packet.seconds is None or packet.seconds >= 0
    except StreamFormatError:
        pass


def test_frame_headers_by_the_tables() -> None:
    mp3 = mpeg_header(bytes([0xFF, 0xFB, 0x90, 0x64]), 0)  # MPEG-1 L3 128 kb/s 44.1 kHz
    assert mp3 is not None and (mp3.length, mp3.samples, mp3.rate, mp3.channels) == (
        417,
        1152,
        44100,
        2,
    )
    padded = mpeg_header(bytes([0xFF, 0xFB, 0x92, 0xC4]), 0)
    assert padded is not None and padded.length == 418 and padded.channels == 1
    v2 = mpeg_header(bytes([0xFF, 0xF3, 0x44, 0xC4]), 0)  # MPEG-2 L3 32 kb/s 24 kHz
    assert v2 is not None and (v2.samples, v2.rate, v2.length) == (576, 24000, 96)
    assert mpeg_header(bytes([0xFF, 0xFB, 0xF0, 0x64]), 0) is None  # bitrate index 15
    adts = adts_header(bytes([0xFF, 0xF1, 0x50, 0x80, 0x2E, 0x7F, 0xFC]), 0)
    assert adts is not None and (adts.rate, adts.channels, adts.length, adts.samples) == (
        44100,
        2,
        371,
        1024,
    )


def test_opus_durations_from_the_toc() -> None:
    assert opus_seconds(bytes([0xFC])) == 0.02  # CELT 20 ms, one frame
    assert opus_seconds(bytes([0xFD])) == 0.04  # two frames
    assert opus_seconds(bytes([0xFF, 0x03])) == pytest.approx(0.06)  # code 3: three frames
    assert opus_seconds(bytes([0x18])) == 0.06  # SILK 60 ms
    assert xiph_lacing([b"a" * 300, b"b", b"c"]) == bytes([2, 255, 45, 1]) + b"a" * 300 + b"bc"


def test_l16_and_wav_headers() -> None:
    info = l16_info({"rate": "8000", "channels": "2"})
    packets = PcmSplitter(info).feed(b"\x00" * 32001)
    assert packets[0].seconds == 1.0 and len(packets[0].data) == 32000
    with pytest.raises(StreamFormatError):
        l16_info({})
    header = b"RIFF\xff\xff\xff\xffWAVEfmt " + struct.pack("<IHHIIHH", 16, 3, 1, 8000, 32000, 4, 32)
    with pytest.raises(StreamFormatError, match="16-bit"):
        PcmSplitter().feed(header + b"data\x00\x00\x00\x00")


@pytest.mark.parametrize("fmt", list(TYPES))
def test_decoded_tone_is_the_tone(streams: dict[str, bytes], fmt: str) -> None:
    decoded = PacketDecoder().decode(fresh(fmt).feed(streams[fmt]))
    assert decoded.errors == 0 and not decoded.reset
    assert decoded.seconds == pytest.approx(SECONDS, abs=0.1)
    assert decoded.pcm.size == pytest.approx(decoded.seconds * EAR_RATE, abs=EAR_RATE * 0.02)
    middle = decoded.pcm[EAR_RATE : 4 * EAR_RATE].astype(np.float64)
    spectrum = np.abs(np.fft.rfft(middle * np.hanning(middle.size)))
    assert np.argmax(spectrum) * EAR_RATE / middle.size == pytest.approx(1000, abs=2)
    rms = np.sqrt(np.mean(middle**2)) / 32768
    assert 20 * np.log10(rms) == pytest.approx(-30, abs=1.0)


def test_a_refused_packet_is_a_decode_error(streams: dict[str, bytes]) -> None:
    packets = fresh("opus").feed(streams["opus"])
    broken = CodedPacket(b"", 0.02, packets[0].codec)
    decoded = PacketDecoder().decode([*packets[:5], broken, *packets[5:10]])
    assert decoded.errors == 1 and decoded.seconds == pytest.approx(0.2, abs=0.03)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(list(TYPES)),
    cuts=st.lists(st.integers(0, 10**7), max_size=30),
    hole=st.one_of(st.none(), st.tuples(st.floats(0.1, 0.9), st.integers(1, 3000))),
)
def test_measuring_is_feeding_without_the_packets(
    streams: dict[str, bytes], fmt: str, cuts: list[int], hole: tuple[float, int] | None
) -> None:
    data = streams[fmt]
    if hole is not None:  # bytes lost mid-stream: both paths resync the same way
        at = int(len(data) * hole[0])
        data = data[:at] + data[at + hole[1] :]
    fed, measured = fresh(fmt), fresh(fmt)
    seconds = sum(p.seconds or 0.0 for p in split(fed, data, cuts))
    edges = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
    timed = sum(measured.measure(data[a:b]) for a, b in itertools.pairwise(edges))
    assert timed == pytest.approx(seconds, abs=1e-9)
    assert measured.stats == fed.stats
