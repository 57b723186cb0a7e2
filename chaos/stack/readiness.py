"""Readiness: a component may be used once its check passes, whoever started it.

A check is a URL: ``http://host:port/path`` is ready when it answers 200 (only the status
line and headers are read, so the URL may be an endless stream, such as an Icecast mount
that answers 200 only once its source is on air), ``tcp://host:port`` when a TCP connection
is accepted. Components gameday starts are waited for wave by wave (`after`); components that
already run elsewhere (`address:`) before anything starts, so a run never loads a stack half
of which is not there.

Every backend waits with ``wait_until_ready`` (``wait_for_external`` first): the loop, the
deadline and the error that names what was not ready, why (the last check's answer) and the
option that allows longer.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from chaos.errors import InfrastructureError

if TYPE_CHECKING:
    from chaos.stack.plan import StackPlan

CHECK_TIMEOUT = 1.0
"""Seconds one check may take (connect and headers); a slower answer is "not yet"."""


def tcp_check(address: str) -> str:
    """The check of a TCP port that speaks no HTTP: ready when it accepts a connection."""
    return f"tcp://{address}"


async def not_ready_because(client: httpx.AsyncClient, url: str) -> str | None:
    """None when ``url``'s check passes; otherwise why not, in a few words."""
    parts = urlsplit(url)
    if parts.scheme == "tcp":
        host = (parts.hostname or "").strip("[]")
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, parts.port), CHECK_TIMEOUT
            )
        except TimeoutError:
            return f"no answer to a TCP connect to {parts.netloc} within {CHECK_TIMEOUT:g}s"
        except OSError as exc:
            return f"TCP connect to {parts.netloc}: {os.strerror(exc.errno) if exc.errno else exc}"
        writer.close()
        return None
    try:
        async with client.stream("GET", url) as response:
            if response.status_code == 200:
                return None
            return f"GET {url} answered {response.status_code} {response.reason_phrase}".rstrip()
    except httpx.HTTPError as exc:
        return f"GET {url}: {type(exc).__name__} {exc}".rstrip()


async def answers(client: httpx.AsyncClient, url: str) -> bool:
    """True when ``url``'s check passes (a status line of 200, or a TCP connection)."""
    return await not_ready_because(client, url) is None


Up = Callable[[str], Awaitable[bool]]
"""Whether a replica's process is up (False: not yet); raises when it is gone for good."""


async def wait_until_ready(
    names: list[str],
    checks: Mapping[str, str],
    *,
    timeout: float,
    up: Up,
    where: Callable[[list[str]], str],
    fix: str,
    on_waiting: Callable[[list[str]], None] = lambda names: None,
    poll: float = 0.05,
) -> None:
    """Return once every replica in ``names`` is up and passes its check (if it has one);
    raise ``InfrastructureError`` naming those still not ready after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pending = dict.fromkeys(names, "not checked yet")
    async with httpx.AsyncClient(timeout=CHECK_TIMEOUT) as client:
        while pending:
            on_waiting(sorted(pending))
            for name in list(pending):
                if not await up(name):
                    pending[name] = "not running yet"
                    continue
                url = checks.get(name)
                reason = None if url is None else await not_ready_because(client, url)
                if reason is None:
                    del pending[name]
                else:
                    pending[name] = reason
            if not pending:
                return
            if time.monotonic() > deadline:
                waiting = sorted(pending)
                raise InfrastructureError(
                    part="stack",
                    what=f"{', '.join(waiting)} not healthy after {timeout:g}s ("
                    + "; ".join(f"{n}: {pending[n]}" for n in waiting)
                    + ")",
                    where=where(waiting),
                    fix=fix,
                )
            await asyncio.sleep(poll)


async def wait_for_external(
    plan: StackPlan,
    checks: Mapping[str, str],
    timeout: float,
    on_waiting: Callable[[list[str]], None] = lambda names: None,
) -> None:
    """Before anything starts: every component that already runs elsewhere (`address:`) and
    has a check passes it (gameday cannot start it, so it can only wait)."""
    external = [r.name for r in plan.replicas if r.command is None and r.name in checks]

    async def up(name: str) -> bool:
        return True

    await wait_until_ready(
        external,
        checks,
        timeout=timeout,
        up=up,
        where=lambda names: ", ".join(f"{n} at {checks[n]}" for n in names),
        fix="start it, or correct its `address` or `health`; for a slow start raise it: "
        "`gameday run --health-timeout 60s`",
        on_waiting=on_waiting,
    )
