"""Just enough HTTP/1.1 for streaming audio, as pure functions over bytes (sans-IO).

The edge writes one pre-built chunk to thousands of sockets every 20 ms; a general framework
would allocate a coroutine per listener per frame, which is the difference between 2,000
listeners a core and a few hundred. So the edge and the listener speak HTTP/1.1 through these
small parsers: a request head, a response head, and chunked transfer coding.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 8192


class HttpError(ValueError):
    """Malformed or oversized HTTP; the connection is answered 400 (server) or dropped."""


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class ResponseHead:
    status: int
    reason: str
    headers: dict[str, str]


def _split_head(buffer: bytes | bytearray) -> tuple[list[str], int] | None:
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        if len(buffer) > MAX_HEAD:
            raise HttpError(f"header section longer than {MAX_HEAD} bytes")
        return None
    return bytes(buffer[:end]).decode("latin-1").split("\r\n"), end + 4


def _headers(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name or name != name.strip():
            raise HttpError(f"malformed header line {line!r}")
        headers[name.lower()] = value.strip()
    return headers


def parse_request(buffer: bytes | bytearray) -> tuple[Request, int] | None:
    """A complete request head and its length in bytes, or None if more bytes are needed."""
    split = _split_head(buffer)
    if split is None:
        return None
    lines, consumed = split
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(f"malformed request line {lines[0]!r}")
    method, target, _version = parts
    url = urlsplit(target)
    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
    return Request(method, url.path, query, _headers(lines[1:])), consumed


def parse_response_head(buffer: bytes | bytearray) -> tuple[ResponseHead, int] | None:
    split = _split_head(buffer)
    if split is None:
        return None
    lines, consumed = split
    version, _, rest = lines[0].partition(" ")
    status, _, reason = rest.partition(" ")
    if not version.startswith("HTTP/1.") or not status.isdigit():
        raise HttpError(f"malformed status line {lines[0]!r}")
    return ResponseHead(int(status), reason, _headers(lines[1:])), consumed


REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def response_head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def simple_response(status: int, body: bytes, content_type: str, **extra: str) -> bytes:
    """A whole response that closes the connection (health, metrics, errors)."""
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    headers.update({k.replace("_", "-"): v for k, v in extra.items()})
    return response_head(status, headers) + body


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%b\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


class ChunkedDecoder:
    """Incremental decoder of a chunked body; ``done`` after the last chunk."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._remaining = 0
        self._state = "size"
        self.done = False

    def feed(self, data: bytes | bytearray) -> bytes:
        self._buffer += data
        out = bytearray()
        buf = self._buffer
        pos = 0
        while not self.done:
            if self._state == "size":
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    if len(buf) - pos > 64:
                        raise HttpError("chunk size line too long")
                    break
                size_text = bytes(buf[pos:end]).split(b";", 1)[0].strip()
                try:
                    self._remaining = int(size_text, 16)
                except ValueError as exc:
                    raise HttpError(f"bad chunk size {size_text!r}") from exc
                pos = end + 2
                self._state = "data" if self._remaining else "trailer"
            elif self._state == "data":
                take = min(self._remaining, len(buf) - pos)
                out += buf[pos : pos + take]
                pos += take
                self._remaining -= take
                if self._remaining:
                    break
                self._state = "crlf"
            elif self._state == "crlf":
                if len(buf) - pos < 2:
                    break
                if buf[pos : pos + 2] != b"\r\n":
                    raise HttpError("chunk not followed by CRLF")
                pos += 2
                self._state = "size"
            else:  # trailer: skip trailer fields up to the empty line
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                if end == pos:
                    self.done = True
                pos = end + 2
        del buf[:pos]
        return bytes(out)
