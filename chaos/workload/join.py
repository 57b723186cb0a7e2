"""The join API a listener calls first, on a platform that has one: who may listen, and which
edge to stream from (a control plane's admission, where a join storm meets its door).

With `audience: {listeners: {join: {link: client->api, path: /join}}}` in the stack spec, every
listener attempt first POSTs ``{"listener": ID}`` (and ``"avoid": EDGE``, the edge it last
had, when it comes back after a failure) to `path` through the link's proxy, then plays the
stream from the edge the answer names, ``{"edge": "http://HOST:PORT"}``:

- 200 with an edge that is one of the listeners' link proxies: the attempt goes on there (a
  control-cohort listener plays the same edge through its own control proxy);
- any other status: the attempt fails as ``join_http_STATUS`` (``join_http_503``: full,
  ``join_http_429``: too fast), never sooner retried than its ``Retry-After`` asks;
- an edge that is not one of the link's proxies: ``foreign_host``, and nothing is sent there
  (gameday's traffic only goes where the stack spec says); an answer that is not such JSON:
  ``join_invalid``.

The time the join takes is part of the listener's time to first audio, as it is for a person;
an ear's `edge` label is the edge the API named (whichever group of listeners it was dealt to).
The core here is sans-IO (the request, the answer's verdict); ``JoinAdapter`` is the I/O edge.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chaos.audio.ear import Ear
from chaos.workload.adapter import Adapter, EventSink, Session
from chaos.workload.http import ProtocolError, ResponseParser, Target
from chaos.workload.probe import Probe, StreamDecoder, retry_after_seconds

MAX_ANSWER_BYTES = 64 * 1024


def join_request(api: Target, listener: str, avoid: str | None) -> bytes:
    """The POST a listener makes first (one connection per join, closed after the answer)."""
    body = json.dumps({"listener": listener, **({"avoid": avoid} if avoid else {})}).encode()
    head = (
        f"POST {api.path} HTTP/1.1\r\nHost: {api.host}:{api.port}\r\n"
        "User-Agent: gameday-probe\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


@dataclass(frozen=True, slots=True)
class Admitted:
    edge: str
    """The edge the API named, as it named it (``http://HOST:PORT``)."""


@dataclass(frozen=True, slots=True)
class Refused:
    reason: str
    """A listener failure label: ``join_http_503``, ``foreign_host``, ``join_invalid``."""
    detail: str = ""
    retry_after: float | None = None


def judge_answer(
    status: int, headers: Mapping[str, str], body: bytes, edges: frozenset[str]
) -> Admitted | Refused:
    """What the API's answer means for the listener; ``edges`` are the edges it may play."""
    if status != 200:
        retry = retry_after_seconds(headers.get("retry-after"))
        return Refused(f"join_http_{status}", body[:200].decode("utf-8", "replace"), retry)
    try:
        answer: Any = json.loads(body)
    except ValueError:
        return Refused("join_invalid", f"not JSON: {body[:80]!r}")
    edge = answer.get("edge") if isinstance(answer, dict) else None
    if not isinstance(edge, str):
        return Refused("join_invalid", f"no edge in {body[:80]!r}")
    edge = edge.rstrip("/")
    if edge not in edges:
        return Refused("foreign_host", f"join named edge {edge[:120]}")
    return Admitted(edge)


class _Answer(asyncio.Protocol):
    """Reads one HTTP answer to the end (its length, or the connection's close)."""

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.parser = ResponseParser()
        self.body = bytearray()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        try:
            self.body += self.parser.feed(data)
        except ProtocolError as exc:
            self._finish(exc)
            return
        if len(self.body) > MAX_ANSWER_BYTES:
            self._finish(ProtocolError(f"join answer larger than {MAX_ANSWER_BYTES} bytes"))
        elif self.parser.complete:
            self._finish(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.parser.head is None:
            self._finish(exc or ConnectionResetError("the join API closed without an answer"))
        else:
            self._finish(None)

    def _finish(self, exc: BaseException | None) -> None:
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)
        if self.transport is not None:
            self.transport.close()


class _Refused:
    """The session of an attempt that ended at the door: nothing to close."""

    def close(self) -> None:
        return None


@dataclass(slots=True)
class JoinAdapter:
    """Join through ``api`` first, then play the named edge with its adapter in ``edges``
    (keyed by the edge as the API names it)."""

    api: Target
    edges: Mapping[str, Adapter]
    names: Mapping[str, str] = field(default_factory=dict)
    """The edge as the API names it → the replica's name (`edge-2`): what its ears heard."""
    last: dict[str, str] = field(default_factory=dict)
    """Listener → the edge it was given last: avoided when it joins again."""

    def decoder(self, ear: bool = False) -> StreamDecoder | None:
        return next(iter(self.edges.values())).decoder(ear)

    async def open(
        self, probe: Probe, sink: EventSink, source: str | None, listener: str = ""
    ) -> Session:
        loop = asyncio.get_running_loop()
        answer = _Answer(join_request(self.api, listener, self.last.get(listener)))
        transport, _ = await loop.create_connection(
            lambda: answer,
            self.api.host,
            self.api.port,
            local_addr=None if source is None else (source, 0),
        )
        try:
            await answer.done
        except ProtocolError as exc:
            sink(probe.fail(loop.time(), "join_invalid", str(exc)))
            return _Refused()
        finally:
            transport.close()
        head = answer.parser.head
        assert head is not None
        verdict = judge_answer(head.status, head.headers, bytes(answer.body), frozenset(self.edges))
        if isinstance(verdict, Refused):
            sink(probe.fail(loop.time(), verdict.reason, verdict.detail, verdict.retry_after))
            return _Refused()
        self.last[listener] = verdict.edge
        ear = probe.playout.on_play
        if isinstance(ear, Ear) and verdict.edge in self.names:
            ear.edge = self.names[verdict.edge]
        return await self.edges[verdict.edge].open(probe, sink, source)
