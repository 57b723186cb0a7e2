"""One request and its answer on a keep-alive connection, without I/O.

Both load engines perform the player's requests (asyncio protocols in the native swarm, gevent
sockets in a Locust worker); what the bytes mean is decided here, once: the answer is complete
(``Answer``), broke a limit or HTTP (``Broken``), or the connection closed under it — which
ends a body delimited by the connection's end, asks for the request to be sent again on a new
connection when a kept-alive connection was closed before any answer (as browsers retry an
idempotent request), and is otherwise a broken request.
"""

from __future__ import annotations

from dataclasses import dataclass

from chaos.workload.hls.player import Fetch, HlsOptions, Kind
from chaos.workload.http import ProtocolError, ResponseParser, Target


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


@dataclass(frozen=True, slots=True)
class Broken:
    """``reason`` is the failure label; ``again``: send the request anew on a new connection."""

    reason: str
    detail: str = ""
    again: bool = False


Outcome = Answer | Broken


class Exchange:
    """Feed it what the connection delivers after the request went out.

    ``keep_body``: keep the body (playlists; an ear's segments); otherwise it is only counted.
    ``reused``: the connection carried an earlier request."""

    __slots__ = ("_body", "_limit", "_parser", "body_bytes", "fetch", "keep_body", "reused")

    def __init__(self, fetch: Fetch, options: HlsOptions, keep_body: bool, reused: bool) -> None:
        self.fetch = fetch
        self.keep_body = keep_body or fetch.kind is Kind.PLAYLIST
        self.reused = reused
        self.body_bytes = 0
        self._parser = ResponseParser()
        self._body = bytearray()
        self._limit = (
            options.max_playlist_bytes if fetch.kind is Kind.PLAYLIST else options.max_segment_bytes
        )

    def feed(self, data: bytes) -> Outcome | None:
        """None while the answer is still coming."""
        parser = self._parser
        had_head = parser.head is not None
        try:
            body = parser.feed(data)
        except ProtocolError as exc:
            return Broken("protocol", str(exc))
        if parser.head is None:
            return None
        if not had_head:
            declared = parser.declared_length
            if declared is not None and declared > self._limit:
                return self._too_large(f"{declared} bytes announced")
        if body:
            self.body_bytes += len(body)
            if self.body_bytes > self._limit:
                return self._too_large(f"more than {self._limit} bytes")
            if self.keep_body:
                self._body += body
        return self._answer() if parser.complete else None

    def lost(self, reason: str | None) -> Broken | Answer:
        """The connection ended (``reason`` None: closed cleanly, else its failure label)."""
        parser = self._parser
        head = parser.head
        delimited = (
            head is not None
            and parser.declared_length is None
            and "transfer-encoding" not in head.headers
        )
        if reason is None and delimited:
            return self._answer(keep_alive=False)  # a body delimited by the connection's end
        if head is None and self.body_bytes == 0 and self.reused:
            return Broken("closed", again=True)
        return Broken(reason or "closed")

    def expired(self) -> Broken:
        reason = "playlist_timeout" if self.fetch.kind is Kind.PLAYLIST else "segment_timeout"
        return Broken(reason, f"no whole answer in {self.fetch.timeout:g}s")

    def _too_large(self, detail: str) -> Broken:
        reason = "playlist_too_large" if self.fetch.kind is Kind.PLAYLIST else "segment_too_large"
        return Broken(reason, detail)

    def _answer(self, keep_alive: bool | None = None) -> Answer:
        head = self._parser.head
        assert head is not None
        alive = head.keep_alive if keep_alive is None else keep_alive
        return Answer(head.status, head.headers, bytes(self._body), alive)


def request_bytes(target: Target, fetch: Fetch) -> bytes:
    """The GET a player sends (HTTP/1.1, so the connection stays open for the next one)."""
    range_header = f"Range: {fetch.range.header()}\r\n" if fetch.range is not None else ""
    return (
        f"GET {fetch.target} HTTP/1.1\r\nHost: {target.host}:{target.port}\r\n"
        f"User-Agent: gameday-probe\r\nAccept: */*\r\n{range_header}\r\n"
    ).encode("ascii")
