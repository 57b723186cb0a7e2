"""Leased faults: on a server with the ``leases`` feature, faults outlive a dead harness only
briefly.

Every toxic the run adds, and every proxy it disables, carries ``lease_ms``; the server removes
the toxic (re-enables the proxy) once the lease runs out, unless the run renews it. A live run
renews all its leases in one call (``POST /gameday/leases``) every third of the lease, so two
missed renewals still leave it covered, and a SIGKILLed run's faults are gone within one lease.
Sans-IO operations, like the rest of the client, so either client runs them.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from chaos.faults.client import Api, Operation, ToxiproxyError, ToxiproxyNotFound
from chaos.faults.client.protocol import HttpRequest, HttpResponse
from chaos.runner.toxics import ToxicOp

FEATURE = "leases"
LEASES_PATH = "/gameday/leases"


def renew_every(lease_ms: int) -> float:
    """Seconds between renewals: a third of the lease."""
    return lease_ms / 3000


def _check(api: Api, request: HttpRequest, response: HttpResponse, expected: int) -> None:
    if response.status == expected:
        return
    cls = ToxiproxyNotFound if response.status == 404 else ToxiproxyError
    raise cls(
        url=api.url,
        method=request.method,
        path=request.path,
        status=response.status,
        message=response.body.decode(errors="replace").strip() or "(empty body)",
    )


def _send(
    api: Api, method: str, path: str, body: dict[str, Any], expected: int
) -> Operation[bytes]:
    request = HttpRequest(method, path, json.dumps(body, separators=(",", ":")).encode())
    response = yield request
    _check(api, request, response, expected)
    return response.body


def add_leased_toxic(api: Api, op: ToxicOp, lease_ms: int) -> Operation[None]:
    """Toxiproxy's toxic create, plus the lease the server drops it after."""
    body = {
        "name": op.name,
        "type": op.type,
        "stream": op.stream,
        "toxicity": op.toxicity,
        "attributes": dict(op.attributes),
        "lease_ms": lease_ms,
    }
    yield from _send(api, "POST", f"/proxies/{quote(op.proxy, safe='')}/toxics", body, 200)


def disable_leased(api: Api, proxy: str, run_id: str, lease_ms: int) -> Operation[None]:
    """Disable a proxy for this run; the server re-enables it when the lease runs out."""
    body = {"enabled": False, "lease_ms": lease_ms, "run": run_id}
    yield from _send(api, "PATCH", f"/proxies/{quote(proxy, safe='')}", body, 200)


def renew(api: Api, run_id: str, lease_ms: int) -> Operation[int]:
    """Renew every leased toxic and proxy of the run; how many the server renewed."""
    body = yield from _send(api, "POST", LEASES_PATH, {"run": run_id, "lease_ms": lease_ms}, 200)
    try:
        return int(json.loads(body)["renewed"])
    except (ValueError, KeyError, TypeError):
        raise ToxiproxyError(
            url=api.url,
            method="POST",
            path=LEASES_PATH,
            status=200,
            message=f"expected {{'renewed': N}}, got {body[:80]!r}",
        ) from None
