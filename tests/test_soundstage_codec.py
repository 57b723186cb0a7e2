"""soundstage's wire formats: frames, µ-law, payloads and the HTTP/1.1 subset (sans-IO)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from soundstage import codec, httpwire, mulaw
from soundstage.frames import (
    HEADER_SIZE,
    MAX_PAYLOAD,
    Flags,
    Frame,
    FrameDecoder,
    FrameError,
    PayloadType,
    decode,
    sequence_distance,
)

u32 = st.integers(0, 2**32 - 1)
frames_st = st.builds(
    Frame,
    room=u32,
    source=u32,
    sequence=u32,
    capture_us=st.integers(0, 2**64 - 1),
    payload_type=st.sampled_from(PayloadType),
    payload=st.binary(max_size=700),
    flags=st.sampled_from([Flags(v) for v in range(8)]),
)


@given(frames_st)
def test_frame_round_trips_as_a_datagram(frame: Frame) -> None:
    data = frame.encode()
    assert len(data) == HEADER_SIZE + len(frame.payload)
    assert decode(data) == frame


def test_header_layout_is_the_documented_one() -> None:
    frame = Frame(7, 3, 258, 1_000_000, PayloadType.L16_16K, b"\x01\x02", Flags.CLIPPED)
    data = frame.encode()
    assert data[:2] == b"SS" and data[2] == 1 and data[3] == 1 and data[4] == 4
    assert data[6:8] == b"\x00\x02"  # payload length, big-endian
    assert data[8:12] == (7).to_bytes(4, "big")
    assert data[16:20] == (258).to_bytes(4, "big")
    assert data[20:28] == (1_000_000).to_bytes(8, "big")


@given(st.lists(frames_st, max_size=8), st.data())
def test_stream_decoder_handles_any_split(frames: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(f.encode() for f in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    decoder = FrameDecoder()
    out: list[Frame] = []
    last = 0
    for cut in [*cuts, len(stream)]:
        out += decoder.feed(stream[last:cut])
        last = cut
    assert out == frames
    assert decoder.pending == 0


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda b: b"XX" + b[2:], "magic"),
        (lambda b: b[:2] + b"\x09" + b[3:], "version"),
        (lambda b: b[:3] + b"\x07" + b[4:], "payload type"),
        (lambda b: b[:6] + (MAX_PAYLOAD + 1).to_bytes(2, "big") + b[8:], "exceeds"),
    ],
)
def test_malformed_headers_are_rejected_and_poison_the_stream(mutate, message) -> None:  # type: ignore[no-untyped-def]
    bad = mutate(Frame(1, 1, 1, 1, PayloadType.PCMU_8K, b"\x00" * 160).encode())
    with pytest.raises(FrameError, match=message):
        decode(bad)
    decoder = FrameDecoder()
    with pytest.raises(FrameError):
        decoder.feed(bad)
    with pytest.raises(FrameError, match="already failed"):
        decoder.feed(b"")


def test_datagram_length_must_match_header() -> None:
    data = Frame(1, 1, 1, 1, PayloadType.PCMU_8K, b"\x00" * 160).encode()
    with pytest.raises(FrameError):
        decode(data[:-1])
    with pytest.raises(FrameError):
        decode(data + b"\x00")
    with pytest.raises(FrameError, match="shorter"):
        decode(data[:10])


@given(u32, st.integers(-(2**31) + 1, 2**31 - 1))
def test_sequence_distance_survives_wraparound(older: int, step: int) -> None:
    assert sequence_distance((older + step) % 2**32, older) == step


def test_mulaw_matches_g711_reference_points() -> None:
    # Reference values from the G.711 tables: code 0xFF is +0, 0x80 is +32124, 0x00 is -32124.
    assert list(mulaw.decode(bytes([0xFF, 0x80, 0x00, 0x7F]))) == [0, 32124, -32124, 0]
    assert mulaw.encode(np.array([0, 32767, -32768], dtype=np.int16)) == bytes([0xFF, 0x80, 0x00])


def test_mulaw_codes_survive_decode_encode() -> None:
    codes = bytes(range(256))
    again = mulaw.encode(mulaw.decode(codes))
    assert [a for a, b in zip(again, codes, strict=True) if a != b] == [0xFF]  # -0 becomes +0


@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=200))
def test_mulaw_error_is_bounded_and_monotonic(values: list[int]) -> None:
    x = np.array(values, dtype=np.int16)
    y = mulaw.decode(mulaw.encode(x)).astype(np.int32)
    error = np.abs(y - x.astype(np.int32))
    # Logarithmic quantiser: error within ~3.2 % of the magnitude plus a small floor.
    assert np.all(error <= np.abs(x.astype(np.int32)) * 0.033 + 16 + 1000 * (np.abs(x) > 32000))
    order = np.argsort(x, kind="stable")
    assert np.all(np.diff(y[order]) >= 0)


@pytest.mark.parametrize("ptype", list(PayloadType))
def test_payloads_have_20ms_sizes_and_round_trip(ptype: PayloadType) -> None:
    t = np.arange(codec.SAMPLES_PER_FRAME) / codec.RATE
    samples = (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    payload = codec.encode(ptype, samples)
    assert len(payload) == codec.payload_size(ptype)
    back = codec.decode(ptype, payload)
    assert back.shape == samples.shape
    # µ-law at 8 kHz keeps a 300 Hz tone to within a few percent; L16 is exact.
    tolerance = 0 if ptype is PayloadType.L16_16K else 600
    assert np.max(np.abs(back.astype(int) - samples.astype(int))) <= tolerance


def test_odd_l16_payload_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        codec.decode(PayloadType.L16_16K, b"\x00\x01\x02")


def test_level_dbfs() -> None:
    full = np.full(320, 32767, dtype=np.int16)
    assert abs(codec.level_dbfs(full)) < 0.01
    assert codec.level_dbfs(np.zeros(320, dtype=np.int16)) == -120.0


@given(st.lists(st.binary(min_size=1, max_size=300), max_size=10), st.data())
def test_chunked_body_round_trips_across_any_split(
    chunks: list[bytes], data: st.DataObject
) -> None:
    wire = b"".join(httpwire.chunk(c) for c in chunks) + httpwire.LAST_CHUNK
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=12)))
    decoder = httpwire.ChunkedDecoder()
    body = b""
    last = 0
    for cut in [*cuts, len(wire)]:
        body += decoder.feed(wire[last:cut])
        last = cut
    assert body == b"".join(chunks)
    assert decoder.done


def test_chunked_decoder_rejects_garbage() -> None:
    with pytest.raises(httpwire.HttpError):
        httpwire.ChunkedDecoder().feed(b"zz\r\n")
    with pytest.raises(httpwire.HttpError):
        httpwire.ChunkedDecoder().feed(b"2\r\nabXX")


def test_request_head_parsing() -> None:
    assert httpwire.parse_request(b"GET /stream/1 HTTP/1.1\r\nHost: x") is None
    request, used = httpwire.parse_request(
        b"GET /stream/12?listener=ab HTTP/1.1\r\nHost: x\r\n\r\nrest"
    ) or (None, 0)
    assert request is not None and used == 48
    assert (request.method, request.path, request.query) == (
        "GET",
        "/stream/12",
        {"listener": "ab"},
    )
    assert request.headers == {"host": "x"}
    for bad in (b"GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nno-colon\r\n\r\n"):
        with pytest.raises(httpwire.HttpError):
            httpwire.parse_request(bad)
    with pytest.raises(httpwire.HttpError, match="longer"):
        httpwire.parse_request(b"GET /" + b"a" * 9000)


def test_response_head_parsing() -> None:
    wire = httpwire.simple_response(503, b"full", "text/plain", Retry_After="2")
    head, used = httpwire.parse_response_head(wire) or (None, 0)
    assert head is not None and head.status == 503
    assert head.headers["retry-after"] == "2" and wire[used:] == b"full"
