"""The sans-IO HLS player against scripted answers: what it asks for, when, and what each
answer means for the probe (RFC 8216 §6.3 reload timing, live-edge start, skipped and stale
media, LL-HLS blocking reloads, parts and preload hints, the endpoint rule, limits)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.workload.hls.player import (
    PLAYLIST_RETRIES,
    Fetch,
    HlsOptions,
    HlsPlayer,
    Kind,
)
from chaos.workload.hls.resolver import EndpointResolver
from chaos.workload.hls.variant import VariantPolicy
from chaos.workload.probe import Dropped, Failed, FirstAudio, Probe, Skipped, Stale

URL = "http://127.0.0.1:8080/live/index.m3u8"


def media(
    first: int, count: int, target: int = 2, *, ended: bool = False, date: float = 0
) -> bytes:
    lines = ["#EXTM3U", f"#EXT-X-TARGETDURATION:{target}", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for n in range(first, first + count):
        lines += [f"#EXT-X-PROGRAM-DATE-TIME:{_iso(date + n * target)}", f"#EXTINF:{target}.0,"]
        lines.append(f"seg{n}.ts")
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return ("\n".join(lines) + "\n").encode()


def _iso(seconds: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, UTC).isoformat()


@dataclass
class Rig:
    """A player and everything it did, driven by hand."""

    options: HlsOptions = field(default_factory=HlsOptions)
    events: list[object] = field(default_factory=list)
    probe: Probe = field(init=False)
    player: HlsPlayer = field(init=False)

    def __post_init__(self) -> None:
        self.probe = Probe(None, requested_at=0.0, target_delay=0.5, wall_offset=0.0)
        resolver = EndpointResolver("127.0.0.1", 8080)
        self.player = HlsPlayer(self.probe, URL, self.options, resolver)

    def take(self) -> list[Fetch]:
        fetches, self.player.fetches = self.player.fetches, []
        return fetches

    def answer(self, now: float, fetch: Fetch, body: bytes = b"x", status: int = 200) -> None:
        self.events += self.player.answer(now, fetch, status, {}, body)

    def wake(self, now: float) -> None:
        self.events += self.player.wake(now)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def _one(fetches: list[Fetch], kind: Kind) -> Fetch:
    found = [f for f in fetches if f.kind is kind]
    assert len(found) == 1, fetches
    return found[0]


def test_a_join_loads_the_playlist_then_starts_three_target_durations_back() -> None:
    rig = Rig()
    rig.player.start(0.0)
    playlist = _one(rig.take(), Kind.PLAYLIST)
    assert playlist.target == "/live/index.m3u8"
    rig.answer(0.1, playlist, media(10, 6))
    segment = _one(rig.take(), Kind.SEGMENT)
    assert segment.target == "/live/seg13.ts"  # 12 s listed, 6 s held back
    rig.answer(0.3, segment)
    assert [type(e) for e in rig.events] == [FirstAudio]
    assert rig.probe.ttfa == pytest.approx(0.3)
    nxt = _one(rig.take(), Kind.SEGMENT)
    assert nxt.target == "/live/seg14.ts"  # the next one at once, in order


def test_reloads_wait_a_target_duration_from_the_last_load_and_half_after_no_change() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.2, _one(rig.take(), Kind.PLAYLIST), media(0, 3))
    rig.take()
    assert rig.player.wake_at == pytest.approx(2.0)  # from when the load began (t = 0)
    rig.wake(2.0)
    reload = _one(rig.take(), Kind.PLAYLIST)
    rig.answer(2.1, reload, media(0, 3))  # unchanged
    assert rig.player.wake_at == pytest.approx(3.0)  # half the target duration after t = 2
    rig.wake(3.0)
    rig.answer(3.1, _one(rig.take(), Kind.PLAYLIST), media(1, 3))  # grew
    assert rig.player.wake_at == pytest.approx(5.0)


def test_a_playlist_that_stops_growing_is_stale_after_one_and_a_half_target_durations() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.1, _one(rig.take(), Kind.PLAYLIST), media(0, 3, target=4))
    rig.wake(4.0)  # a target duration after the load began
    rig.answer(4.1, _one(rig.take(), Kind.PLAYLIST), media(0, 3, target=4))
    assert not rig.of(Stale)
    assert rig.player.wake_at == pytest.approx(6.0)  # unchanged: half a target duration
    rig.wake(6.0)
    rig.answer(6.1, _one(rig.take(), Kind.PLAYLIST), media(0, 3, target=4))
    assert rig.of(Stale) == [Stale(6.1)] and rig.probe.stale  # 1.5 x 4 s without growth
    rig.wake(8.0)
    rig.answer(8.1, _one(rig.take(), Kind.PLAYLIST), media(0, 3, target=4))
    assert len(rig.of(Stale)) == 1  # one episode, not one per reload
    rig.wake(10.0)
    rig.answer(10.1, _one(rig.take(), Kind.PLAYLIST), media(1, 3, target=4))
    assert not rig.probe.stale


def test_a_blocking_reload_held_past_one_and_a_half_target_durations_is_stale() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), ll_playlist(0, 3, 2))
    rig.take()  # the blocking reload: never answered
    assert rig.player.wake_at == pytest.approx(3.0)
    rig.wake(3.0)
    assert rig.of(Stale) == [Stale(3.0)]


def test_a_segment_gone_404_is_skipped_audio_and_the_next_one_follows() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), media(0, 4))
    first = _one(rig.take(), Kind.SEGMENT)
    rig.answer(0.1, first, b"", status=404)
    assert rig.of(Skipped) == [Skipped(0.1, "gone", 1, 2.0)]
    assert _one(rig.take(), Kind.SEGMENT).target == "/live/seg2.ts"


def test_falling_behind_between_reloads_counts_every_segment_never_heard() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), media(0, 3))
    rig.answer(0.5, _one(rig.take(), Kind.SEGMENT))  # seg0 played
    pending = _one(rig.take(), Kind.SEGMENT)  # seg1
    rig.answer(0.9, pending, b"", status=404)  # seg1 gone
    rig.events.clear()
    asked = _one(rig.take(), Kind.SEGMENT)  # seg2
    rig.answer(1.0, asked, b"", status=404)
    rig.events.clear()
    assert not [f for f in rig.take() if f.kind is Kind.SEGMENT]  # seg3 not listed yet
    rig.wake(2.0)
    rig.answer(2.0, _one(rig.take(), Kind.PLAYLIST), media(10, 5))
    # seg3..seg12 never heard: 3 x 2 s back from the end of seg14 is seg12... seg12 plays.
    skipped = rig.of(Skipped)
    assert skipped == [Skipped(2.0, "behind", 9, 18.0)]
    assert _one(rig.take(), Kind.SEGMENT).target == "/live/seg12.ts"


def test_endlist_plays_out_the_buffer_and_ends_the_stream() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), media(0, 2, ended=True))
    rig.answer(0.1, _one(rig.take(), Kind.SEGMENT))
    rig.answer(0.2, _one(rig.take(), Kind.SEGMENT))
    assert not rig.take()
    assert rig.player.wake_at == pytest.approx(4.1)  # 4 s of audio from t = 0.1
    rig.wake(4.1)
    assert rig.of(Dropped) == [Dropped(4.1, "ended")]
    assert rig.probe.playout.played_seconds == pytest.approx(4.0)


def test_a_variant_is_chosen_by_policy_and_the_endpoint_is_never_left() -> None:
    multivariant = (
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=128000\nhi.m3u8\n"
        b"#EXT-X-STREAM-INF:BANDWIDTH=64000\nlo.m3u8\n"
        b"#EXT-X-STREAM-INF:BANDWIDTH=32000\nhttp://elsewhere.example/tiny.m3u8\n"
    )
    for policy, want in (("highest", "/live/hi.m3u8"), ("96000", "/live/lo.m3u8")):
        rig = Rig(HlsOptions(variant=VariantPolicy.parse(policy)))
        rig.player.start(0.0)
        rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), multivariant)
        assert _one(rig.take(), Kind.PLAYLIST).target == want
    rig = Rig(HlsOptions(variant=VariantPolicy.parse("lowest")))
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), multivariant)
    assert not rig.take()  # nothing was asked of elsewhere.example
    assert [(e.reason, "elsewhere" in e.detail) for e in rig.of(Failed)] == [("foreign_host", True)]


@pytest.mark.parametrize(
    ("segment_uri", "reason"),
    [("index.m3u8", "playlist_loop"), ("http://127.0.0.1:9999/seg.ts", "foreign_host")],
)
def test_a_segment_that_is_the_playlist_or_elsewhere_fails_the_join(
    segment_uri: str, reason: str
) -> None:
    body = f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{segment_uri}\n".encode()
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), body)
    assert not [f for f in rig.take() if f.kind is not Kind.PLAYLIST]
    assert [e.reason for e in rig.of(Failed)] == [reason]


def test_a_segment_whose_body_is_a_playlist_is_a_loop() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), media(0, 3))
    rig.answer(0.1, _one(rig.take(), Kind.SEGMENT), media(0, 3))
    assert [e.reason for e in rig.of(Failed)] == ["playlist_loop"]


def test_a_malformed_playlist_fails_the_join_naming_the_line() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), b"#EXTM3U\n#EXT-X-TARGETDURATION:2\nx.ts\n")
    (failed,) = rig.of(Failed)
    assert failed.reason == "playlist_invalid" and "line 3" in failed.detail


def test_a_playing_listener_rides_out_a_few_failed_reloads_then_drops() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), media(0, 3))
    rig.answer(0.1, _one(rig.take(), Kind.SEGMENT))
    now = 0.1
    for _ in range(PLAYLIST_RETRIES + 1):
        assert rig.player.wake_at is not None
        now = rig.player.wake_at
        rig.wake(now)
        reload = _one([f for f in rig.take() if f.kind is Kind.PLAYLIST], Kind.PLAYLIST)
        rig.answer(now, reload, b"", status=503)
    assert [e.reason for e in rig.of(Dropped)] == ["http_503"]


def test_a_failed_first_playlist_fails_the_join_with_its_status_and_retry_after() -> None:
    rig = Rig()
    rig.player.start(0.0)
    fetch = _one(rig.take(), Kind.PLAYLIST)
    rig.events += rig.player.answer(0.1, fetch, 503, {"retry-after": "4"}, b"")
    assert rig.of(Failed) == [Failed(0.1, "http_503", "", 4.0)]


def test_limits_fail_the_listener_with_their_reason() -> None:
    rig = Rig()
    rig.player.start(0.0)
    fetch = _one(rig.take(), Kind.PLAYLIST)
    rig.events += rig.player.broken(0.1, fetch, "playlist_too_large", "50000000 bytes")
    assert [e.reason for e in rig.of(Failed)] == ["playlist_too_large"]


LL = """#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MEDIA-SEQUENCE:{first}
{body}"""


def ll_playlist(first: int, complete: int, parts: int, hint: bool = True) -> bytes:
    lines = []
    for n in range(first, first + complete):
        lines += [f'#EXT-X-PART:DURATION=0.5,URI="s{n}.{i}.mp4"' for i in range(4)]
        lines += ["#EXTINF:2.0,", f"s{n}.mp4"]
    following = first + complete
    lines += [f'#EXT-X-PART:DURATION=0.5,URI="s{following}.{i}.mp4"' for i in range(parts)]
    if hint:
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="s{following}.{parts}.mp4"')
    return LL.format(first=first, body="\n".join(lines) + "\n").encode()


def test_ll_hls_starts_by_part_reloads_blocking_and_fetches_the_hinted_part() -> None:
    rig = Rig()
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), ll_playlist(0, 3, 2))
    fetches = rig.take()
    reload = _one(fetches, Kind.PLAYLIST)
    assert reload.target == "/live/index.m3u8?_HLS_msn=3&_HLS_part=2"  # at once, blocking
    part = _one(fetches, Kind.PART)
    assert part.target == "/live/s3.0.mp4"  # 1 s held back: two parts before the end
    rig.answer(0.1, part)
    assert rig.of(FirstAudio) and rig.probe.ttfa == pytest.approx(0.1)
    nxt = _one(rig.take(), Kind.PART)
    assert nxt.target == "/live/s3.1.mp4"
    rig.answer(0.2, nxt)
    hinted = _one(rig.take(), Kind.PART)
    assert hinted.target == "/live/s3.2.mp4" and hinted.unit is not None
    assert hinted.unit.duration is None  # the hint: its duration comes with the playlist
    played = rig.probe.playout.frames_received
    rig.answer(0.5, hinted)
    assert rig.probe.playout.frames_received == played  # held until the playlist lists it
    rig.answer(0.5, reload, ll_playlist(0, 3, 3))
    assert rig.probe.playout.frames_received == played + 1
    fetches = rig.take()
    assert _one(fetches, Kind.PLAYLIST).target.endswith("_HLS_msn=3&_HLS_part=3")
    assert _one(fetches, Kind.PART).target == "/live/s3.3.mp4"


def test_ll_hls_can_be_turned_off_to_play_whole_segments() -> None:
    rig = Rig(HlsOptions(low_latency=False))
    rig.player.start(0.0)
    rig.answer(0.0, _one(rig.take(), Kind.PLAYLIST), ll_playlist(0, 4, 2))
    fetches = rig.take()
    assert _one(fetches, Kind.SEGMENT).target == "/live/s1.mp4"
    assert not [f for f in fetches if f.kind is Kind.PLAYLIST]  # plain reload timing


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["grow", "same", "gone", "ok", "wake", "jump"]), max_size=40))
def test_any_sequence_of_answers_keeps_media_in_order_and_never_raises(steps: list[str]) -> None:
    """Whatever the server does, segments are asked for in increasing order, at most one at
    a time, and every frame played has the next slot."""
    rig = Rig()
    rig.player.start(0.0)
    first, count, now = 0, 4, 0.0
    asked: list[int] = []
    in_flight: list[Fetch] = []
    for step in steps:
        now += 0.3
        fetches = rig.take()
        in_flight += fetches
        asked += [f.unit.sequence for f in fetches if f.unit is not None]
        assert len([f for f in in_flight if f.kind is Kind.SEGMENT]) <= 1
        if rig.probe.ended:
            break
        if step == "wake":
            rig.wake(max(now, rig.player.wake_at or now))
            continue
        playlists = [f for f in in_flight if f.kind is Kind.PLAYLIST]
        segments = [f for f in in_flight if f.kind is Kind.SEGMENT]
        if step in ("grow", "same", "jump") and playlists:
            first += {"grow": 1, "same": 0, "jump": 7}[step]
            in_flight.remove(playlists[0])
            rig.answer(now, playlists[0], media(first, count))
        elif step in ("gone", "ok") and segments:
            in_flight.remove(segments[0])
            rig.answer(now, segments[0], b"x", status=404 if step == "gone" else 200)
    assert asked == sorted(asked)
    assert rig.probe.playout.out_of_order_frames == 0
    assert rig.probe.playout.duplicate_frames == 0
