"""Where a player starts in a live playlist, and how long it holds back from the live edge.

Real players do not start at the newest segment: the newest one may still be the only one
the CDN has, and a player starting there stalls at once. hls.js holds back
``liveSyncDurationCount`` (default 3) target durations, or the server's ``HOLD-BACK``; in
low-latency mode the server's ``PART-HOLD-BACK``; ``EXT-X-START`` overrides all of them, and a
finished (VOD) playlist plays from its first segment. The listener starts with the segment (or
LL-HLS part) that contains the start position, the way hls.js loads the fragment containing
its live sync position.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.workload.hls.playlist import MediaPlaylist

#: hls.js's ``liveSyncDurationCount`` default: start 3 target durations behind the live edge.
LIVE_SYNC_DURATION_COUNT = 3
#: Float slack: a position exactly on a boundary belongs to the unit that starts there.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class StartPoint:
    """The first unit to load: segment ``sequence``, or one of its parts (``part`` index)."""

    sequence: int
    part: int | None = None


def hold_back(playlist: MediaPlaylist, low_latency: bool, sync_count: int) -> float:
    """Seconds behind the end of the playlist a player starts (hls.js's target latency)."""
    control = playlist.server_control
    held = (control.part_hold_back or control.hold_back) if low_latency else control.hold_back
    return held if held else sync_count * playlist.target_duration


def units(playlist: MediaPlaylist, low_latency: bool) -> list[tuple[StartPoint, float]]:
    """What a player can load, in order, each with its duration: whole segments, or (in
    low-latency mode) the parts of segments that list them, and the parts of the segment in
    progress."""
    out: list[tuple[StartPoint, float]] = []
    for segment in playlist.segments:
        if low_latency and segment.parts:
            out += [
                (StartPoint(segment.sequence, i), p.duration) for i, p in enumerate(segment.parts)
            ]
        else:
            out.append((StartPoint(segment.sequence), segment.duration))
    if low_latency:
        following = playlist.next_sequence
        out += [(StartPoint(following, i), p.duration) for i, p in enumerate(playlist.partial)]
    return out


def start_point(
    playlist: MediaPlaylist,
    *,
    low_latency: bool = True,
    sync_count: int = LIVE_SYNC_DURATION_COUNT,
) -> StartPoint | None:
    """Where a player joining ``playlist`` now starts (None: nothing listed yet).
    ``low_latency``: the player uses LL-HLS parts when the playlist offers them."""
    low_latency = low_latency and playlist.low_latency
    listed = units(playlist, low_latency)
    if not listed:
        return None
    total = sum(d for _, d in listed)
    if playlist.start is not None:
        offset = playlist.start.time_offset
        position = offset if offset >= 0 else total + offset
        return _containing(listed, min(max(position, 0.0), total))
    if playlist.ended:
        return listed[0][0]
    position = total - hold_back(playlist, low_latency, sync_count)
    return _containing(listed, max(position, 0.0))


def _containing(listed: list[tuple[StartPoint, float]], position: float) -> StartPoint:
    """The unit whose span holds ``position`` (the last one, for the very end)."""
    at = 0.0
    for point, duration in listed:
        if position < at + duration - _EPSILON:
            return point
        at += duration
    return listed[-1][0]
