"""HTTP/1.1 for the API, served the way Go's net/http serves Toxiproxy's.

A small server over h11 (sans-IO) rather than a framework, for what happens at the edges:

* clients of Toxiproxy expect Go's framing: an interim ``100 Continue`` as soon as a handler
  reads a body it was asked to wait for (curl asks for bodies over 1 KiB), bodies read as they
  were sent whatever their ``Content-Encoding`` (Go never decodes a request body), ``Date`` and
  ``Content-Length`` after the handler's headers, no ``Server`` header, and Go's plain
  ``400 Bad Request`` for a request it cannot parse;
* the data path shares this process, so Go's limits hold here too — 15 s to read a request,
  30 s to write the answer, 60 s idle between requests, 1 MiB of headers — plus a bound on a
  body and on open API connections, so a stuck or hostile client can neither stall the event
  loop nor take the descriptors the proxies need;
* it imports in milliseconds, and a fault proxy starts in every run and every test.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

import h11

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
MAX_DRAIN_BYTES = 256 * 1024
"""Unread body a handler left that is read and dropped to keep the connection (Go's figure)."""


@dataclass(frozen=True)
class Limits:
    """The server's bounds; the defaults are toxiproxy-server's where it has one."""

    read_seconds: float = 15.0
    """A whole request, headers and body, from its first byte (Go's ReadTimeout)."""
    write_seconds: float = 30.0
    """Writing an answer (Go's WriteTimeout)."""
    idle_seconds: float = 60.0
    """Waiting for the next request on a kept-alive connection (Go's IdleTimeout)."""
    max_header_bytes: int = (1 << 20) + 4096
    """Request line and headers (Go's DefaultMaxHeaderBytes and the slack it allows)."""
    max_body_bytes: int = 32 << 20
    """Toxiproxy has no bound; 32 MiB is /populate of 100,000 proxies."""
    max_connections: int = 1024
    """Open API connections; at the bound the oldest one not in a handler is closed."""


class BodyError(Exception):
    """A request body that could not be read: ``message`` as Go's decoder would report it."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class Request:
    """One request: its method, decoded path, raw query and headers; ``read()`` the body."""

    __slots__ = ("_connection", "headers", "method", "path", "query_string")

    def __init__(
        self, connection: _Connection, method: str, path: str, query: str, headers: dict[str, str]
    ) -> None:
        self._connection = connection
        self.method = method
        self.path = path
        self.query_string = query
        self.headers = headers
        """Lower-case names; a repeated header keeps its first value."""

    async def read(self) -> bytes:
        """The body as sent (at most ``max_body_bytes``), after ``100 Continue`` if awaited."""
        return await self._connection.read_body()


Handler = Callable[[Request], Awaitable[Response]]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_NO_BODY_STATUSES = frozenset({204, 304})


def http_date(now: float) -> str:
    """RFC 7231 IMF-fixdate, independent of the locale."""
    t = time.gmtime(now)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} GMT"
    )


def _plain_error(status: int) -> bytes:
    """What Go writes on its own, outside any handler, for a request it refuses."""
    public = f"{status} {HTTPStatus(status).phrase}"
    return (
        f"HTTP/1.1 {public}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        f"Connection: close\r\n\r\n{public}"
    ).encode()


def split_target(target: str) -> tuple[str, str] | None:
    """(decoded path, raw query) of a request target, or None when it is malformed.

    The path is percent-decoded as Go's ``URL.Path`` (routes match the decoded path); a ``%``
    not followed by two hex digits makes the request a 400, as in Go.
    """
    if "://" in target and not target.startswith("/"):
        rest = target.split("://", 1)[1]
        slash = rest.find("/")
        target = rest[slash:] if slash >= 0 else "/"
    path, _, query = target.partition("?")
    raw = path.encode("latin-1", "replace")
    if b"%" not in raw:
        return raw.decode("utf-8", "surrogateescape"), query
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == 0x25:  # %
            digits = raw[i + 1 : i + 3]
            if len(digits) != 2 or not all(d in b"0123456789abcdefABCDEF" for d in digits):
                return None
            out.append(int(digits, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return out.decode("utf-8", "surrogateescape"), query


class _Closed(Exception):
    """The client went away, or its time ran out: close without answering."""


class _Connection:
    __slots__ = (
        "_body",
        "_body_failed",
        "_deadline",
        "_declared_length",
        "_h11",
        "_reader",
        "_server",
        "_writer",
        "in_handler",
        "task",
    )

    def __init__(
        self, server: HttpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self._h11 = h11.Connection(
            h11.SERVER, max_incomplete_event_size=server.limits.max_header_bytes
        )
        self._deadline = 0.0
        self._body: bytes | None = None
        self._body_failed = False
        self._declared_length = 0
        self.in_handler = False
        self.task: asyncio.Task[None] | None = None

    def close(self) -> None:
        self._writer.close()

    async def _receive(self) -> None:
        try:
            async with asyncio.timeout_at(self._deadline):
                data = await self._reader.read(READ_SIZE)
        except (TimeoutError, OSError):
            raise _Closed from None
        self._h11.receive_data(data)

    async def _next_event(self) -> object:
        while True:
            event = self._h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            await self._receive()

    async def serve(self) -> None:
        limits = self._server.limits
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + limits.read_seconds
        try:
            while True:
                event = await self._next_event()
                if not isinstance(event, h11.Request):
                    return  # ConnectionClosed
                if not await self._answer(event):
                    return
                self._h11.start_next_cycle()
                if not self._h11.trailing_data[0]:
                    self._deadline = loop.time() + limits.idle_seconds
                    if not await self._first_byte():
                        return
                self._deadline = loop.time() + limits.read_seconds
        except h11.RemoteProtocolError as exc:
            status = exc.error_status_hint if exc.error_status_hint in (400, 431) else 400
            self._writer.write(_plain_error(status))
        except ValueError:  # h11 converting a Content-Length of over 4,300 digits
            self._writer.write(_plain_error(400))
        except _Closed:
            pass
        finally:
            self._writer.close()

    async def _first_byte(self) -> bool:
        """Wait (idle) for the next request to begin; False when the client left or idled out."""
        try:
            async with asyncio.timeout_at(self._deadline):
                data = await self._reader.read(READ_SIZE)
        except (TimeoutError, OSError):
            return False
        self._h11.receive_data(data)
        return bool(data)

    async def _answer(self, head: h11.Request) -> bool:
        """Run the handler and send its answer; whether the connection may serve another."""
        headers: dict[str, str] = {}
        for name, value in head.headers:
            headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
        expect = headers.get("expect")
        if expect is not None and expect.lower() != "100-continue":
            await self._send(Response(417), close=True)
            return False
        target = split_target(head.target.decode("latin-1"))
        if target is None:
            self._writer.write(_plain_error(400))
            return False
        self._body, self._body_failed = None, False
        declared = headers.get("content-length", "0") or "0"  # digits: h11 checked them
        self._declared_length = int(declared) if len(declared) < 20 else 1 << 64
        request = Request(self, head.method.decode("latin-1"), *target, headers)
        self.in_handler = True
        try:
            response = await self._server.handler(request)
        finally:
            self.in_handler = False
            self._body = None
        log.debug("%s %s %d", request.method, request.path, response.status)
        # A body that failed to arrive, or that a client still waits to be asked for, ends the
        # connection after the answer (Go); a body the handler did not need is read and dropped.
        unread = self._h11.their_state is h11.SEND_BODY
        close = self._body_failed or (unread and self._h11.they_are_waiting_for_100_continue)
        await self._send(response, close=close)
        if close or self._h11.our_state is not h11.DONE:
            return False
        return await self._drain() if unread else self._h11.their_state is h11.DONE

    async def _drain(self) -> bool:
        """Read and drop what a handler left of a body, up to Go's bound, to keep the link."""
        dropped = 0
        try:
            while self._h11.their_state is h11.SEND_BODY:
                event = await self._next_event()
                if isinstance(event, h11.Data):
                    dropped += len(event.data)
                    if dropped > MAX_DRAIN_BYTES:
                        return False
        except (_Closed, h11.RemoteProtocolError):
            return False
        return self._h11.their_state is h11.DONE

    async def read_body(self) -> bytes:
        if self._body is not None:
            return self._body
        try:
            self._body = await self._read_body()
        except BodyError:
            self._body_failed = True
            raise
        return self._body

    async def _read_body(self) -> bytes:
        h = self._h11
        limit = self._server.limits.max_body_bytes
        too_large = BodyError(f"request body over the {limit >> 20} MiB this server accepts", 413)
        if self._declared_length > limit:
            raise too_large  # refused before the client sends it
        if h.they_are_waiting_for_100_continue:
            self._writer.write(
                h.send(h11.InformationalResponse(status_code=100, headers=[], reason=b"Continue"))
            )
        parts: list[bytes] = []
        size = 0
        while h.their_state is h11.SEND_BODY:
            try:
                event = await self._next_event()
            except _Closed:
                raise BodyError(self._read_failure()) from None
            except h11.RemoteProtocolError:
                raise BodyError("unexpected EOF") from None
            if isinstance(event, h11.Data):
                size += len(event.data)
                if size > limit:
                    raise too_large
                parts.append(bytes(event.data))
        return b"".join(parts)

    def _read_failure(self) -> str:
        """Go's words for a body the client stopped sending: its deadline passed, or it left."""
        if asyncio.get_running_loop().time() < self._deadline:
            return "unexpected EOF"
        sock = self._writer.get_extra_info("socket")
        try:
            local, peer = sock.getsockname(), sock.getpeername()
        except (AttributeError, OSError):
            return "i/o timeout"
        return f"read tcp {_hostport(local)}->{_hostport(peer)}: i/o timeout"

    async def _send(self, response: Response, *, close: bool) -> None:
        headers = [(name, value) for name, value in sorted(response.headers.items())]
        headers.append(("Date", self._server.date()))
        if response.status not in _NO_BODY_STATUSES:
            headers.append(("Content-Length", str(len(response.body))))
        if close:
            headers.append(("Connection", "close"))
        h = self._h11
        reason = HTTPStatus(response.status).phrase.encode()
        try:
            data = h.send(h11.Response(status_code=response.status, headers=headers, reason=reason))
            if response.body and response.status not in _NO_BODY_STATUSES:
                data += h.send(h11.Data(data=response.body))
            data += h.send(h11.EndOfMessage())
        except h11.LocalProtocolError:
            raise _Closed from None
        self._writer.write(data)
        try:
            async with asyncio.timeout(self._server.limits.write_seconds):
                await self._writer.drain()
        except (TimeoutError, OSError):
            raise _Closed from None


def _hostport(address: tuple[object, ...]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


class HttpServer:
    """Serve ``handler`` on a listening socket until ``close()``."""

    def __init__(self, handler: Handler, limits: Limits | None = None) -> None:
        self.handler = handler
        self.limits = limits or Limits()
        self._connections: dict[_Connection, None] = {}
        """Open connections, oldest first."""
        self._server: asyncio.Server | None = None
        self._date = (0, "")

    def date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, http_date(now))
        return self._date[1]

    async def start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._accepted, sock=sock, limit=READ_SIZE)

    async def _accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(self, reader, writer)
        if len(self._connections) >= self.limits.max_connections and not self._evict():
            writer.close()
            return
        connection.task = asyncio.current_task()
        self._connections[connection] = None
        try:
            await connection.serve()
        finally:
            self._connections.pop(connection, None)

    def _evict(self) -> bool:
        """Make room by closing the oldest connection that is not inside a handler."""
        for connection in self._connections:
            if not connection.in_handler:
                del self._connections[connection]
                connection.close()
                if connection.task is not None:
                    connection.task.cancel()
                return True
        log.warning("API connection refused: %d open, all busy", len(self._connections))
        return False

    @property
    def open_connections(self) -> int:
        return len(self._connections)

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for connection in list(self._connections):
            connection.close()
            if connection.task is not None:
                connection.task.cancel()
        self._connections.clear()
        await server.wait_closed()
