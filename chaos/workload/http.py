"""Just enough HTTP/1.x response parsing for a listener: status line, headers, chunked bodies.

Streaming servers answer one GET with an endless body, so the parser is a sans-IO state machine
fed whatever the socket delivered: the head once, then body bytes as they come (de-chunked when
the server uses ``Transfer-Encoding: chunked``, as soundstage does; Icecast sends a plain
HTTP/1.0 body). HLS listeners ask many questions over one keep-alive connection, so the parser
also knows where a ``Content-Length`` or chunked body ends (``complete``). A full HTTP client
would cost more per byte than the probe it serves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from chaos.errors import InvalidInput

MAX_HEAD_BYTES = 16 * 1024


class ProtocolError(Exception):
    """The server broke HTTP framing; the message becomes the probe's failure reason detail."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where a listener connects: the parsed ``http://host:port/path`` of a stream."""

    host: str
    port: int
    path: str

    @classmethod
    def parse(cls, url: str) -> Target:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise InvalidInput(
                f"listener URL must be http://host[:port]/path, got {url!r}",
                where="workload target",
                fix="e.g. http://127.0.0.1:8000/stream.mp3 (TLS is not supported by the probes)",
            )
        try:
            port = parts.port or 80
        except ValueError as exc:
            raise InvalidInput(f"bad port in {url!r}: {exc}", where="workload target") from None
        path = parts.path or "/"
        return cls(parts.hostname, port, f"{path}?{parts.query}" if parts.query else path)

    def request(self) -> bytes:
        """The GET a plain streaming client sends; HTTP/1.1 so chunked replies are allowed."""
        return (
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "User-Agent: gameday-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        ).encode("ascii")


@dataclass(slots=True)
class ResponseHead:
    status: int
    headers: dict[str, str]
    keep_alive: bool = True
    """The connection may carry another request (HTTP/1.1 without ``Connection: close``)."""


@dataclass(slots=True)
class ResponseParser:
    """Feed bytes, get the head once and de-chunked body bytes after it."""

    head: ResponseHead | None = None
    _pending: bytearray = field(default_factory=bytearray)
    _length: int | None = None  # body bytes still due by Content-Length
    _chunked: bool = False
    _chunk_left: int = 0  # body bytes left in the current chunk
    _chunk_state: str = "size"  # size | data | crlf | done

    def feed(self, data: bytes) -> bytes:
        """Consume ``data``; return the body bytes it completed (b"" while the head is partial)."""
        if self.head is None:
            self._pending += data
            end = self._pending.find(b"\r\n\r\n")
            if end < 0:
                if len(self._pending) > MAX_HEAD_BYTES:
                    raise ProtocolError(f"response head larger than {MAX_HEAD_BYTES} bytes")
                return b""
            self.head = head = _parse_head(bytes(self._pending[:end]).lstrip(b"\r\n"))
            self._chunked = "chunked" in head.headers.get("transfer-encoding", "").lower()
            if head.status in (204, 304) or 100 <= head.status < 200:
                self._length = 0
            elif not self._chunked and "content-length" in head.headers:
                self._length = _content_length(head.headers["content-length"])
            data = bytes(self._pending[end + 4 :])
            self._pending.clear()
        if self._chunked:
            return self._dechunk(data)
        if self._length is not None:
            data = data[: self._length]
            self._length -= len(data)
        return data

    @property
    def complete(self) -> bool:
        """The whole body has arrived (a body without a length ends with the connection)."""
        if self.head is None:
            return False
        return self._chunk_state == "done" if self._chunked else self._length == 0

    @property
    def declared_length(self) -> int | None:
        """The body's size as the server announced it (``Content-Length``), if it did."""
        if self.head is None or self._chunked or "content-length" not in self.head.headers:
            return None
        return _content_length(self.head.headers["content-length"])

    def _dechunk(self, data: bytes) -> bytes:
        out = bytearray()
        buf = self._pending
        buf += data
        pos = 0
        while pos < len(buf):
            if self._chunk_state == "data":
                take = min(self._chunk_left, len(buf) - pos)
                out += buf[pos : pos + take]
                pos += take
                self._chunk_left -= take
                if self._chunk_left == 0:
                    self._chunk_state = "crlf"
            elif self._chunk_state in ("size", "crlf"):
                eol = buf.find(b"\r\n", pos)
                if eol < 0:
                    if len(buf) - pos > 1024:
                        raise ProtocolError("chunk size line too long")
                    break
                line = bytes(buf[pos:eol])
                pos = eol + 2
                if self._chunk_state == "crlf":
                    if line:
                        raise ProtocolError("missing CRLF after a chunk")
                    self._chunk_state = "size"
                    continue
                try:
                    size = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {line[:40]!r}") from None
                if size == 0:
                    self._chunk_state = "done"
                else:
                    self._chunk_left, self._chunk_state = size, "data"
            else:  # done: trailers are ignored
                pos = len(buf)
        del buf[:pos]
        return bytes(out)


def _parse_head(raw: bytes) -> ResponseHead:
    lines = raw.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not (parts[0].startswith("HTTP/") or parts[0] == "ICY"):
        raise ProtocolError(f"not an HTTP status line: {lines[0][:60]!r}")
    try:
        status = int(parts[1])
    except ValueError:
        raise ProtocolError(f"bad status code in {lines[0][:60]!r}") from None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = "close" not in connection and (
        parts[0] == "HTTP/1.1" or "keep-alive" in connection
    )
    return ResponseHead(status, headers, keep_alive)


def _content_length(value: str) -> int:
    value = value.strip()
    if not value.isdigit() or not value.isascii():
        raise ProtocolError(f"bad Content-Length {value[:40]!r}")
    return int(value)
