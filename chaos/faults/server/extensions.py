"""Our opt-in request fields beyond Toxiproxy 2.12, read from bodies the standard decoder accepted.

A real Toxiproxy's decoder ignores unknown keys, so these fields never change how a standard
body decodes or which error it gets first; they are read in a second pass, here, and each one is
checked with a message naming the field and what it takes. Absent fields stay ``None``: only
what a caller set is echoed back (see docs/proxy-extensions.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from chaos.faults.server import gojson
from chaos.faults.server.errors import ApiError, bad_request_body
from chaos.runner.run_tag import SEPARATOR, run_id_of

MAX_LEASE_MS = 7 * 24 * 3600 * 1000
"""A week: a lease is a dead-man's switch, not a schedule; longer is surely a unit mistake."""

Protocol = Literal["tcp", "udp"]


@dataclass(frozen=True, slots=True)
class ProxyExtensions:
    protocol: Protocol | None = None
    run: str | None = None
    lease_ms: int | None = None


NO_EXTENSIONS = ProxyExtensions()


def shown(value: object, limit: int = 40) -> str:
    """A bad value as JSON, cut short: a message names it, it does not echo a megabyte."""
    text = "null" if value is None else gojson.encode(value).decode()
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _members(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _lease_ms(members: dict[str, object], where: str) -> int | None:
    value = members.get("lease_ms")
    if value is None:
        return None
    lease = gojson.as_int64(value)
    if lease is None or not 0 < lease <= MAX_LEASE_MS:
        raise ApiError(
            f"{where}lease_ms must be a whole number of milliseconds from 1 to {MAX_LEASE_MS} "
            f"(got {shown(value)})",
            400,
        )
    return lease


def _run(members: dict[str, object], where: str) -> str | None:
    value = members.get("run")
    if value is None:
        return None
    if not isinstance(value, str) or isinstance(value, gojson.GoNumber) or not valid_run(value):
        raise ApiError(
            f"{where}run must be a run id: letters, digits, '_', '.', '-' (max 64), starting "
            f"with a letter or digit (got {shown(value)})",
            400,
        )
    return value


def valid_run(run: str) -> bool:
    """The run ids ``gameday`` puts after ``@`` in toxic names (chaos/runner/run_tag.py)."""
    return run_id_of(SEPARATOR + run) == run


def toxic_lease(value: object) -> int | None:
    """``lease_ms`` of a toxic create or update body."""
    return _lease_ms(_members(value), "")


def proxy_extensions(value: object, *, where: str = "", patch: bool = False) -> ProxyExtensions:
    """``protocol`` and ``run`` on create/populate; ``run`` and ``lease_ms`` on PATCH."""
    members = _members(value)
    protocol = members.get("protocol")
    if protocol is not None and (patch or protocol not in ("tcp", "udp")):
        raise ApiError(
            f"{where}protocol cannot change on an existing proxy; delete and create it again"
            if patch
            else f'{where}protocol must be "tcp" or "udp" (got {shown(protocol)})',
            400,
        )
    lease = _lease_ms(members, where)
    if lease is not None and not patch:
        raise ApiError(
            f"{where}lease_ms leases disabling a proxy: send it in a PATCH with enabled false",
            400,
        )
    return ProxyExtensions(
        protocol="udp" if protocol == "udp" else "tcp" if protocol == "tcp" else None,
        run=_run(members, where),
        lease_ms=lease,
    )


def lease_renewal(body: bytes) -> tuple[str, int]:
    """``POST /gameday/leases`` ``{"run": RUNID, "lease_ms": N}``; both are required."""
    members = _members(_decoded(body))
    run, lease = _run(members, ""), _lease_ms(members, "")
    if run is None or lease is None:
        raise ApiError('renewal needs {"run": "RUNID", "lease_ms": N}', 400)
    return run, lease


def seed(body: bytes) -> int:
    """``POST /gameday/seed`` ``{"seed": N}``: any int64, as ``-seed``."""
    value = _members(_decoded(body)).get("seed")
    seed_value = gojson.as_int64(value)
    if seed_value is None:
        raise ApiError(
            f'seed needs {{"seed": N}} with N a whole number (int64) (got {shown(value)})', 400
        )
    return seed_value


def _decoded(body: bytes) -> object:
    try:
        return gojson.decode(body)
    except gojson.GoJSONError as exc:
        raise bad_request_body(str(exc)) from None
