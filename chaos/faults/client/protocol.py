"""The Toxiproxy API as pure code: which request each call makes and what each answer means.

Every API call is an *operation*: a generator that yields ``HttpRequest``s and receives
``HttpResponse``s, returning the typed result or raising a typed error. No sockets here, so the
sync and the async client share every line of request building and response parsing (only their
transports differ), and calls compose with ``yield from`` into larger ones (feature detection,
rollback) that either client can run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from pydantic import BaseModel, TypeAdapter, ValidationError

from chaos.answers import quoted_body, status_line
from chaos.errors import InvalidInput
from chaos.faults.client.errors import (
    ERRORS_BY_STATUS,
    PopulateError,
    ToxiproxyError,
    ToxiproxyProtocolError,
)
from chaos.faults.client.models import Protocol as ProxyProtocol
from chaos.faults.client.models import (
    Proxy,
    ProxySpec,
    ServerInfo,
    Stream,
    Toxic,
    ToxicAttributes,
)

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8474"
URL_ENV = "TOXIPROXY_URL"
LEASES_PATH = "/gameday/leases"
SEED_PATH = "/gameday/seed"
FEATURES_PATH = "/gameday/features"
"""Our server's extension endpoint; a real Toxiproxy answers it with 404.

Ours answers 200 ``{"server": "gameday", "version": "<gameday version>", "features": [...]}``,
one name per extension a caller may rely on (e.g. ``"leases"``, ``"tags"``, ``"loss"``).
"""


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    path: str
    body: bytes | None = None


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes


Operation = Generator[HttpRequest, HttpResponse, T]
"""A sans-IO API call: run it with ``ToxiproxyClient.run`` or ``AsyncToxiproxyClient.run``."""


FLAG = "--toxiproxy"
"""The one spelling of the option naming the fault proxy, on every command and in pytest."""


@dataclass(frozen=True, slots=True)
class ChosenUrl:
    """A fault proxy a command was pointed at, and who pointed it there (for messages)."""

    url: str
    source: str
    """``--toxiproxy``, ``TOXIPROXY_URL`` (or, for a replay, the run that recorded it)."""


def chosen_url(flag: str | None, env: Mapping[str, str] | None = None) -> ChosenUrl | None:
    """The fault proxy a command was pointed at: ``--toxiproxy``, else ``$TOXIPROXY_URL`` (an
    empty one counts as unset), else None, the command's own default (the embedded proxy for
    ``run``, the recorded one for ``replay``). A URL that is none is refused naming its source.
    """
    if flag is not None:
        return ChosenUrl(_checked(flag, FLAG), FLAG)
    given = (os.environ if env is None else env).get(URL_ENV)
    return ChosenUrl(_checked(given, URL_ENV), URL_ENV) if given else None


def resolve_url(url: str | None = None) -> str:
    """The API base URL: explicit argument, else ``$TOXIPROXY_URL``, else the default.

    Like Toxiproxy's own Go client, a bare ``host:port`` means ``http://host:port``.
    """
    chosen = chosen_url(url)
    return DEFAULT_URL if chosen is None else chosen.url


_URL_FIX = "use http://HOST:PORT, e.g. http://127.0.0.1:8474"


def _checked(given: str, source: str) -> str:
    if any(c.isspace() for c in given.strip()) or not given.strip():
        raise InvalidInput(
            f"invalid Toxiproxy URL {given!r}: a URL has no spaces",
            where=source,
            fix=_URL_FIX,
        )
    given = given.strip()
    candidate = given if "://" in given else f"http://{given}"
    parts = urlsplit(candidate)
    try:
        parts.port  # noqa: B018 - raises ValueError on a non-numeric or out-of-range port
    except ValueError as exc:
        raise InvalidInput(
            f"invalid Toxiproxy URL {given!r}: {exc}",
            where=source,
            fix=_URL_FIX,
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"invalid Toxiproxy URL {given!r}: need an http(s) URL with a host",
            where=source,
            fix=_URL_FIX,
        )
    return candidate.rstrip("/")


def _segment(name: str) -> str:
    return quote(name, safe="")


def _json_body(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _decode(url: str, response: HttpResponse) -> Any:
    try:
        return json.loads(response.body)
    except ValueError:
        raise ToxiproxyProtocolError(
            url,
            f"{status_line(response.status)} with a body that is not JSON: "
            + quoted_body(response.body),
        ) from None


def _parse(url: str, shape: TypeAdapter[T], payload: Any) -> T:
    try:
        return shape.validate_python(payload)
    except ValidationError as exc:
        raise ToxiproxyProtocolError(url, f"unexpected response shape: {exc}") from None


def _read(url: str, shape: TypeAdapter[T], response: HttpResponse) -> T:
    return _parse(url, shape, _decode(url, response))


def _error_message(response: HttpResponse) -> str:
    # Toxiproxy errors are {"error","status"}; an unknown path gives Go's "404 page not found".
    try:
        payload = json.loads(response.body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("error"), str):
        return str(payload["error"])
    return quoted_body(response.body)


def _error(url: str, request: HttpRequest, response: HttpResponse) -> ToxiproxyError:
    cls = ERRORS_BY_STATUS.get(response.status, ToxiproxyError)
    return cls(
        url=url,
        method=request.method,
        path=request.path,
        status=response.status,
        message=_error_message(response),
    )


def _call(url: str, request: HttpRequest, expected: int) -> Operation[HttpResponse]:
    response = yield request
    if response.status != expected:
        raise _error(url, request, response)
    return response


_PROXY = TypeAdapter(Proxy)
_PROXY_MAP = TypeAdapter(dict[str, Proxy])
_PROXY_LIST = TypeAdapter(list[Proxy])
_TOXIC = TypeAdapter(Toxic)
_TOXIC_LIST = TypeAdapter(list[Toxic])


class _Renewed(BaseModel):
    renewed: int


_RENEWED = TypeAdapter(_Renewed)


class _FloodIngress(BaseModel):
    listen: str


_FLOOD_INGRESS = TypeAdapter(_FloodIngress)


@dataclass(frozen=True, slots=True)
class Api:
    """Builds the operations for one server; ``url`` only labels errors."""

    url: str

    def version(self) -> Operation[str]:
        """The server's version string (``"2.12.0"`` from Toxiproxy 2.12 and from ours)."""
        response = yield from _call(self.url, HttpRequest("GET", "/version"), 200)
        try:
            payload = json.loads(response.body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and isinstance(payload.get("version"), str):
            return str(payload["version"])
        # Toxiproxy before 2.1 answered the bare version as text.
        return response.body.decode(errors="replace").strip()

    def server_info(self) -> Operation[ServerInfo]:
        """Tell a real Toxiproxy from ours; a 404 on the extension endpoint means "real"."""
        version = yield from self.version()
        request = HttpRequest("GET", FEATURES_PATH)
        response = yield request
        if response.status == 404:
            return ServerInfo(flavor="toxiproxy", version=version)
        if response.status != 200:
            raise _error(self.url, request, response)
        payload = _decode(self.url, response)
        if not isinstance(payload, dict) or payload.get("server") != "gameday":
            return ServerInfo(flavor="toxiproxy", version=version)
        features = payload.get("features", [])
        if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
            raise ToxiproxyProtocolError(self.url, f"{FEATURES_PATH}: features is not a list")
        server_version = payload.get("version")
        return ServerInfo(
            flavor="gameday",
            version=version,
            server_version=server_version if isinstance(server_version, str) else None,
            features=frozenset(features),
        )

    def list_proxies(self) -> Operation[dict[str, Proxy]]:
        response = yield from _call(self.url, HttpRequest("GET", "/proxies"), 200)
        return _read(self.url, _PROXY_MAP, response)

    def get_proxy(self, name: str) -> Operation[Proxy]:
        request = HttpRequest("GET", f"/proxies/{_segment(name)}")
        response = yield from _call(self.url, request, 200)
        return _read(self.url, _PROXY, response)

    def create_proxy(
        self,
        name: str,
        upstream: str,
        *,
        listen: str = "127.0.0.1:0",
        enabled: bool = True,
        protocol: ProxyProtocol | None = None,
        run: str | None = None,
    ) -> Operation[Proxy]:
        """Create a proxy; the default listen is loopback on a free port (see ``Proxy.listen``).

        ``protocol="udp"`` and ``run`` need a gameday server (features ``udp``, ``tags``).
        """
        spec = ProxySpec(
            name=name,
            upstream=upstream,
            listen=listen,
            enabled=enabled,
            protocol=protocol,
            run=run,
        )
        request = HttpRequest("POST", "/proxies", _json_body(spec.body()))
        response = yield from _call(self.url, request, 201)
        return _read(self.url, _PROXY, response)

    def update_proxy(
        self,
        name: str,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
        run: str | None = None,
        lease_ms: int | None = None,
    ) -> Operation[Proxy]:
        """PATCH only the given fields; a new listen or upstream restarts the proxy.

        ``lease_ms`` with ``enabled=False`` (gameday feature ``leases``): the server enables the
        proxy again by itself when the lease runs out unrenewed.
        """
        changes = {
            "listen": listen,
            "upstream": upstream,
            "enabled": enabled,
            "run": run,
            "lease_ms": lease_ms,
        }
        body = {key: value for key, value in changes.items() if value is not None}
        request = HttpRequest("PATCH", f"/proxies/{_segment(name)}", _json_body(body))
        response = yield from _call(self.url, request, 200)
        return _read(self.url, _PROXY, response)

    def delete_proxy(self, name: str) -> Operation[None]:
        yield from _call(self.url, HttpRequest("DELETE", f"/proxies/{_segment(name)}"), 204)

    def list_toxics(self, proxy: str) -> Operation[list[Toxic]]:
        request = HttpRequest("GET", f"/proxies/{_segment(proxy)}/toxics")
        response = yield from _call(self.url, request, 200)
        return _read(self.url, _TOXIC_LIST, response)

    def get_toxic(self, proxy: str, name: str) -> Operation[Toxic]:
        request = HttpRequest("GET", f"/proxies/{_segment(proxy)}/toxics/{_segment(name)}")
        response = yield from _call(self.url, request, 200)
        return _read(self.url, _TOXIC, response)

    def add_toxic(
        self,
        proxy: str,
        attributes: ToxicAttributes | Mapping[str, Any],
        *,
        type: str | None = None,
        name: str | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        lease_ms: int | None = None,
    ) -> Operation[Toxic]:
        """Add a toxic; its type comes from the attributes model, or ``type`` for a raw mapping.

        The server names it ``<type>_<stream>`` unless ``name`` is given. ``lease_ms`` (gameday
        feature ``leases``) makes the server remove it when the lease runs out unrenewed.
        """
        toxic_type = _toxic_type(attributes, type)
        body: dict[str, Any] = {
            "type": toxic_type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": _attribute_values(attributes, partial=False),
        }
        if name is not None:
            body["name"] = name
        if lease_ms is not None:
            body["lease_ms"] = lease_ms
        request = HttpRequest("POST", f"/proxies/{_segment(proxy)}/toxics", _json_body(body))
        response = yield from _call(self.url, request, 200)
        return _read(self.url, _TOXIC, response)

    def update_toxic(
        self,
        proxy: str,
        name: str,
        attributes: ToxicAttributes | Mapping[str, Any] | None = None,
        *,
        toxicity: float | None = None,
    ) -> Operation[Toxic]:
        """Change some attributes and/or the toxicity; everything not given keeps its value.

        An attributes model sends only the fields set explicitly, so
        ``LatencyAttributes(jitter=10)`` changes the jitter and keeps the latency, as the server
        merges attributes over the current ones.
        """
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = _attribute_values(attributes, partial=True)
        if toxicity is not None:
            body["toxicity"] = toxicity
        path = f"/proxies/{_segment(proxy)}/toxics/{_segment(name)}"
        response = yield from _call(self.url, HttpRequest("PATCH", path, _json_body(body)), 200)
        return _read(self.url, _TOXIC, response)

    def remove_toxic(self, proxy: str, name: str) -> Operation[None]:
        path = f"/proxies/{_segment(proxy)}/toxics/{_segment(name)}"
        yield from _call(self.url, HttpRequest("DELETE", path), 204)

    def populate(self, proxies: Iterable[ProxySpec]) -> Operation[list[Proxy]]:
        """Create or replace proxies in one call; unchanged ones keep their toxics and state.

        Raises ``PopulateError`` with the proxies done so far when the server stops part-way.
        """
        body = _json_body([spec.body() for spec in proxies])
        request = HttpRequest("POST", "/populate", body)
        response = yield request
        payload = _decode(self.url, response)
        if not isinstance(payload, dict):
            raise ToxiproxyProtocolError(self.url, "/populate did not answer a JSON object")
        done: list[Proxy] = _parse(self.url, _PROXY_LIST, payload.get("proxies") or [])
        if response.status != 201:
            base = _error(self.url, request, response)
            raise PopulateError(
                url=self.url,
                method=request.method,
                path=request.path,
                status=response.status,
                message=base.message,
                proxies=tuple(done),
            )
        return done

    def reset(self) -> Operation[None]:
        """Re-enable every proxy and remove every toxic."""
        yield from _call(self.url, HttpRequest("POST", "/reset"), 204)

    def renew_leases(self, run: str, lease_ms: int) -> Operation[int]:
        """Extend every leased toxic (``NAME@RUN``) and leased proxy of ``run``; how many.

        gameday feature ``leases``; renewing never restarts a toxic (no re-roll, no gap).
        """
        body = _json_body({"run": run, "lease_ms": lease_ms})
        response = yield from _call(self.url, HttpRequest("POST", LEASES_PATH, body), 200)
        return _read(self.url, _RENEWED, response).renewed

    def set_seed(self, seed: int) -> Operation[None]:
        """Reseed the server (gameday feature ``seed``): what follows draws as after ``-seed``."""
        body = _json_body({"seed": seed})
        yield from _call(self.url, HttpRequest("POST", SEED_PATH, body), 200)

    def flood_ingress(self, proxy: str) -> Operation[str]:
        """The address where a connection pulls junk server-to-client through ``proxy``'s
        toxics (gameday feature ``flood_ingress``); it listens until the proxy is deleted."""
        path = f"/gameday/proxies/{_segment(proxy)}/flood"
        response = yield from _call(self.url, HttpRequest("POST", path, b""), 200)
        return _read(self.url, _FLOOD_INGRESS, response).listen


def _toxic_type(attributes: ToxicAttributes | Mapping[str, Any], given: str | None) -> str:
    declared = attributes.toxic_type if isinstance(attributes, ToxicAttributes) else ""
    if declared and given is not None and given != declared:
        raise ValueError(f"type={given!r} contradicts {type(attributes).__name__} ({declared!r})")
    toxic_type = declared or given
    if not toxic_type:
        raise ValueError("a raw attributes mapping needs type=, e.g. type='latency'")
    return toxic_type


def _attribute_values(
    attributes: ToxicAttributes | Mapping[str, Any], *, partial: bool
) -> dict[str, Any]:
    if isinstance(attributes, ToxicAttributes):
        return attributes.model_dump(exclude_unset=partial)
    return dict(attributes)
