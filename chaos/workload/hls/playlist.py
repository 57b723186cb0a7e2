"""HLS playlists (RFC 8216 and its LL-HLS revision) as data, parsed without I/O.

A listener reloads its media playlist about once per target duration, so in a storm the parser
runs thousands of times a second; it reads only what a player acts on (segments, their
durations, sequence numbers, discontinuities, dates, the LL-HLS parts, server control and
preload hint, variants) and ignores the tags it does not need, as RFC 8216 §4.1 tells clients
to. Malformed input is a ``PlaylistError`` naming the line, never another exception, so a broken
server becomes a counted failure with a reason instead of a crashed listener.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from chaos.workload.http import ProtocolError


class PlaylistError(ProtocolError):
    """A playlist that breaks RFC 8216; ``line`` is 1-based (0: the playlist as a whole)."""

    def __init__(self, line: int, what: str) -> None:
        self.line = line
        super().__init__(f"playlist line {line}: {what}" if line else f"playlist: {what}")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """``length`` bytes from ``offset`` of the resource (``EXT-X-BYTERANGE``)."""

    length: int
    offset: int

    def header(self) -> str:
        """The HTTP ``Range`` header value that fetches this range."""
        return f"bytes={self.offset}-{self.offset + self.length - 1}"


@dataclass(frozen=True, slots=True)
class Part:
    """An LL-HLS partial segment (``EXT-X-PART``)."""

    uri: str
    duration: float
    independent: bool = False
    gap: bool = False
    byterange: ByteRange | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """A media segment. ``program_date_time``: the wall-clock time (Unix seconds) of its first
    sample, from ``EXT-X-PROGRAM-DATE-TIME`` or extrapolated from the nearest one before it.
    ``init``: the URI of its ``EXT-X-MAP`` initialisation section (fMP4)."""

    uri: str
    duration: float
    sequence: int
    discontinuity: bool = False
    program_date_time: float | None = None
    gap: bool = False
    byterange: ByteRange | None = None
    init: str | None = None
    parts: tuple[Part, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerControl:
    """``EXT-X-SERVER-CONTROL``: what the server offers LL-HLS clients."""

    can_block_reload: bool = False
    part_hold_back: float | None = None
    hold_back: float | None = None
    can_skip_until: float | None = None


@dataclass(frozen=True, slots=True)
class StartOffset:
    """``EXT-X-START``: where the server asks players to begin (negative: from the end)."""

    time_offset: float
    precise: bool = False


@dataclass(frozen=True, slots=True)
class PreloadHint:
    """``EXT-X-PRELOAD-HINT``: the next part (or map) the server will serve, requestable now."""

    kind: str
    uri: str
    byterange_start: int | None = None


@dataclass(frozen=True, slots=True)
class MediaPlaylist:
    """``partial``: the parts of the segment the server is still producing (after the last
    complete segment); its sequence number is ``next_sequence``."""

    target_duration: float
    media_sequence: int
    segments: tuple[Segment, ...]
    ended: bool = False
    playlist_type: str | None = None
    discontinuity_sequence: int = 0
    start: StartOffset | None = None
    part_target: float | None = None
    server_control: ServerControl = ServerControl()
    partial: tuple[Part, ...] = ()
    preload_hint: PreloadHint | None = None

    @property
    def next_sequence(self) -> int:
        """The media sequence number of the first segment not (completely) listed yet."""
        return self.media_sequence + len(self.segments)

    @property
    def low_latency(self) -> bool:
        """Parts are listed: an LL-HLS playlist."""
        return self.part_target is not None


@dataclass(frozen=True, slots=True)
class Variant:
    """One ``EXT-X-STREAM-INF`` entry of a multivariant playlist (``bandwidth`` in bit/s)."""

    uri: str
    bandwidth: int
    average_bandwidth: int | None = None
    codecs: str | None = None


@dataclass(frozen=True, slots=True)
class MultivariantPlaylist:
    variants: tuple[Variant, ...]


Playlist = MediaPlaylist | MultivariantPlaylist

#: One ``NAME=value`` of an attribute list: a quoted string, or anything up to the next comma.
_ATTRIBUTE = re.compile(r'\s*([A-Z0-9-]+)=("[^"\r\n]*"|[^",\s]*)\s*(?:,|$)')
_MEDIA_TAGS = frozenset(
    {
        "EXTINF", "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE", "EXT-X-ENDLIST",
        "EXT-X-PART", "EXT-X-PART-INF", "EXT-X-PLAYLIST-TYPE", "EXT-X-DISCONTINUITY",
    }
)  # fmt: skip
_MULTIVARIANT_TAGS = frozenset({"EXT-X-STREAM-INF", "EXT-X-MEDIA", "EXT-X-I-FRAME-STREAM-INF"})


def parse_playlist(data: bytes | str) -> Playlist:
    """Parse a whole playlist; ``PlaylistError`` (naming the line) for anything malformed."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise PlaylistError(line, "not UTF-8 text") from None
    else:
        text = data
    lines = text.splitlines()
    if not lines or lines[0].strip().removeprefix("\ufeff") != "#EXTM3U":
        raise PlaylistError(1, "a playlist must begin with #EXTM3U")
    return _Parser(lines).parse()


class _Parser:
    """One pass over the lines; media and multivariant tags may not mix (RFC 8216 §4.1)."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.no = 0  # the line being read (1-based)
        self.kind: str | None = None  # "media" | "multivariant" once a defining tag is seen

    def fail(self, what: str) -> PlaylistError:
        return PlaylistError(self.no, what)

    def parse(self) -> Playlist:
        target: float | None = None
        sequence = 0
        discontinuity_sequence = 0
        ended = False
        playlist_type: str | None = None
        start: StartOffset | None = None
        part_target: float | None = None
        control = ServerControl()
        hint: PreloadHint | None = None
        segments: list[Segment] = []
        parts: list[Part] = []
        variants: list[Variant] = []
        # What the tags since the last URI say about the next segment (or variant).
        duration: float | None = None
        discontinuity = gap = False
        date: float | None = None
        byterange: ByteRange | None = None
        init: str | None = None
        stream: dict[str, str] | None = None
        next_offset: dict[str, int] = {}  # per URI: where an offset-less byte range starts
        dated: list[int] = []  # indices of segments whose date was given, not extrapolated
        for no, raw in enumerate(self.lines, 1):
            self.no = no
            line = raw.strip()
            if not line or no == 1:
                continue
            if line[0] != "#":
                if stream is not None:
                    variants.append(self._variant(stream, line))
                    stream = None
                    continue
                if duration is None:
                    raise self.fail(f"URI {line[:60]!r} without #EXTINF before it")
                self._media()
                if byterange is not None and byterange.offset < 0:
                    byterange = ByteRange(byterange.length, next_offset.get(line, 0))
                if byterange is not None:
                    next_offset[line] = byterange.offset + byterange.length
                if date is not None:
                    dated.append(len(segments))
                segments.append(
                    Segment(
                        line,
                        duration,
                        sequence + len(segments),
                        discontinuity,
                        date,
                        gap,
                        byterange,
                        init,
                        tuple(parts),
                    )
                )
                duration, discontinuity, gap, date, byterange, parts = (
                    None,
                    False,
                    False,
                    None,
                    None,
                    [],
                )
                continue
            if not line.startswith("#EXT"):
                continue  # a comment
            tag, _, value = line[1:].partition(":")
            if stream is not None:
                raise self.fail(f"#{tag} between #EXT-X-STREAM-INF and its URI")
            if tag in _MEDIA_TAGS:
                self._media()
            elif tag in _MULTIVARIANT_TAGS:
                self._multivariant()
            if tag == "EXTINF":
                if duration is not None:
                    raise self.fail("#EXTINF twice without a URI between them")
                duration = self._number(value.partition(",")[0], "#EXTINF duration")
            elif tag == "EXT-X-PROGRAM-DATE-TIME":
                date = self._date(value)
            elif tag == "EXT-X-PART":
                parts.append(self._part(value, next_offset))
            elif tag == "EXT-X-DISCONTINUITY":
                discontinuity = True
            elif tag == "EXT-X-TARGETDURATION":
                target = self._number(value, "#EXT-X-TARGETDURATION")
            elif tag == "EXT-X-MEDIA-SEQUENCE":
                if segments or duration is not None:
                    raise self.fail("#EXT-X-MEDIA-SEQUENCE after the first segment")
                sequence = self._integer(value, "#EXT-X-MEDIA-SEQUENCE")
            elif tag == "EXT-X-DISCONTINUITY-SEQUENCE":
                discontinuity_sequence = self._integer(value, "#EXT-X-DISCONTINUITY-SEQUENCE")
            elif tag == "EXT-X-ENDLIST":
                ended = True
            elif tag == "EXT-X-GAP":
                gap = True
            elif tag == "EXT-X-BYTERANGE":
                byterange = self._byterange(value, "#EXT-X-BYTERANGE")
            elif tag == "EXT-X-MAP":
                init = self._attributes(value).get("URI")
                if not init:
                    raise self.fail("#EXT-X-MAP without a URI")
            elif tag == "EXT-X-PLAYLIST-TYPE":
                if value not in ("EVENT", "VOD"):
                    raise self.fail(f"#EXT-X-PLAYLIST-TYPE must be EVENT or VOD, got {value!r}")
                playlist_type = value
            elif tag == "EXT-X-START":
                attrs = self._attributes(value)
                offset = self._number(attrs.get("TIME-OFFSET", ""), "TIME-OFFSET", signed=True)
                start = StartOffset(offset, attrs.get("PRECISE") == "YES")
            elif tag == "EXT-X-PART-INF":
                attrs = self._attributes(value)
                part_target = self._number(attrs.get("PART-TARGET", ""), "PART-TARGET")
            elif tag == "EXT-X-SERVER-CONTROL":
                control = self._server_control(value)
            elif tag == "EXT-X-PRELOAD-HINT":
                hint = self._preload_hint(value)
            elif tag == "EXT-X-STREAM-INF":
                stream = self._attributes(value)
        self.no = len(self.lines)
        if stream is not None:
            raise self.fail("#EXT-X-STREAM-INF without a URI after it")
        if self.kind == "multivariant":
            return MultivariantPlaylist(tuple(variants))
        if duration is not None:
            raise self.fail("#EXTINF without a URI after it")
        if target is None:
            raise PlaylistError(0, "no #EXT-X-TARGETDURATION (required in a media playlist)")
        if parts and part_target is None:
            raise PlaylistError(0, "#EXT-X-PART without #EXT-X-PART-INF")
        return MediaPlaylist(
            target,
            sequence,
            tuple(_dated(segments, dated)),
            ended,
            playlist_type,
            discontinuity_sequence,
            start,
            part_target,
            control,
            tuple(parts),
            hint,
        )

    def _media(self) -> None:
        if self.kind == "multivariant":
            raise self.fail("a media-playlist tag in a multivariant playlist")
        self.kind = "media"

    def _multivariant(self) -> None:
        if self.kind == "media":
            raise self.fail("a multivariant-playlist tag in a media playlist")
        self.kind = "multivariant"

    def _number(self, text: str, what: str, *, signed: bool = False) -> float:
        text = text.strip()
        try:
            value = float(text)
        except ValueError:
            raise self.fail(f"{what} must be a number, got {text[:40]!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or (value < 0 and not signed):
            raise self.fail(f"{what} must be a finite number >= 0, got {text[:40]!r}")
        return value

    def _integer(self, text: str, what: str) -> int:
        text = text.strip()
        if not text.isdigit() or not text.isascii():
            raise self.fail(f"{what} must be a decimal integer, got {text[:40]!r}")
        return int(text)

    def _date(self, text: str) -> float:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise self.fail(f"#EXT-X-PROGRAM-DATE-TIME is not ISO 8601: {text[:40]!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()

    def _attributes(self, text: str) -> dict[str, str]:
        """An attribute list (RFC 8216 §4.2); quoted strings come back without their quotes."""
        out: dict[str, str] = {}
        pos, end = 0, len(text)
        while pos < end:
            match = _ATTRIBUTE.match(text, pos)
            if match is None:
                raise self.fail(f"bad attribute list at {text[pos : pos + 40]!r}")
            name, value = match.group(1), match.group(2)
            out[name] = value[1:-1] if value.startswith('"') else value
            pos = match.end()
        return out

    def _byterange(self, text: str, what: str) -> ByteRange:
        length, at, offset = text.strip().partition("@")
        size = self._integer(length, f"{what} length")
        return ByteRange(size, self._integer(offset, f"{what} offset") if at else -1)

    def _part(self, text: str, next_offset: dict[str, int]) -> Part:
        attrs = self._attributes(text)
        uri = attrs.get("URI")
        if not uri:
            raise self.fail("#EXT-X-PART without a URI")
        duration = self._number(attrs.get("DURATION", ""), "#EXT-X-PART DURATION")
        byterange = None
        if "BYTERANGE" in attrs:
            byterange = self._byterange(attrs["BYTERANGE"], "#EXT-X-PART BYTERANGE")
            if byterange.offset < 0:
                byterange = ByteRange(byterange.length, next_offset.get(uri, 0))
            next_offset[uri] = byterange.offset + byterange.length
        return Part(
            uri, duration, attrs.get("INDEPENDENT") == "YES", attrs.get("GAP") == "YES", byterange
        )

    def _server_control(self, text: str) -> ServerControl:
        attrs = self._attributes(text)

        def number(name: str) -> float | None:
            return self._number(attrs[name], name) if name in attrs else None

        return ServerControl(
            attrs.get("CAN-BLOCK-RELOAD") == "YES",
            number("PART-HOLD-BACK"),
            number("HOLD-BACK"),
            number("CAN-SKIP-UNTIL"),
        )

    def _preload_hint(self, text: str) -> PreloadHint:
        attrs = self._attributes(text)
        kind, uri = attrs.get("TYPE", ""), attrs.get("URI", "")
        if kind not in ("PART", "MAP") or not uri:
            raise self.fail("#EXT-X-PRELOAD-HINT needs TYPE=PART or MAP and a URI")
        start = attrs.get("BYTERANGE-START")
        return PreloadHint(
            kind, uri, None if start is None else self._integer(start, "BYTERANGE-START")
        )

    def _variant(self, attrs: dict[str, str], uri: str) -> Variant:
        if "BANDWIDTH" not in attrs:
            raise PlaylistError(self.no - 1, "#EXT-X-STREAM-INF without BANDWIDTH")
        average = attrs.get("AVERAGE-BANDWIDTH")
        return Variant(
            uri,
            self._integer(attrs["BANDWIDTH"], "BANDWIDTH"),
            None if average is None else self._integer(average, "AVERAGE-BANDWIDTH"),
            attrs.get("CODECS"),
        )


def _dated(segments: list[Segment], dated: list[int]) -> list[Segment]:
    """Give every segment a date by extrapolating from the nearest dated one (RFC 8216
    §4.3.2.6: a date applies to its segment, durations carry it on)."""
    if not dated or len(dated) == len(segments):
        return segments
    out = list(segments)
    first = dated[0]
    at = out[first].program_date_time
    assert at is not None
    for i in range(first - 1, -1, -1):  # before the first date: count back
        at -= out[i].duration
        out[i] = _with_date(out[i], at)
    for i in range(first + 1, len(out)):
        previous = out[i - 1]
        if out[i].program_date_time is None and previous.program_date_time is not None:
            out[i] = _with_date(out[i], previous.program_date_time + previous.duration)
    return out


def _with_date(segment: Segment, at: float) -> Segment:
    return replace(segment, program_date_time=at)
