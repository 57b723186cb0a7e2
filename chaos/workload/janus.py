"""The Janus HTTP API as a WebRTC speaker uses it: a session, a plugin handle, messages, events.

Janus answers plugin messages asynchronously: the POST gets an ``ack`` and the result comes as
an event on the session's long poll (``GET /janus/SESSION``), matched by transaction. The long
poll also keeps the session alive (Janus drops a session after ``session_timeout`` without
one). Every failure is a ``JanusError`` naming the request, so a speaker can say why it could
not join and try again.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Any

import aiohttp


class JanusError(Exception):
    """Janus refused a request, answered garbage, or could not be reached."""


class JanusSession:
    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        """``base``: the API root, e.g. ``http://127.0.0.1:8088/janus``."""
        self.http = http
        self.base = base.rstrip("/")
        self.session: int | None = None
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None
        self.lost: asyncio.Event = asyncio.Event()
        """Set when the session is gone (Janus restarted) or Janus hung the PeerConnection up."""

    async def _post(self, url: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {**body, "transaction": body.get("transaction") or secrets.token_hex(6)}
        try:
            async with self.http.post(url, json=body) as response:
                reply: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise JanusError(f"{body.get('janus')} to {url}: {exc or type(exc).__name__}") from None
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise JanusError(f"{body.get('janus')}: {error.get('code')} {error.get('reason')}")
        return reply

    async def create(self) -> None:
        reply = await self._post(self.base, {"janus": "create"})
        self.session = int(reply["data"]["id"])
        self._poller = asyncio.create_task(self._poll())

    async def attach(self, plugin: str) -> int:
        reply = await self._post(self._url(), {"janus": "attach", "plugin": plugin})
        return int(reply["data"]["id"])

    async def message(
        self,
        handle: int,
        body: dict[str, Any],
        jsep: dict[str, str] | None = None,
        timeout: float = 10.0,
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        """A plugin message; (the plugin's data, the answer's JSEP) from the reply or event."""
        transaction = secrets.token_hex(6)
        request: dict[str, Any] = {"janus": "message", "body": body, "transaction": transaction}
        if jsep is not None:
            request["jsep"] = jsep
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[transaction] = waiter
        try:
            reply = await self._post(self._url(handle), request)
            if reply.get("janus") != "ack":  # a synchronous plugin request answers at once
                return self._result(reply, body)
            try:
                event = await asyncio.wait_for(waiter, timeout)
            except TimeoutError:
                raise JanusError(f"{body.get('request')}: no answer in {timeout:g}s") from None
            return self._result(event, body)
        finally:
            self._waiting.pop(transaction, None)

    @staticmethod
    def _result(
        reply: dict[str, Any], body: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str] | None]:
        data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
        if "error" in data or "error_code" in data:
            raise JanusError(f"{body.get('request')}: {data.get('error_code')} {data.get('error')}")
        return data, reply.get("jsep")

    def _url(self, handle: int | None = None) -> str:
        if self.session is None:
            raise JanusError("no session: create() first")
        return f"{self.base}/{self.session}" + (f"/{handle}" if handle is not None else "")

    async def _poll(self) -> None:
        failures = 0
        while failures < 3:
            try:
                async with self.http.get(
                    f"{self._url()}?maxev=10", timeout=aiohttp.ClientTimeout(total=45)
                ) as response:
                    events = await response.json(content_type=None)
                failures = 0
            except (aiohttp.ClientError, TimeoutError, ValueError):
                failures += 1
                await asyncio.sleep(0.5)
                continue
            for event in events if isinstance(events, list) else [events]:
                if event.get("janus") == "error" and event.get("error", {}).get("code") == 458:
                    self.lost.set()  # "no such session"
                    return
                if event.get("janus") == "hangup":
                    self.lost.set()
                waiter = self._waiting.get(str(event.get("transaction")))
                if waiter is not None and not waiter.done():
                    waiter.set_result(event)
        self.lost.set()

    async def destroy(self) -> None:
        """End the session on Janus (best effort) and stop polling."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self.session is not None:
            with contextlib.suppress(JanusError):
                await self._post(self._url(), {"janus": "destroy"})
        self.session = None
