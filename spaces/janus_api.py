"""Janus's HTTP API as the control plane and the howl guard use it: synchronous AudioBridge
requests (list forwarders, forward, mute) over one session kept alive, and admin requests."""

from __future__ import annotations

import secrets
from typing import Any

import aiohttp


class JanusUnavailable(Exception):
    """Janus did not answer, or refused the request (the message says which and why)."""


async def _post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    body = {**body, "transaction": secrets.token_hex(6)}
    try:
        async with http.post(url, json=body) as response:
            reply: dict[str, Any] = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise JanusUnavailable(f"{body.get('janus')}: {exc or type(exc).__name__}") from None
    if reply.get("janus") == "error":
        raise JanusUnavailable(f"{body.get('janus')}: {reply.get('error')}")
    return reply


class AudioBridge:
    """One session and one AudioBridge handle, created on first use and again after a loss."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self._handle_url: str | None = None

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous plugin request; its plugin data. A lost session is made again once."""
        for attempt in (1, 2):
            if self._handle_url is None:
                session = await _post(self.http, self.base, {"janus": "create"})
                url = f"{self.base}/{session['data']['id']}"
                handle = await _post(
                    self.http, url, {"janus": "attach", "plugin": "janus.plugin.audiobridge"}
                )
                self._handle_url = f"{url}/{handle['data']['id']}"
            try:
                reply = await _post(self.http, self._handle_url, {"janus": "message", "body": body})
            except JanusUnavailable:
                self._handle_url = None
                if attempt == 2:
                    raise
                continue
            data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
            if "error" in data:
                raise JanusUnavailable(f"{body.get('request')}: {data.get('error')}")
            return data
        raise AssertionError("unreachable")

    async def forward_mix(self, room: str, address: str) -> bool:
        """Make sure the room's mix is RTP-forwarded (Opus) to ``address`` (``host:port``):
        Janus forgets forwarders when it restarts, so whoever needs the mix checks for its own
        now and then. True when one had to be made."""
        host, _, port = address.rpartition(":")
        listed = await self.request({"request": "listforwarders", "room": room})
        if any(
            str(f.get("ip")) == host and str(f.get("port")) == port
            for f in listed.get("rtp_forwarders", [])
        ):
            return False
        await self.request(
            {
                "request": "rtp_forward",
                "room": room,
                "host": host,
                "port": int(port),
                "codec": "opus",
                "ptype": 111,
                "always_on": True,
            }
        )
        return True

    async def keepalive(self) -> None:
        """Keep the session from timing out (Janus drops it after 60 s of silence)."""
        if self._handle_url is not None:
            session_url = self._handle_url.rsplit("/", 1)[0]
            try:
                await _post(self.http, session_url, {"janus": "keepalive"})
            except JanusUnavailable:
                self._handle_url = None


async def admin(
    http: aiohttp.ClientSession, base: str, secret: str, request: str, path: str = ""
) -> dict[str, Any]:
    """One admin API request (``list_sessions``, ``list_handles``, ``handle_info``)."""
    url = base.rstrip("/") + path
    return await _post(http, url, {"janus": request, "admin_secret": secret})
