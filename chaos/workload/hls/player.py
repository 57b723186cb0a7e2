"""One HLS listener's player, without I/O: which request next, and what each answer means.

The adapter performs the requests this player asks for and hands back each answer; the player
turns them into what a person hears by feeding the probe's playout model one frame per segment
(or LL-HLS part), lasting its EXTINF (or DURATION), when the segment has fully arrived. So time
to first audio, stalls, drops, failure reasons and the reconnect policy mean what they mean for
every other stream format. What HLS adds is counted beside them: segments skipped (deleted, or
left behind by the playlist window — audio never heard), a playlist that stops growing (stale),
and the delay behind live from ``EXT-X-PROGRAM-DATE-TIME``.

The player behaves like hls.js and RFC 8216 §6.3: the multivariant playlist's variant by a
policy, a live start ``liveSyncDurationCount`` target durations back (or ``EXT-X-START``, or
``PART-HOLD-BACK`` for LL-HLS), reloads one target duration after the last load began (half of
it after an unchanged reload; LL-HLS: a blocking reload for the next part, ``_HLS_msn`` /
``_HLS_part``), segments fetched one after another in order, parts and the preload hint
fetched as soon as they are announced. Two channels, as a browser's connection pool gives a
player: playlists on one keep-alive connection, media on the other, so a blocking reload never
holds up a part.

Nothing outside the listener's endpoint is ever requested: a variant, segment or part on
another host or port fails the listener (``foreign_host``) instead of sending traffic there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Protocol

from chaos.audio.playout import Frame
from chaos.audio.segments import ReceivedSegment, container_of
from chaos.workload.hls.live_edge import LIVE_SYNC_DURATION_COUNT, StartPoint, start_point
from chaos.workload.hls.playlist import (
    ByteRange,
    MediaPlaylist,
    MultivariantPlaylist,
    Part,
    Playlist,
    PlaylistError,
)
from chaos.workload.hls.variant import VariantPolicy
from chaos.workload.probe import Events, Probe, Skipped, Stale, retry_after_seconds

#: RFC 8216 §6.3.4's rule of thumb for a live playlist that stopped growing (stale).
STALE_TARGET_DURATIONS = 1.5
#: A server holds a blocking reload at most 3 target durations (RFC 8216bis §6.2.5.2).
BLOCKING_TARGET_DURATIONS = 3.0
#: Reload failures in a row a playing listener rides out before it gives up (hls.js: 4 tries).
PLAYLIST_RETRIES = 3
#: Tries of one segment that fails with a 5xx or a broken connection (hls.js: fragment retries).
SEGMENT_TRIES = 3


#: Seconds of float slack when comparing a wake-up time with the moment it was due.
_SLACK = 1e-6


class Channel(IntEnum):
    PLAYLIST = 0
    MEDIA = 1


class Kind(StrEnum):
    PLAYLIST = "playlist"
    SEGMENT = "segment"
    PART = "part"
    INIT = "init"  # an EXT-X-MAP initialisation section (fetched for ears only)


@dataclass(frozen=True, slots=True)
class HlsOptions:
    """How an HLS listener plays. Limits turn hostile or broken servers into counted failures:
    a playlist over ``max_playlist_bytes`` (``playlist_too_large``), a segment over
    ``max_segment_bytes`` or still arriving after ``segment_timeout`` seconds
    (``segment_too_large``, ``segment_timeout``)."""

    variant: VariantPolicy = field(default_factory=VariantPolicy)
    low_latency: bool = True
    sync_count: int = LIVE_SYNC_DURATION_COUNT
    max_playlist_bytes: int = 4 * 1024 * 1024
    max_segment_bytes: int = 32 * 1024 * 1024
    segment_timeout: float = 20.0
    playlist_timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class Unit:
    """A piece of media to fetch and play: segment ``sequence`` (whole, or its ``part``)."""

    sequence: int
    part: int | None
    duration: float | None  # None: a preload hint, whose duration the next playlist says
    uri: str
    discontinuity: bool
    captured_at: float | None
    byterange: ByteRange | None = None
    init: str | None = None


@dataclass(frozen=True, slots=True)
class Fetch:
    """One request: ``target`` is the path (and query) on the listener's endpoint; ``url``
    the absolute URL (the base of relative URIs in its answer)."""

    kind: Kind
    channel: Channel
    url: str
    target: str
    timeout: float
    range: ByteRange | None = None
    unit: Unit | None = None


class Resolver(Protocol):
    """Resolves URIs against a base URL and parses playlist bodies (shared, cached)."""

    def resolve(self, base: str, uri: str) -> tuple[str, str] | None:
        """The absolute URL and its request target, or None when it leaves the endpoint."""

    def parse(self, url: str, body: bytes) -> Playlist:
        """Parse a playlist body; ``PlaylistError`` when malformed."""


class SegmentEar(Protocol):
    """An ear: hears each segment as received; what it returns rides on the playout frame."""

    def segment(self, received: ReceivedSegment) -> object: ...


@dataclass(slots=True)
class _Pending:
    """A hinted part that arrived before a playlist said how long it is."""

    unit: Unit
    url: str
    body: bytes
    content_type: str


@dataclass(slots=True)
class HlsPlayer:
    """Drive with ``start``, ``answer``, ``broken`` and ``wake``; after each call, perform the
    requests in ``fetches`` (then clear it) and call ``wake`` at ``wake_at``."""

    probe: Probe
    url: str
    options: HlsOptions
    resolver: Resolver
    ear: SegmentEar | None = None
    fetches: list[Fetch] = field(default_factory=list)
    wake_at: float | None = None
    media_url: str | None = None
    playlist: MediaPlaylist | None = None
    _cursor: StartPoint | None = None
    _slot: int = 0
    _media_busy: bool = False
    _hinted: tuple[int, int] | None = None  # the (sequence, part) of a hint being fetched
    _pending: _Pending | None = None
    _reload_due: float | None = None
    _reload_busy: bool = False
    _load_began: float = 0.0
    _grew_at: float = 0.0
    _reload_failures: int = 0
    _segment_tries: int = 0
    _next_discontinuity: bool = False
    _ended_at: float | None = None
    _inits: dict[str, bytes] = field(default_factory=dict)

    # --- driving ---------------------------------------------------------------------

    def start(self, now: float) -> None:
        resolved = self.resolver.resolve(self.url, self.url)
        assert resolved is not None, "the listener's own URL is on its endpoint"
        self._load(now, *resolved)

    def answer(
        self, now: float, fetch: Fetch, status: int, headers: Mapping[str, str], body: bytes
    ) -> Events:
        """The whole answer to ``fetch`` arrived (``body`` is empty for a non-ear's media)."""
        probe = self.probe
        probe.status = probe.status or status
        if fetch.kind is Kind.PLAYLIST:
            return self._playlist_answer(now, fetch, status, headers, body)
        if fetch.kind is Kind.INIT:
            return self._init_answer(now, fetch, body if 200 <= status < 300 else b"")
        return self._media_answer(now, fetch, status, headers, body)

    def broken(self, now: float, fetch: Fetch, reason: str, detail: str = "") -> Events:
        """``fetch`` got no (whole) answer: the connection failed, or a limit was hit."""
        if reason in ("playlist_too_large", "segment_too_large", "segment_timeout"):
            return self.probe.fail(now, reason, detail)
        if fetch.kind is Kind.PLAYLIST:
            return self._playlist_failed(now, reason, detail)
        if fetch.kind is Kind.INIT:
            return self._init_answer(now, fetch, b"")
        return self._segment_failed(now, fetch, reason)

    def wake(self, now: float) -> Events:
        """Time passed: reload when due, notice a stale playlist, end a finished stream."""
        events: Events = ()
        due = now + _SLACK  # a timer set for t fires at t: float rounding must not postpone it
        if self._ended_at is not None and due >= self._ended_at:
            return self.probe.closed(now, "ended")
        deadline = self._stale_deadline()
        if deadline is not None and self._blocking_query() and due >= deadline:
            events = self._stale(now)  # a blocking reload still held: nothing new came
        if self._reload_due is not None and due >= self._reload_due and not self._reload_busy:
            self._reload(now)
        self._schedule()
        return events

    # --- playlists -------------------------------------------------------------------

    def _load(self, now: float, url: str, target: str, block: str = "") -> None:
        timeout = self.options.playlist_timeout
        if block and self.playlist is not None:
            timeout += BLOCKING_TARGET_DURATIONS * self.playlist.target_duration
        self._reload_busy = True
        self._reload_due = None
        self._load_began = now
        self.probe.requests += 1
        self.fetches.append(Fetch(Kind.PLAYLIST, Channel.PLAYLIST, url, target + block, timeout))

    def _reload(self, now: float) -> None:
        assert self.media_url is not None
        resolved = self.resolver.resolve(self.media_url, self.media_url)
        assert resolved is not None
        self._load(now, resolved[0], resolved[1], self._blocking_query())

    def _blocking_query(self) -> str:
        """``_HLS_msn``/``_HLS_part`` for the part after the last one listed, when the server
        can hold the request until it exists (RFC 8216bis §6.2.5.2)."""
        playlist = self.playlist
        if playlist is None or not self._uses_parts(playlist):
            return ""
        if not playlist.server_control.can_block_reload:
            return ""
        sep = "&" if "?" in (self.media_url or "") else "?"
        return f"{sep}_HLS_msn={playlist.next_sequence}&_HLS_part={len(playlist.partial)}"

    def _uses_parts(self, playlist: MediaPlaylist) -> bool:
        return self.options.low_latency and playlist.low_latency

    def _playlist_answer(
        self, now: float, fetch: Fetch, status: int, headers: Mapping[str, str], body: bytes
    ) -> Events:
        self._reload_busy = False
        if not 200 <= status < 300:
            wait = retry_after_seconds(headers.get("retry-after"))
            return self._playlist_failed(now, f"http_{status}", retry_after=wait)
        try:
            parsed = self.resolver.parse(fetch.url, body)
        except PlaylistError as exc:
            return self.probe.fail(now, "playlist_invalid", str(exc))
        self._reload_failures = 0
        if isinstance(parsed, MultivariantPlaylist):
            return self._multivariant(now, fetch, parsed)
        if self.media_url is None:
            self.media_url = fetch.url
        return self._media_playlist(now, parsed)

    def _multivariant(self, now: float, fetch: Fetch, playlist: MultivariantPlaylist) -> Events:
        if self.media_url is not None or fetch.url != self.url:
            return self.probe.fail(now, "playlist_loop", "a variant is a multivariant playlist")
        variant = self.options.variant.choose(playlist.variants)
        if variant is None:
            return self.probe.fail(
                now, "playlist_invalid", "a multivariant playlist with no variant"
            )
        resolved = self.resolver.resolve(fetch.url, variant.uri)
        if resolved is None:
            return self.probe.fail(now, "foreign_host", f"variant {variant.uri[:120]}")
        self.media_url = resolved[0]
        self._load(now, *resolved)
        return ()

    def _playlist_failed(
        self, now: float, reason: str, detail: str = "", retry_after: float | None = None
    ) -> Events:
        """Before audio, a failed playlist fails the join; a playing listener rides out a few
        failed reloads (its buffer plays on) before it gives up."""
        self._reload_busy = False
        playlist = self.playlist
        if self.probe.playing_since is None or playlist is None:
            return self.probe.fail(now, reason, detail, retry_after)
        self._reload_failures += 1
        if self._reload_failures > PLAYLIST_RETRIES:
            return self.probe.closed(now, reason)
        self._reload_due = now + max(playlist.target_duration / 2, retry_after or 0.0)
        self._schedule()
        return ()

    def _media_playlist(self, now: float, playlist: MediaPlaylist) -> Events:
        previous = self.playlist
        self.playlist = playlist
        events: Events = ()
        grew = previous is None or _newest(playlist) > _newest(previous)
        if grew:
            self._grew_at = self._load_began
            self.probe.stale = False
        else:
            deadline = self._stale_deadline()
            if deadline is not None and self._load_began + _SLACK >= deadline:
                events = self._stale(now)
        if self._cursor is None:
            self._cursor = start_point(
                playlist, low_latency=self.options.low_latency, sync_count=self.options.sync_count
            )
        elif playlist.next_sequence < self._cursor.sequence - 1 or (
            previous is not None and playlist.media_sequence < previous.media_sequence
        ):
            # The sequence went back: a restarted packager. Start again from the live edge.
            self._cursor = start_point(
                playlist, low_latency=self.options.low_latency, sync_count=self.options.sync_count
            )
            self._next_discontinuity = True
        elif self._cursor.sequence < playlist.media_sequence and not self._media_busy:
            events += self._fell_behind(now, playlist, previous)
        if self._pending is not None:
            events += self._deliver_pending(now)
        # RFC 8216 §6.3.4: reload a target duration after the last load began, half of it
        # after an unchanged one; LL-HLS reloads block on the next part instead.
        if self._blocking_query():
            # A server that answers at once without the part asked for is not blocking:
            # wait a part target then, or the player would poll it in a tight loop.
            wait = 0.0 if grew else (playlist.part_target or playlist.target_duration / 2)
            self._reload_due = self._load_began + wait
        else:
            interval = playlist.target_duration
            if self._uses_parts(playlist) and playlist.part_target:
                interval = playlist.part_target
            self._reload_due = (
                None if playlist.ended else self._load_began + interval / (1 if grew else 2)
            )
        if not self._media_busy:
            events += self._media_next(now)
        if self._reload_due is not None and self._reload_due <= now and not self._reload_busy:
            self._reload(now)
        self._schedule()
        return events

    def _stale_deadline(self) -> float | None:
        """When the playlist counts as stale if nothing new is listed by then: 1.5 target
        durations after the load that last saw it grow (plain reloads are judged by the
        answer to the load begun then, a held blocking reload by the clock)."""
        playlist = self.playlist
        if playlist is None or playlist.ended or self.probe.stale:
            return None
        return self._grew_at + STALE_TARGET_DURATIONS * playlist.target_duration

    def _stale(self, now: float) -> Events:
        self.probe.stale = True
        return (Stale(now),)

    def _fell_behind(
        self, now: float, playlist: MediaPlaylist, previous: MediaPlaylist | None
    ) -> Events:
        """The next segment fell out of the playlist's window before the listener came to it:
        jump to the live edge like hls.js, counting what it never hears."""
        assert self._cursor is not None
        resume = start_point(
            playlist, low_latency=self.options.low_latency, sync_count=self.options.sync_count
        )
        if resume is None:
            return ()
        lost = range(self._cursor.sequence, resume.sequence)
        seconds = sum(_duration_of(s, playlist, previous) for s in lost)
        self._cursor = resume
        self._next_discontinuity = True
        return (Skipped(now, "behind", len(lost), seconds),) if lost else ()

    # --- media -----------------------------------------------------------------------

    def _media_next(self, now: float) -> Events:
        """Ask for the next unit of media, if the playlist lists it (or hints it)."""
        playlist, cursor = self.playlist, self._cursor
        if self._media_busy or playlist is None or cursor is None or self.probe.ended:
            return ()
        found = self._unit(playlist, cursor)
        if found is None:
            if playlist.ended and cursor.sequence >= playlist.next_sequence:
                self._ended_at = now + self.probe.playout.remaining(now)
                self._schedule()
            return ()
        self._cursor, unit = found
        base = self.media_url or self.url
        if self.ear is not None and unit.init is not None and unit.init not in self._inits:
            init = self.resolver.resolve(base, unit.init)
            if init is None:
                return self.probe.fail(now, "foreign_host", f"map {unit.init[:120]}")
            self._request(Kind.INIT, init, None, unit)
            return ()
        resolved = self.resolver.resolve(base, unit.uri)
        if resolved is None:
            return self.probe.fail(now, "foreign_host", f"segment {unit.uri[:120]}")
        if resolved[0] in (self.media_url, self.url):
            return self.probe.fail(
                now, "playlist_loop", f"segment {unit.uri[:120]} is the playlist"
            )
        if unit.duration is None:
            self._hinted = (unit.sequence, unit.part or 0)
        kind = Kind.SEGMENT if unit.part is None else Kind.PART
        self._request(kind, resolved, unit.byterange, unit)
        return ()

    def _request(
        self, kind: Kind, resolved: tuple[str, str], byterange: ByteRange | None, unit: Unit
    ) -> None:
        self._media_busy = True
        self.probe.requests += 1
        timeout = self.options.segment_timeout
        self.fetches.append(Fetch(kind, Channel.MEDIA, *resolved, timeout, byterange, unit))

    def _unit(self, playlist: MediaPlaylist, cursor: StartPoint) -> tuple[StartPoint, Unit] | None:
        """The unit at ``cursor`` (or, past a segment's last part, the next segment's first):
        a listed segment or part, the hinted part, or None while the playlist lists nothing
        there yet."""
        parts_wanted = self._uses_parts(playlist)
        while True:
            index = cursor.sequence - playlist.media_sequence
            if index < 0:
                return None  # fell behind: the next reload resyncs
            if index >= len(playlist.segments):
                break
            segment = playlist.segments[index]
            part = cursor.part
            if part is None or not parts_wanted:
                unit = Unit(
                    segment.sequence,
                    None,
                    segment.duration,
                    segment.uri,
                    segment.discontinuity,
                    segment.program_date_time,
                    segment.byterange,
                    segment.init,
                )
                return StartPoint(segment.sequence), unit
            if part < len(segment.parts):
                return cursor, _part_unit(
                    segment.sequence, segment.parts, part, segment.program_date_time,
                    segment.discontinuity, segment.init,
                )  # fmt: skip
            cursor = StartPoint(cursor.sequence + 1, self._first_part(playlist, index + 1))
        if index > len(playlist.segments) or not parts_wanted:
            return None
        part = cursor.part or 0
        init = playlist.segments[-1].init if playlist.segments else None
        if part < len(playlist.partial):
            unit = _part_unit(
                cursor.sequence, playlist.partial, part, _date_after(playlist), False, init
            )
            return StartPoint(cursor.sequence, part), unit
        hint = playlist.preload_hint
        if hint is None or hint.kind != "PART" or part != len(playlist.partial):
            return None
        if self._hinted == (cursor.sequence, part):
            return None  # already fetched (or refused): wait for the playlist to list it
        return StartPoint(cursor.sequence, part), Unit(
            cursor.sequence, part, None, hint.uri, False, None, None, init
        )

    def _first_part(self, playlist: MediaPlaylist, index: int) -> int | None:
        """Start a segment by its parts when it lists them (or is the one in progress)."""
        if not self._uses_parts(playlist):
            return None
        if index < len(playlist.segments):
            return 0 if playlist.segments[index].parts else None
        return 0

    def _init_answer(self, now: float, fetch: Fetch, body: bytes) -> Events:
        """An init section arrived (or could not: the ear then hears decode errors)."""
        self._media_busy = False
        if fetch.unit is not None and fetch.unit.init is not None:
            self._inits[fetch.unit.init] = body
        return self._media_next(now)

    def _media_answer(
        self, now: float, fetch: Fetch, status: int, headers: Mapping[str, str], body: bytes
    ) -> Events:
        self._media_busy = False
        unit = fetch.unit
        assert unit is not None
        if status in (404, 410):
            if unit.duration is None:
                return ()  # a hint not served yet: the next playlist lists the part
            self._segment_tries = 0
            self._advance(unit)
            return (Skipped(now, "gone", 1, unit.duration), *self._media_next(now))
        if not 200 <= status < 300:
            return self._segment_failed(now, fetch, f"http_{status}")
        if body[:7] == b"#EXTM3U":
            return self.probe.fail(now, "playlist_loop", f"segment {unit.uri[:120]} is a playlist")
        self._segment_tries = 0
        content_type = headers.get("content-type", "")
        if unit.duration is None:  # a hinted part: wait for the playlist to say its duration
            self._pending = _Pending(unit, fetch.url, body, content_type)
            return self._deliver_pending(now)
        return self._play(now, unit, unit.duration, fetch.url, body, content_type)

    def _deliver_pending(self, now: float) -> Events:
        pending, playlist = self._pending, self.playlist
        if pending is None or playlist is None:
            return ()
        hinted = StartPoint(pending.unit.sequence, pending.unit.part)
        found = self._unit(playlist, hinted)
        if found is None or found[0] != hinted or found[1].duration is None:
            if pending.unit.sequence < playlist.media_sequence:
                self._pending = self._hinted = None  # gone from the window while waiting
                return self._media_next(now)
            return ()  # not listed yet: the blocking reload brings it
        self._pending = self._hinted = None
        listed = found[1]
        assert listed.duration is not None
        self._cursor = hinted
        events = self._play(
            now, listed, listed.duration, pending.url, pending.body, pending.content_type
        )
        return events + self._media_next(now)

    def _play(
        self, now: float, unit: Unit, duration: float, url: str, body: bytes, content_type: str
    ) -> Events:
        discontinuity = unit.discontinuity or self._next_discontinuity
        self._next_discontinuity = False
        payload: object = None
        if self.ear is not None:
            payload = self.ear.segment(
                ReceivedSegment(
                    uri=url,
                    data=body,
                    container=container_of(unit.uri, content_type),
                    media_sequence=unit.sequence,
                    duration=duration,
                    discontinuity=discontinuity,
                    slot=self._slot,
                    part=unit.part,
                    init=self._inits.get(unit.init, b"") if unit.init else b"",
                )
            )
        frame = Frame(self._slot, duration, payload, unit.captured_at)
        self._slot += 1
        self._advance(unit)
        events = self.probe.received(now, [frame])
        return events + self._media_next(now)

    def _advance(self, unit: Unit) -> None:
        """Move past ``unit``: its segment's next part, or the next segment."""
        if unit.part is not None:
            self._cursor = StartPoint(unit.sequence, unit.part + 1)
            return
        playlist = self.playlist
        following = unit.sequence + 1
        first = (
            None
            if playlist is None
            else self._first_part(playlist, following - playlist.media_sequence)
        )
        self._cursor = StartPoint(following, first)

    def _segment_failed(self, now: float, fetch: Fetch, reason: str) -> Events:
        """A 5xx or a broken connection: try the segment again, then skip it."""
        self._media_busy = False
        unit = fetch.unit
        assert unit is not None
        if unit.duration is None:  # a hint: the playlist will list the part to fetch
            return ()
        self._segment_tries += 1
        if self._segment_tries < SEGMENT_TRIES:
            return self._media_next(now)
        self._segment_tries = 0
        self._advance(unit)
        events: Events = (Skipped(now, reason, 1, unit.duration),)
        if self.probe.playing_since is None:
            return events + self.probe.fail(now, reason)
        return events + self._media_next(now)

    def _schedule(self) -> None:
        times = [t for t in (self._reload_due, self._ended_at) if t is not None]
        deadline = self._stale_deadline()
        if deadline is not None and self._blocking_query():
            times.append(deadline)
        self.wake_at = min(times) if times else None


def _newest(playlist: MediaPlaylist) -> tuple[int, int]:
    """How far a playlist reaches: its next sequence number and the parts listed of it."""
    return (playlist.next_sequence, len(playlist.partial))


def _date_after(playlist: MediaPlaylist) -> float | None:
    """The program date-time of the segment after the last one listed."""
    if not playlist.segments:
        return None
    last = playlist.segments[-1]
    return None if last.program_date_time is None else last.program_date_time + last.duration


def _duration_of(sequence: int, playlist: MediaPlaylist, previous: MediaPlaylist | None) -> float:
    """A segment's EXTINF from whichever playlist listed it, else one target duration."""
    for listed in (playlist, previous):
        if listed is not None:
            index = sequence - listed.media_sequence
            if 0 <= index < len(listed.segments):
                return listed.segments[index].duration
    return playlist.target_duration


def _part_unit(
    sequence: int,
    parts: tuple[Part, ...],
    index: int,
    segment_date: float | None,
    discontinuity: bool,
    init: str | None,
) -> Unit:
    """Part ``index`` of segment ``sequence``: dated by the parts before it."""
    part = parts[index]
    date = None if segment_date is None else segment_date + sum(p.duration for p in parts[:index])
    return Unit(
        sequence, index, part.duration, part.uri, discontinuity and index == 0, date,
        part.byterange, init,
    )  # fmt: skip
