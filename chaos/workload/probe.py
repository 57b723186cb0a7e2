"""One synthetic listener's join, measured the way a person experiences it; no I/O.

The probe is fed what the socket saw — connected at t, these bytes at t, closed at t — and turns
it into the events a listener lives through: connected, first audio played (time to first
audio), failed to join (and why), dropped after playing. The response is parsed by
``ResponseParser``, the body turned into frames by the adapter's ``StreamDecoder``, and the
frames played through a ``PlayoutModel``, which owns stalls and concealment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from chaos.audio.playout import Frame, PlayoutModel, PlaySink
from chaos.workload.http import ProtocolError, ResponseParser


class StreamDecoder(Protocol):
    """Turns a response body into frames; one per stream format (progressive, framed, …)."""

    def start(self, headers: Mapping[str, str]) -> None:
        """Configure from the response headers; raise ``ProtocolError`` if unusable."""

    def feed(self, data: bytes) -> list[Frame]:
        """Consume body bytes, return the frames they completed."""


@dataclass(frozen=True, slots=True)
class Connected:
    at: float


@dataclass(frozen=True, slots=True)
class FirstAudio:
    at: float
    ttfa: float


@dataclass(frozen=True, slots=True)
class Failed:
    """The join never reached first audio; ``reason`` is a short metric label.

    ``retry_after``: seconds the server asked clients to wait (a 503's ``Retry-After``).
    """

    at: float
    reason: str
    detail: str = ""
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Dropped:
    """The stream ended after audio had played, without the listener choosing to leave;
    ``detail`` says what happened, where the probe knows more than the reason's label."""

    at: float
    reason: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Skipped:
    """Media the listener never heard because it was gone or left behind when the listener
    came to it (an HLS segment deleted, or out of the playlist's window): ``seconds`` of
    audio in ``segments`` segments (or parts), for ``reason``."""

    at: float
    reason: str
    segments: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Stale:
    """The stream stopped growing: no new media listed for 1.5 target durations (HLS)."""

    at: float


ProbeEvent = Connected | FirstAudio | Failed | Dropped | Skipped | Stale
Events = tuple[ProbeEvent, ...]
_NONE: Events = ()  # most feeds produce no event


@dataclass(slots=True)
class Probe:
    """A single connection attempt, from the join request to its end."""

    decoder: StreamDecoder | None
    """None: the adapter makes the frames itself and calls ``received`` (HLS)."""
    requested_at: float
    target_delay: float
    on_play: PlaySink | None = None
    wall_offset: float | None = None  # wall clock − the clock fed to this probe
    connected_at: float | None = None
    first_byte_at: float | None = None
    ended_at: float | None = None
    failure: str | None = None
    drop: str | None = None
    bytes_received: int = 0
    status: int | None = None
    requests: int = 0
    stale: bool = False  # the stream is not growing now (see ``Stale``)
    playout: PlayoutModel = field(init=False)
    _parser: ResponseParser = field(default_factory=ResponseParser)

    def __post_init__(self) -> None:
        self.playout = PlayoutModel(self.target_delay, self.on_play)

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def playing_since(self) -> float | None:
        return self.playout.first_audio_at

    @property
    def ttfa(self) -> float | None:
        first = self.playout.first_audio_at
        return None if first is None else first - self.requested_at

    def latency(self) -> float | None:
        """How far behind live the listener hears: when the newest played frame began playing
        minus when it was captured (framed capture times, HLS program date-times; the same
        clock on both hosts)."""
        frame = self.playout.last_played
        if frame is None or self.wall_offset is None or frame.captured_at is None:
            return None
        return self.playout.last_played_at + self.wall_offset - frame.captured_at

    def connected(self, now: float) -> Events:
        self.connected_at = now
        return (Connected(now),)

    def feed(self, now: float, data: bytes) -> Events:
        """Bytes of the one HTTP response this probe's decoder reads."""
        decoder = self.decoder
        assert decoder is not None, "an adapter without a decoder feeds frames itself"
        if self.ended_at is not None:
            return _NONE
        self.bytes_received += len(data)
        try:
            if self._parser.head is None:
                body = self._parser.feed(data)
                head = self._parser.head
                if head is None:
                    return _NONE
                self.status = head.status
                if not 200 <= head.status < 300:
                    wait = retry_after_seconds(head.headers.get("retry-after"))
                    said = f"answered HTTP {head.status}" + (
                        f" with Retry-After {wait:g}s" if wait is not None else ""
                    )
                    return self.fail(now, f"http_{head.status}", said, retry_after=wait)
                decoder.start(head.headers)
            else:
                body = self._parser.feed(data)
            if not body:
                return _NONE
            if self.first_byte_at is None:
                self.first_byte_at = now
            frames = decoder.feed(body)
        except ProtocolError as exc:
            return self.fail(now, "protocol", str(exc))
        return self.received(now, frames)

    def received(self, now: float, frames: list[Frame]) -> Events:
        """Media arrived at ``now``: play it through the playout model."""
        if not frames or self.ended_at is not None:
            return _NONE
        before = self.playout.first_audio_at
        playout = self.playout
        for frame in frames:
            playout.receive(now, frame)
        if before is None and playout.first_audio_at is not None:
            return (FirstAudio(playout.first_audio_at, playout.first_audio_at - self.requested_at),)
        return _NONE

    def overdue(self, now: float, join_timeout: float) -> str | None:
        """Why this join counts as failed at ``now`` (no audio within ``join_timeout``), or None:
        ``connect_timeout`` if the TCP connection was not even up, ``stale_playlist`` if the
        stream is not growing, else ``timeout``."""
        if self.playout.first_audio_at is not None or now - self.requested_at < join_timeout:
            return None
        if self.stale:
            return "stale_playlist"
        return "timeout" if self.connected_at is not None else "connect_timeout"

    def tick(self, now: float) -> None:
        """Let the playout clock run without new data, so stalls show while they happen."""
        self.playout.advance(now)

    def fail(
        self, now: float, reason: str, detail: str = "", retry_after: float | None = None
    ) -> Events:
        """End the attempt without first audio (or, after it, as a drop)."""
        if self.ended_at is not None:
            return _NONE
        if self.playout.first_audio_at is not None:
            return self.closed(now, reason, detail)
        self.ended_at = now
        self.failure = reason
        self.playout.finish(now)
        return (Failed(now, reason, detail, retry_after),)

    def closed(self, now: float, reason: str = "closed", detail: str = "") -> Events:
        """The connection ended without the listener asking: a failure or a drop."""
        if self.ended_at is not None:
            return _NONE
        if self.playout.first_audio_at is None:
            return self.fail(now, reason, detail)
        self.ended_at = now
        self.drop = reason
        self.playout.finish(now)
        return (Dropped(now, reason, detail),)

    def leave(self, now: float) -> None:
        """The listener chose to leave (session over, or the run ended): not a failure."""
        if self.ended_at is None:
            self.ended_at = now
            self.playout.finish(now)

    def summary(self) -> dict[str, Any]:
        """Plain data for the journal: what this attempt measured."""
        p = self.playout
        return {
            "requested_at": self.requested_at,
            "connect_seconds": _since(self.connected_at, self.requested_at),
            "first_byte_seconds": _since(self.first_byte_at, self.requested_at),
            "ttfa_seconds": self.ttfa,
            "status": self.status,
            "failure": self.failure,
            "drop": self.drop,
            "bytes": self.bytes_received,
            "requests": self.requests,
            "played_seconds": p.played_seconds,
            "stalls": len(p.stalls),
            "stall_seconds": sum(p.stalls),
            "freezes": len(p.freezes),
            "concealed_seconds": p.concealed_seconds,
            "latency_seconds": self.latency(),
            "late_frames": p.late_frames,
            "duplicate_frames": p.duplicate_frames,
            "out_of_order_frames": p.out_of_order_frames,
        }


def _since(t: float | None, origin: float) -> float | None:
    return None if t is None else t - origin


def retry_after_seconds(value: str | None) -> float | None:
    """``Retry-After`` in delay-seconds form; an HTTP-date (rare from streaming servers) is
    ignored and the reconnect policy alone decides."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())
