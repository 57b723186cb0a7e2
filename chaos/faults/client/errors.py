"""Typed failures of a Toxiproxy API call.

Two families, because callers react differently: the server *answered* and refused
(``ToxiproxyError`` and its per-status subclasses, carrying the server's own
``{"error","status"}``), or we could not hold a conversation with it at all
(``ToxiproxyUnreachable`` and friends, which are ``InfrastructureError`` so the CLI exits 3 with
a message naming the URL and the fix).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaos.answers import status_line
from chaos.errors import GamedayError, InfrastructureError

if TYPE_CHECKING:
    from chaos.faults.client.models import Proxy

START_FIX = "start one with `gameday proxy serve` or set TOXIPROXY_URL to a running Toxiproxy"


class ToxiproxyError(GamedayError):
    """The server answered a call with an error status; ``message`` is its own words."""

    def __init__(self, *, url: str, method: str, path: str, status: int, message: str) -> None:
        self.url = url
        self.method = method
        self.path = path
        self.status = status
        self.message = message
        super().__init__(
            f"{method} {path} failed with {status_line(status)}: {message}",
            where=f"Toxiproxy at {url}",
        )


class ToxiproxyBadRequest(ToxiproxyError):
    """400: the server rejected the body (bad JSON, missing field, invalid toxic or stream)."""


class ToxiproxyNotFound(ToxiproxyError):
    """404: no such proxy or toxic (or an endpoint this server does not have)."""


class ToxiproxyConflict(ToxiproxyError):
    """409: a proxy or toxic of that name already exists."""


class PopulateError(ToxiproxyError):
    """/populate stopped part-way; ``proxies`` are the ones it created or kept before failing."""

    def __init__(
        self,
        *,
        url: str,
        method: str,
        path: str,
        status: int,
        message: str,
        proxies: tuple[Proxy, ...],
    ) -> None:
        self.proxies = proxies
        super().__init__(url=url, method=method, path=path, status=status, message=message)


ERRORS_BY_STATUS: dict[int, type[ToxiproxyError]] = {
    400: ToxiproxyBadRequest,
    404: ToxiproxyNotFound,
    409: ToxiproxyConflict,
}


class ToxiproxyUnreachable(InfrastructureError):
    """No conversation was possible: refused, unresolvable, reset, or no answer in time."""

    part = "fault-proxy"

    def __init__(self, url: str, reason: str, *, source: str | None = None) -> None:
        """``source``: what named ``url`` (``--toxiproxy``, ``TOXIPROXY_URL``, the recorded
        run), when the user chose the server; the message then says so, since a stale
        ``TOXIPROXY_URL`` in a shell is easy to forget."""
        self.url = url
        self.reason = reason
        named = url if source is None else f"{url} (from {source})"
        super().__init__(
            f"cannot reach the Toxiproxy API at {named}: {reason}",
            fix=START_FIX
            if source is None
            else f"{source} gave {url}: start a Toxiproxy there (`gameday proxy serve`), or "
            "name one that runs with --toxiproxy URL or TOXIPROXY_URL",
        )

    def named_by(self, source: str) -> ToxiproxyUnreachable:
        """The same failure, saying what named the URL."""
        return type(self)(self.url, self.reason, source=source)


class ToxiproxyTimeout(ToxiproxyUnreachable):
    """The server accepted the connection but did not answer within the client's timeout."""


class ToxiproxyProtocolError(InfrastructureError):
    """Something answered at the URL, but not in the Toxiproxy API's shape (wrong service?)."""

    part = "fault-proxy"

    def __init__(self, url: str, what: str) -> None:
        self.url = url
        super().__init__(
            f"the server at {url} does not speak the Toxiproxy API: {what}",
            fix="check TOXIPROXY_URL points at a Toxiproxy API port (default 8474), "
            "not at a proxied service",
        )
