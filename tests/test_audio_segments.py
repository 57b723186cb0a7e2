"""HLS segments for ears: ffmpeg's own TS and fMP4 segments decode to their audio, once per
edge however many ears receive them, with one decoder running on across segments that follow
each other (no fade-in at every boundary)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from encoded_audio import ffmpeg

from chaos.audio.decode import EAR_RATE
from chaos.audio.segments import Container, EdgeSegments, ReceivedSegment, container_of


def hls(tmp: Path, kind: str) -> tuple[list[bytes], bytes]:
    out = tmp / kind
    out.mkdir()
    extra = ["-hls_segment_type", "fmp4"] if kind == "fmp4" else []
    subprocess.run(
        [ffmpeg(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "sine=frequency=1000:sample_rate=48000:duration=8", "-ac", "1", "-c:a", "aac",
         "-b:a", "64k", "-f", "hls", "-hls_time", "2", *extra, str(out / "index.m3u8")],
        check=True, timeout=60,
    )  # fmt: skip
    uris = [
        line for line in (out / "index.m3u8").read_text().splitlines() if line and line[0] != "#"
    ]
    init = (out / "init.mp4").read_bytes() if kind == "fmp4" else b""
    return [(out / uri).read_bytes() for uri in uris], init


@pytest.mark.parametrize("kind", ["ts", "fmp4"])
def test_segments_decode_to_the_tone_once_per_edge(tmp_path: Path, kind: str) -> None:
    segments, init = hls(tmp_path, kind)
    container = Container.TS if kind == "ts" else Container.FMP4
    edge = EdgeSegments()
    pcm = []
    for ear in range(4):  # four ears of one edge receive the same segments
        for n, data in enumerate(segments):
            segment = ReceivedSegment(f"http://edge/{n}.{kind}", data, container, n, 2.0,
                                      slot=n + ear, init=init)  # fmt: skip
            decoded = edge.decode(segment)
            assert decoded.errors == 0 and not decoded.reset
            if ear == 0:
                pcm.append(decoded.pcm)
    assert edge.decodes == len(segments)
    audio = np.concatenate(pcm).astype(np.float64)
    assert audio.size / EAR_RATE == pytest.approx(8.0, abs=0.1)
    # One decoder ran across the boundaries: no 20 ms fade-in where a segment starts.
    blocks = audio[EAR_RATE // 2 : -EAR_RATE // 2]
    rms = np.sqrt(np.mean(blocks[: blocks.size // 160 * 160].reshape(-1, 160) ** 2, axis=1))
    assert rms.min() > 0.8 * np.median(rms)


def test_a_jump_or_discontinuity_restarts_and_a_broken_segment_is_an_error(tmp_path: Path) -> None:
    segments, _ = hls(tmp_path, "ts")
    edge = EdgeSegments()
    assert not edge.decode(ReceivedSegment("a", segments[0], Container.TS, 0, 2.0)).reset
    jumped = edge.decode(ReceivedSegment("c", segments[2], Container.TS, 2, 2.0))
    assert not jumped.reset and jumped.seconds == pytest.approx(2.0, abs=0.03)
    flagged = edge.decode(
        ReceivedSegment("d", segments[3], Container.TS, 3, 2.0, discontinuity=True)
    )
    assert flagged.reset
    broken = edge.decode(ReceivedSegment("e", b"\x47" + b"\x00" * 999, Container.TS, 4, 2.0))
    assert broken.errors == 1 and broken.pcm.size == 0


def test_parts_follow_parts_and_segments_follow_segments() -> None:
    def seg(msn: int, part: int | None = None, discontinuity: bool = False) -> ReceivedSegment:
        return ReceivedSegment("u", b"", Container.TS, msn, 1.0, discontinuity, part=part)

    assert seg(4).follows(seg(3)) and not seg(5).follows(seg(3))
    assert seg(3, 1).follows(seg(3, 0)) and seg(4, 0).follows(seg(3, 2))
    assert not seg(3, 2).follows(seg(3, 0)) and not seg(4, discontinuity=True).follows(seg(3))


def test_containers_by_type_then_extension() -> None:
    assert container_of("x/seg1.ts") is Container.TS
    assert container_of("x/seg1.m4s?x=1") is Container.FMP4
    assert container_of("chunk_1_a.aac") is Container.ADTS
    assert container_of("x/seg", "audio/mpeg") is Container.MP3
    assert container_of("x/seg.aac", "video/MP2T") is Container.TS
