"""Request bodies decoded with Toxiproxy's rules: Go's JSON decoder over typed structs, defaults,
required fields and the order in which errors are reported.

Pure functions from bytes to typed inputs, raising ``ApiError`` with the exact message a real
Toxiproxy 2.12 gives, plus our 400s for values Toxiproxy would crash or stall on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from chaos.faults.server import gojson
from chaos.faults.server.errors import (
    ApiError,
    bad_request_body,
    invalid_stream,
    invalid_toxic_type,
    missing_field,
    toxic_exists,
)
from chaos.faults.server.extensions import (
    NO_EXTENSIONS,
    ProxyExtensions,
    proxy_extensions,
    shown,
    toxic_lease,
)
from chaos.faults.toxics import TOXIC_TYPES, ToxicSchema

_PROXY_FIELDS = (
    gojson.Field("name", "string"),
    gojson.Field("listen", "string"),
    gojson.Field("upstream", "string"),
    gojson.Field("enabled", "bool"),
    gojson.Field("Logger", "object", "zerolog.Logger"),
)
PROXY = gojson.Struct("Proxy", _PROXY_FIELDS)
POPULATE_ENTRY = gojson.Struct("", _PROXY_FIELDS)
POPULATE_ENTRY_TYPE = 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
_UPDATE_TYPE = (
    'struct { Attributes interface {} "json:\\"attributes\\""; '
    'Toxicity float32 "json:\\"toxicity\\"" }'
)
WRAPPER = gojson.Struct(
    "ToxicWrapper",
    (
        gojson.Field("attributes", "object", "toxics.NoopToxic"),
        gojson.Field("name", "string"),
        gojson.Field("type", "string"),
        gojson.Field("stream", "string"),
        gojson.Field("toxicity", "float32"),
    ),
)


@dataclass(frozen=True)
class ProxyInput:
    name: str
    listen: str
    upstream: str
    enabled: bool
    ext: ProxyExtensions = NO_EXTENSIONS
    """Our opt-in fields (protocol, run tag, lease): all None in a standard body."""


@dataclass(frozen=True)
class ToxicInput:
    name: str
    type: str
    stream: str
    toxicity: float
    toxic: ToxicSchema
    lease_ms: int | None = None
    """Our extension: remove the toxic when this lease runs out unless renewed."""


MAX_NAME_BYTES = 4096
"""Longer names would not fit a request line once percent-encoded (Toxiproxy takes any)."""


def check_name(kind: str, name: str, where: str = "") -> None:
    """Refuse a name no URL can address: Toxiproxy creates ``a/b`` or ``..`` and then can
    neither show nor delete it (``/proxies/a/b`` is another route, ``..`` is cleaned away)."""
    size = len(name.encode("utf-8", "surrogatepass"))
    if name in (".", "..") or "/" in name or size > MAX_NAME_BYTES:
        raise ApiError(
            f"invalid {kind} name{where}: names go in URL paths, so a name cannot be '.' or "
            f"'..', contain '/', or be longer than {MAX_NAME_BYTES} bytes (got {shown(name)})",
            400,
        )


def _decode(body: bytes) -> object:
    try:
        return gojson.decode(body)
    except gojson.GoJSONError as exc:
        raise bad_request_body(str(exc)) from None


def _object(value: object, go_type: str) -> dict[str, object] | None:
    if value is None or isinstance(value, dict):
        return value
    raise bad_request_body(str(gojson.value_type_error(value, go_type)))


def _into(
    value: dict[str, object] | None,
    struct: gojson.Struct,
    target: dict[str, object],
    nested: dict[str, tuple[gojson.Struct, dict[str, object]]] | None = None,
) -> None:
    err = gojson.decode_into(value, struct, target, nested=nested)
    if err is not None:
        raise bad_request_body(str(err))


def _proxy_input(fields: dict[str, object], ext: ProxyExtensions) -> ProxyInput:
    return ProxyInput(
        name=str(fields["name"]),
        listen=str(fields["listen"]),
        upstream=str(fields["upstream"]),
        enabled=bool(fields["enabled"]),
        ext=ext,
    )


def proxy_create(body: bytes) -> ProxyInput:
    fields: dict[str, object] = {"name": "", "listen": "", "upstream": "", "enabled": True}
    value = _object(_decode(body), "toxiproxy.Proxy")
    _into(value, PROXY, fields)
    if not fields["name"]:
        raise missing_field("name")
    if not fields["upstream"]:
        raise missing_field("upstream")
    check_name("proxy", str(fields["name"]))
    return _proxy_input(fields, proxy_extensions(value))


def proxy_update(body: bytes, current: ProxyInput) -> ProxyInput:
    """Decoded over the current values: omitted fields keep them; ``name`` cannot change.

    The extensions are what the body sets (``run`` and ``lease_ms``), not merged over anything.
    """
    fields: dict[str, object] = {
        "name": current.name,
        "listen": current.listen,
        "upstream": current.upstream,
        "enabled": current.enabled,
    }
    value = _object(_decode(body), "toxiproxy.Proxy")
    _into(value, PROXY, fields)
    fields["name"] = current.name
    ext = proxy_extensions(value, patch=True)
    if ext.lease_ms is not None and fields["enabled"]:
        raise ApiError(
            "lease_ms leases disabling a proxy: send it with enabled false "
            "(the proxy is enabled again when the lease runs out)",
            400,
        )
    return _proxy_input(fields, ext)


def populate(body: bytes) -> list[ProxyInput]:
    """Every entry is validated before anything is created; ``enabled`` null/missing is true."""
    value = _decode(body)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request_body(str(gojson.value_type_error(value, f"[]{POPULATE_ENTRY_TYPE}")))
    entries: list[tuple[dict[str, object], object]] = []
    for item in value:
        fields: dict[str, object] = {"name": "", "listen": "", "upstream": "", "enabled": True}
        _into(_object(item, POPULATE_ENTRY_TYPE), POPULATE_ENTRY, fields)
        entries.append((fields, item))
    for index, (fields, _) in enumerate(entries, start=1):
        if not fields["name"]:
            raise missing_field(f"name at proxy {index}")
        if not fields["upstream"]:
            raise missing_field(f"upstream at proxy {index}")
        check_name("proxy", str(fields["name"]), f" at proxy {index}")
    return [
        _proxy_input(fields, proxy_extensions(item, where=f"proxy {index}: "))
        for index, (fields, item) in enumerate(entries, start=1)
    ]


def _kind(go: str) -> gojson.GoKind:
    return "int" if go == "int" else "float64" if go == "float64" else "int64"


def _attribute_struct(cls: type[ToxicSchema]) -> gojson.Struct:
    return gojson.Struct(
        cls.go_struct, tuple(gojson.Field(name, _kind(go)) for name, go in cls.fields)
    )


def _number(value: object) -> float:
    """A decoded attribute: an int for integer fields (exact, int64-wide), a float otherwise."""
    assert isinstance(value, int | float)
    return value


def _checked(cls: type[ToxicSchema], attributes: dict[str, object]) -> ToxicSchema:
    toxic = cls({name: _number(value) for name, value in attributes.items()})
    problem = toxic.validate()
    if problem is not None:
        raise ApiError(f"invalid {cls.type_name} toxic: {problem}", 400)
    return toxic


def toxic_create(
    body: bytes, exists: Callable[[str], bool], types: Mapping[str, type[ToxicSchema]] = TOXIC_TYPES
) -> ToxicInput:
    """Errors in Toxiproxy's order: body, stream, type, duplicate name, attributes.

    ``types`` are the toxic types of the proxy's protocol (datagram types on a UDP proxy).
    """
    value = _object(_decode(body), "toxics.ToxicWrapper")
    fields: dict[str, object] = {"name": "", "type": "", "stream": "downstream", "toxicity": 1.0}
    ignored: dict[str, object] = {}
    _into(value, WRAPPER, fields, {"attributes": (gojson.Struct("NoopToxic", ()), ignored)})
    stream = str(fields["stream"])
    if stream.lower() not in ("upstream", "downstream"):
        raise invalid_stream()
    toxic_type = str(fields["type"])
    name = str(fields["name"]) or f"{toxic_type}_{stream}"
    cls = types.get(toxic_type)
    if cls is None:
        raise invalid_toxic_type()
    check_name("toxic", name)
    if exists(name):
        raise toxic_exists()
    attributes: dict[str, object] = {n: cls.defaults.get(n, 0) for n, _ in cls.fields}
    holder = gojson.Struct("", (gojson.Field("attributes", "object", f"toxics.{cls.go_struct}"),))
    _into(value, holder, {}, {"attributes": (_attribute_struct(cls), attributes)})
    toxicity = fields["toxicity"]
    assert isinstance(toxicity, float)
    toxic = _checked(cls, attributes)
    return ToxicInput(name, toxic_type, stream, toxicity, toxic, toxic_lease(value))


def toxic_update(
    body: bytes, current: ToxicSchema, toxicity: float
) -> tuple[ToxicSchema, float, int | None]:
    """Attributes decode over the current values; toxicity keeps its value unless given.

    The third value is a new lease (``lease_ms``) when the body sets one.
    """
    cls = type(current)
    attributes: dict[str, object] = dict(current.values())
    fields: dict[str, object] = {"toxicity": toxicity}
    struct = gojson.Struct(
        "",
        (
            gojson.Field("attributes", "object", f"toxics.{cls.go_struct}"),
            gojson.Field("toxicity", "float32"),
        ),
    )
    value = _object(_decode(body), _UPDATE_TYPE)
    _into(value, struct, fields, {"attributes": (_attribute_struct(cls), attributes)})
    new_toxicity = fields["toxicity"]
    assert isinstance(new_toxicity, float)
    return _checked(cls, attributes), new_toxicity, toxic_lease(value)
