"""The HLS playlist parser and the live-edge start rule: real playlists, malformed ones, and
hypothesis properties (any valid playlist parses to what it says; any bytes give a playlist or
a PlaylistError naming a line; a live start holds back exactly the target latency)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.workload.hls.live_edge import StartPoint, hold_back, start_point, units
from chaos.workload.hls.playlist import (
    MediaPlaylist,
    MultivariantPlaylist,
    PlaylistError,
    parse_playlist,
)

FFMPEG_LIVE = b"""#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXT-X-MEDIA-SEQUENCE:17
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:34.000+0000
#EXTINF:2.005333,
live17.ts
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:36.005+0000
#EXTINF:1.994667,
live18.ts
#EXT-X-DISCONTINUITY
#EXTINF:2.000000,
live19.ts
"""

LL_HLS = b"""#EXTM3U
#EXT-X-TARGETDURATION:4
#EXT-X-VERSION:9
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.0,CAN-SKIP-UNTIL=24
#EXT-X-PART-INF:PART-TARGET=1.0
#EXT-X-MEDIA-SEQUENCE:100
#EXTINF:4.0,
s100.mp4
#EXT-X-PART:DURATION=1.0,URI="s101.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.0,URI="s101.1.mp4"
#EXT-X-PART:DURATION=1.0,URI="s101.2.mp4"
#EXT-X-PART:DURATION=1.0,URI="s101.3.mp4"
#EXTINF:4.0,
s101.mp4
#EXT-X-PART:DURATION=1.0,URI="s102.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=1.0,URI="s102.1.mp4"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s102.2.mp4"
"""

MULTIVARIANT = b"""#EXTM3U
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-STREAM-INF:BANDWIDTH=128000,AVERAGE-BANDWIDTH=96000,CODECS="mp4a.40.2"
hi/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2"
lo/index.m3u8
"""


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_an_ffmpeg_live_playlist_parses_with_sequence_dates_and_discontinuity() -> None:
    playlist = parse_playlist(FFMPEG_LIVE)
    assert isinstance(playlist, MediaPlaylist)
    assert playlist.target_duration == 2 and playlist.media_sequence == 17
    assert [s.sequence for s in playlist.segments] == [17, 18, 19]
    assert [s.uri for s in playlist.segments] == ["live17.ts", "live18.ts", "live19.ts"]
    assert [s.discontinuity for s in playlist.segments] == [False, False, True]
    dates = [s.program_date_time for s in playlist.segments]
    assert dates[0] == _at("2024-05-01T12:00:34")
    assert dates[1] == pytest.approx(_at("2024-05-01T12:00:36.005"))
    assert dates[2] == pytest.approx(dates[1] + 1.994667)  # extrapolated
    assert not playlist.ended and not playlist.low_latency
    assert playlist.next_sequence == 20


def test_an_ll_hls_playlist_lists_parts_server_control_and_the_preload_hint() -> None:
    playlist = parse_playlist(LL_HLS)
    assert isinstance(playlist, MediaPlaylist) and playlist.low_latency
    control = playlist.server_control
    assert control.can_block_reload and control.part_hold_back == 3.0
    assert control.can_skip_until == 24
    assert [len(s.parts) for s in playlist.segments] == [0, 4]
    assert playlist.segments[1].parts[0].independent
    assert [p.uri for p in playlist.partial] == ["s102.0.mp4", "s102.1.mp4"]
    assert playlist.preload_hint is not None and playlist.preload_hint.uri == "s102.2.mp4"
    assert playlist.next_sequence == 102


def test_a_multivariant_playlist_lists_its_variants() -> None:
    playlist = parse_playlist(MULTIVARIANT)
    assert isinstance(playlist, MultivariantPlaylist)
    assert [(v.uri, v.bandwidth) for v in playlist.variants] == [
        ("hi/index.m3u8", 128000),
        ("lo/index.m3u8", 64000),
    ]
    assert playlist.variants[0].average_bandwidth == 96000
    assert playlist.variants[0].codecs == "mp4a.40.2"


def test_byte_ranges_without_an_offset_follow_the_previous_range_of_the_uri() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXT-X-BYTERANGE:100@0\nall.aac\n"
        "#EXTINF:2,\n#EXT-X-BYTERANGE:50\nall.aac\n#EXT-X-ENDLIST\n"
    )
    playlist = parse_playlist(text)
    assert isinstance(playlist, MediaPlaylist) and playlist.ended
    ranges = [s.byterange for s in playlist.segments]
    assert [(r.offset, r.length) for r in ranges if r] == [(0, 100), (100, 50)]
    assert ranges[1] is not None and ranges[1].header() == "bytes=100-149"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (b"", 1, "#EXTM3U"),
        (b"#EXTINF:2,\na.ts\n", 1, "#EXTM3U"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:two,\na.ts\n", 3, "number"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n", 3, "without #EXTINF"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n#EXTINF:2,\na.ts\n", 4, "twice"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n", 3, "without a URI"),
        (b"#EXTM3U\n#EXTINF:2,\na.ts\n", 0, "TARGETDURATION"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:x\n", 3, "integer"),
        (b'#EXTM3U\n#EXT-X-STREAM-INF:CODECS="a"\nlo.m3u8\n', 2, "BANDWIDTH"),
        (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n", 2, "without a URI"),
        (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nx\n#EXTINF:2,\n", 4, "media-playlist tag"),
        (b'#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="a\n', 2, "attribute list"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:noon\n", 3, "ISO 8601"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n\xff\xfe\n", 4, "UTF-8"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART:DURATION=1\n", 3, "URI"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:-2\n", 2, ">= 0"),
        (b"#EXTM3U\n#EXT-X-TARGETDURATION:nan\n", 2, "finite"),
    ],
)
def test_malformed_playlists_name_the_line(text: bytes, line: int, words: str) -> None:
    with pytest.raises(PlaylistError) as caught:
        parse_playlist(text)
    assert caught.value.line == line
    assert words in str(caught.value)
    if line:
        assert f"line {line}" in str(caught.value)


# --- properties --------------------------------------------------------------------------

durations = st.floats(min_value=0.01, max_value=12.0, allow_nan=False).map(lambda d: round(d, 6))


@st.composite
def media_playlists(draw: st.DrawFn) -> tuple[str, dict[str, object]]:
    """A valid media playlist as text, with what it should parse to."""
    target = draw(st.integers(1, 12))
    sequence = draw(st.integers(0, 10**9))
    segments = draw(
        st.lists(st.tuples(durations, st.booleans(), st.integers(0, 4)), min_size=0, max_size=30)
    )
    partial = draw(st.integers(0, 3))
    ended = draw(st.booleans())
    date = draw(st.one_of(st.none(), st.integers(1_500_000_000, 1_900_000_000)))
    hold = draw(st.one_of(st.none(), st.floats(0.5, 30).map(lambda d: round(d, 3))))
    low_latency = any(p for _, _, p in segments) or partial > 0
    lines = ["#EXTM3U", "#EXT-X-VERSION:9", f"#EXT-X-TARGETDURATION:{target}"]
    if hold is not None:
        lines.append(f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={hold}")
    if low_latency:
        lines.append("#EXT-X-PART-INF:PART-TARGET=0.5")
    lines.append(f"#EXT-X-MEDIA-SEQUENCE:{sequence}")
    if date is not None:
        lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{datetime.fromtimestamp(date, UTC).isoformat()}")
    for n, (duration, discontinuity, parts) in enumerate(segments):
        if discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f'#EXT-X-PART:DURATION=0.5,URI="p{n}.{i}.mp4"' for i in range(parts)]
        lines += [f"#EXTINF:{duration},", f"seg{sequence + n}.ts"]
    lines += [f'#EXT-X-PART:DURATION=0.5,URI="next.{i}.mp4"' for i in range(partial)]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    expected = {
        "target": target,
        "sequence": sequence,
        "segments": segments,
        "partial": partial,
        "ended": ended,
        "date": date,
        "hold": hold,
    }
    return "\n".join(lines) + "\n", expected


@settings(max_examples=300, deadline=None)
@given(media_playlists())
def test_any_valid_media_playlist_parses_to_what_it_says(case: tuple[str, dict]) -> None:
    text, want = case
    playlist = parse_playlist(text.encode())
    assert isinstance(playlist, MediaPlaylist)
    assert playlist.target_duration == want["target"]
    assert playlist.media_sequence == want["sequence"]
    assert playlist.ended == want["ended"]
    assert playlist.server_control.part_hold_back == want["hold"]
    assert len(playlist.partial) == want["partial"]
    segments = want["segments"]
    assert [s.duration for s in playlist.segments] == [d for d, _, _ in segments]
    assert [s.discontinuity for s in playlist.segments] == [c for _, c, _ in segments]
    assert [len(s.parts) for s in playlist.segments] == [p for _, _, p in segments]
    assert [s.sequence for s in playlist.segments] == [
        want["sequence"] + n for n in range(len(segments))
    ]
    if want["date"] is not None and segments:
        at = float(want["date"])
        for segment in playlist.segments:
            assert segment.program_date_time == pytest.approx(at)
            at += segment.duration


@settings(max_examples=500, deadline=None)
@given(media_playlists(), st.data())
def test_corrupted_playlists_parse_or_raise_a_playlist_error(
    case: tuple[str, dict], data: st.DataObject
) -> None:
    lines = case[0].encode().split(b"\n")
    garbage = st.one_of(
        st.binary(max_size=40),
        st.sampled_from(
            [b"#EXTINF:", b"#EXTINF:x,", b"#EXT-X-STREAM-INF:BANDWIDTH=", b"#EXT-X-PART:URI=\"",
             b"#EXT-X-MEDIA-SEQUENCE:-1", b"#EXT-X-BYTERANGE:@", b"#EXT-X-START:TIME-OFFSET=",
             b"#EXT-X-PRELOAD-HINT:TYPE=X", b"#EXT-X-SERVER-CONTROL:PART-HOLD-BACK=z",
             b"#EXT-X-MAP:URI=", b"#EXT-X-PROGRAM-DATE-TIME:2024-13-45", b"\x00", b"\xc3("]
        ),
    )  # fmt: skip
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(lines)))
        if data.draw(st.booleans()) and lines:
            del lines[min(position, len(lines) - 1)]
        else:
            lines.insert(position, data.draw(garbage))
    blob = b"\n".join(lines)
    try:
        parse_playlist(blob)
    except PlaylistError as exc:
        assert 0 <= exc.line <= blob.count(b"\n") + 1


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_parse_or_raise_a_playlist_error(blob: bytes) -> None:
    with contextlib.suppress(PlaylistError):
        parse_playlist(b"#EXTM3U\n" + blob)


# --- the live-edge start rule ------------------------------------------------------------


def _remaining(listed: list[tuple[StartPoint, float]], point: StartPoint) -> float:
    index = [p for p, _ in listed].index(point)
    return sum(d for _, d in listed[index:])


@settings(max_examples=300, deadline=None)
@given(media_playlists(), st.booleans(), st.integers(1, 5))
def test_a_live_start_holds_back_the_target_latency(
    case: tuple[str, dict], low_latency: bool, count: int
) -> None:
    playlist = parse_playlist(case[0])
    assert isinstance(playlist, MediaPlaylist)
    point = start_point(playlist, low_latency=low_latency, sync_count=count)
    listed = units(playlist, low_latency and playlist.low_latency)
    if not listed:
        assert point is None
        return
    assert point is not None
    if playlist.ended:
        assert point == listed[0][0]
        return
    hold = hold_back(playlist, low_latency and playlist.low_latency, count)
    total = sum(d for _, d in listed)
    if total <= hold:
        assert point == listed[0][0]  # too short to hold back that far: from the start
        return
    # The unit that contains the position `hold` seconds before the end: at least `hold`
    # seconds from its start to the end, less than that from the next unit's start.
    assert _remaining(listed, point) >= hold - 1e-6
    index = [p for p, _ in listed].index(point)
    if index + 1 < len(listed):
        assert _remaining(listed, listed[index + 1][0]) < hold + 1e-6


def test_plain_hls_starts_three_target_durations_back_and_ll_hls_by_part_hold_back() -> None:
    plain = parse_playlist(FFMPEG_LIVE.replace(b"#EXT-X-DISCONTINUITY\n", b""))
    assert isinstance(plain, MediaPlaylist)
    assert start_point(plain) == StartPoint(17)  # 6 s listed, 3 x 2 s held back: the first
    ll = parse_playlist(LL_HLS)
    assert isinstance(ll, MediaPlaylist)
    # 4 s + 4 x 1 s parts + 2 x 1 s partial parts; PART-HOLD-BACK 3 s: 3 parts back.
    assert start_point(ll) == StartPoint(101, 3)
    # Without parts the player holds back 3 x 4 s from the end of 8 s: the first segment.
    assert start_point(ll, low_latency=False) == StartPoint(100)


def test_ext_x_start_overrides_the_hold_back() -> None:
    text = FFMPEG_LIVE.replace(b"#EXT-X-VERSION:3\n", b"#EXT-X-START:TIME-OFFSET=-1.0\n")
    playlist = parse_playlist(text)
    assert isinstance(playlist, MediaPlaylist) and playlist.start is not None
    assert start_point(playlist) == StartPoint(19)
    text = FFMPEG_LIVE.replace(b"#EXT-X-VERSION:3\n", b"#EXT-X-START:TIME-OFFSET=2.5\n")
    playlist = parse_playlist(text)
    assert isinstance(playlist, MediaPlaylist)
    assert start_point(playlist) == StartPoint(18)
