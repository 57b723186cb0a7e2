"""What the sync and async clients share about HTTP: settings and how transport failures read.

httpx raises a zoo of exceptions; callers only need two answers, "it answered something that is
not the API" or "we could not talk to it", each with the URL and the fix.
"""

from __future__ import annotations

from typing import TypedDict

import httpx

from chaos import __version__
from chaos.faults.client.errors import (
    ToxiproxyProtocolError,
    ToxiproxyTimeout,
    ToxiproxyUnreachable,
)

DEFAULT_TIMEOUT = 10.0
"""Seconds for each call; a healthy server answers in milliseconds, a wedged one never."""

HEADERS = {
    # Toxiproxy answers 403 to user agents starting with "Mozilla/" (browser CSRF guard).
    "User-Agent": f"gameday/{__version__}",
    "Content-Type": "application/json",
    "Accept": "application/json",
}


class ClientSettings(TypedDict):
    base_url: str
    timeout: httpx.Timeout
    headers: dict[str, str]
    trust_env: bool


def client_settings(url: str, timeout: float) -> ClientSettings:
    """Keyword arguments for ``httpx.Client`` / ``httpx.AsyncClient``."""
    if not timeout > 0:
        raise ValueError(f"timeout must be positive seconds, not {timeout!r}")
    return ClientSettings(
        base_url=url,
        timeout=httpx.Timeout(timeout),
        headers=HEADERS,
        # TOXIPROXY_URL names the server exactly; an HTTP(S)_PROXY from the environment must
        # not route calls to a loopback API through a corporate proxy.
        trust_env=False,
    )


def transport_error(
    url: str, timeout: float, exc: httpx.TransportError
) -> ToxiproxyUnreachable | ToxiproxyProtocolError:
    """Turn an httpx failure into the error a person can act on."""
    if isinstance(exc, httpx.ConnectTimeout):
        return ToxiproxyUnreachable(url, f"no TCP connection within {timeout:g} s")
    if isinstance(exc, httpx.TimeoutException):
        return ToxiproxyTimeout(
            url, f"the server took the connection but did not answer within {timeout:g} s"
        )
    if isinstance(exc, httpx.RemoteProtocolError):
        return ToxiproxyProtocolError(url, f"malformed or missing HTTP answer ({exc})")
    return ToxiproxyUnreachable(url, str(exc) or type(exc).__name__)
