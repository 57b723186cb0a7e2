"""Framed audio: the harness's own frame reader, sequence unwrapping, PCM decoding, and a framed
stream played end to end through the swarm (loss concealed, not stalled)."""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.audio.frames import (
    HEADER,
    AudioFrame,
    Flags,
    FrameFormatError,
    FrameReader,
    PayloadType,
    SequenceUnwrapper,
)
from chaos.audio.pcm import ULAW, PcmTap, decode
from chaos.audio.playout import Frame
from chaos.workload.arrivals import Storm, build_schedule
from chaos.workload.framed import FramedDecoder
from chaos.workload.probe import Failed, FirstAudio, Probe
from chaos.workload.swarm import ListenerConfig, StreamFormat, Swarm


def wire(
    seq: int,
    payload: bytes,
    ptype: int = 0,
    flags: int = 0,
    magic: bytes = b"SS",
    capture_us: int = 1_700_000_000_000_000,
) -> bytes:
    head = HEADER.pack(magic, 1, ptype, flags, 0, len(payload), 7, 0, seq, capture_us)
    return head + payload


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@given(
    st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=400)), max_size=12),
    st.lists(st.integers(0, 10**6), max_size=20),
)
def test_frames_survive_any_split(frames: list[tuple[int, bytes]], cuts: list[int]) -> None:
    stream = b"".join(wire(seq, payload) for seq, payload in frames)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    reader = FrameReader()
    out = [f for a, b in itertools.pairwise(points) for f in reader.feed(stream[a:b])]
    assert [(f.sequence, f.payload) for f in out] == frames
    assert all(f.room == 7 and f.payload_type is PayloadType.PCMU_8K for f in out)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (wire(1, b"", magic=b"XX"), "bad magic"),
        (HEADER.pack(b"SS", 2, 0, 0, 0, 0, 0, 0, 0, 0), "version 2"),
        (wire(1, b"", ptype=9), "payload type 9"),
        (HEADER.pack(b"SS", 1, 0, 0, 0, 9000, 0, 0, 0, 0), "exceeds"),
    ],
)
def test_malformed_frames_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(FrameFormatError, match=match):
        FrameReader().feed(data)


def test_sequence_numbers_unwrap_across_2_to_the_32_and_discontinuities() -> None:
    u = SequenceUnwrapper()
    raw = [2**32 - 2, 2**32 - 1, 0, 1]
    assert [u.unwrap(r) for r in raw] == [0, 1, 2, 3]
    assert u.unwrap(2**32 - 1) == 1  # a straggler from before the wrap keeps its place
    assert u.unwrap(500, discontinuity=True) == 4  # a new timeline continues, no fake gap
    assert u.unwrap(501) == 5


def test_ulaw_decoding_matches_g711() -> None:
    assert (ULAW[0x00], ULAW[0x7F], ULAW[0x80], ULAW[0xFF]) == (-32124, 0, 32124, 0)
    audioop = pytest.importorskip("audioop")  # the stdlib's C codec, until Python 3.13
    codes = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype=np.int16)
    assert np.array_equal(ULAW, expected)
    assert np.array_equal(decode(PayloadType.PCMU_8K, codes), expected)
    pcm = np.array([0, 1, -1, 32767, -32768], dtype=np.int16)
    assert np.array_equal(decode(PayloadType.L16_16K, pcm.astype(">i2").tobytes()), pcm)


def _audio(seq: int, ptype: PayloadType, payload: bytes) -> Frame:
    frame = AudioFrame(1, 0, seq, 0, ptype, Flags.NONE, payload)
    return Frame(seq, frame.duration, frame)


def test_pcm_tap_keeps_the_last_seconds_with_silence_for_concealment() -> None:
    tap = PcmTap(seconds=0.05)
    tap(Frame(0, 0.02), 0.02)  # progressive bytes: nothing decodable
    assert tap.samples().size == 0
    loud = struct.pack(">160h", *([1000] * 160))  # 10 ms of L16 at 16 kHz
    tap(_audio(1, PayloadType.L16_16K, loud), 0.01)
    tap(None, 0.02)
    assert tap.rate == 16000
    assert list(tap.samples()) == [1000] * 160 + [0] * 320
    for seq in range(2, 12):
        tap(_audio(seq, PayloadType.L16_16K, loud), 0.01)
    assert 800 <= tap.samples().size < 800 + 160  # ~50 ms kept
    tap(_audio(12, PayloadType.PCMU_8K, b"\xff" * 160), 0.02)  # rate change: start over
    assert tap.rate == 8000 and tap.samples().size == 160


def test_a_framed_probe_conceals_a_lost_frame_and_feeds_the_tap() -> None:
    tap = PcmTap(seconds=1.0)
    probe = Probe(FramedDecoder(), requested_at=0.0, target_delay=0.06, on_play=tap)
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    events = probe.feed(0.0, head + chunked(wire(100, b"\x00" * 160)))
    assert events == ()
    for i, seq in enumerate([101, 102, 104, 105, 106]):  # 103 never comes
        events += probe.feed(0.02 * (i + 1), chunked(wire(seq, b"\x00" * 160)))
    assert events == (FirstAudio(0.04, 0.04),)
    probe.tick(0.2)
    assert probe.playout.concealed_seconds == pytest.approx(0.02)
    assert probe.playout.stalls == []
    assert tap.samples().size == 6 * 160 + 160  # five frames, one concealed slot, all 8 kHz
    assert probe.latency() is None  # no wall clock given: latency unknown
    clocked = Probe(FramedDecoder(), requested_at=0.0, target_delay=0.04, wall_offset=1000.0)
    clocked.feed(0.0, head)
    for seq in range(3):  # captured at wall 1000.0 + 0.02·seq, arriving 0.05 s later
        capture = int((1000.0 + 0.02 * seq) * 1e6)
        clocked.feed(0.05 + 0.02 * seq, chunked(wire(seq, b"\x00" * 160, capture_us=capture)))
    clocked.tick(0.2)
    assert clocked.latency() == pytest.approx(0.05 + 0.02, abs=1e-6)  # network + buffer
    assert clocked.summary()["latency_seconds"] == clocked.latency()
    bad = Probe(FramedDecoder(), requested_at=0.0, target_delay=0.06)
    [failed] = bad.feed(0.0, head + chunked(b"garbage" * 10))
    assert isinstance(failed, Failed) and failed.reason == "protocol"


async def _edge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A stand-in edge: one µ-law frame per chunk every 20 ms, every 10th frame lost."""
    try:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        loop = asyncio.get_running_loop()
        start = loop.time()
        for seq in range(150):
            if seq % 10 != 5:
                now_us = int(time.time() * 1e6)
                writer.write(chunked(wire(seq, b"\xff" * 160, capture_us=now_us)))
            await writer.drain()
            await asyncio.sleep(start + 0.02 * (seq + 1) - loop.time())  # real time, no drift
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def edge() -> AsyncIterator[str]:
    server = await asyncio.start_server(_edge, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/stream/7"


@pytest.mark.timeout(60)
async def test_swarm_on_a_framed_stream_reports_concealment_not_stalls(edge: str) -> None:
    config = ListenerConfig(edge, stream=StreamFormat.FRAMED, target_delay=0.1)
    result = await Swarm(build_schedule([Storm(4)], 2), config, seed=2, duration=2.5).run()
    stats = result.stats
    assert stats.joins_ok == 4
    # ~2.4 s heard per listener, one 20 ms frame in ten concealed
    assert 0.05 < stats.concealed_seconds / (stats.played_seconds + stats.concealed_seconds) < 0.15
    assert stats.stalls == 0
    # heard ~0.1 s (the jitter buffer) behind the capture stamps, sampled at every sweep
    assert sum(stats.latency_counts) >= 4
    median = stats.latency_quantile(0.5)
    assert median is not None and median <= 0.3
