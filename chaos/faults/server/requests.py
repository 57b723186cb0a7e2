"""Request bodies decoded with Toxiproxy's rules: Go's JSON decoder over typed structs, defaults,
required fields and the order in which errors are reported.

Pure functions from bytes to typed inputs, raising ``ApiError`` with the exact message a real
Toxiproxy 2.12 gives, plus our 400s for values Toxiproxy would crash or stall on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chaos.faults.server import gojson
from chaos.faults.server.errors import (
    INVALID_STREAM,
    INVALID_TOXIC_TYPE,
    TOXIC_EXISTS,
    ApiError,
    bad_request_body,
    missing_field,
)
from chaos.faults.toxics import TOXIC_TYPES, Toxic

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


@dataclass(frozen=True)
class ToxicInput:
    name: str
    type: str
    stream: str
    toxicity: float
    toxic: Toxic


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


def _proxy_input(fields: dict[str, object]) -> ProxyInput:
    return ProxyInput(
        name=str(fields["name"]),
        listen=str(fields["listen"]),
        upstream=str(fields["upstream"]),
        enabled=bool(fields["enabled"]),
    )


def proxy_create(body: bytes) -> ProxyInput:
    fields: dict[str, object] = {"name": "", "listen": "", "upstream": "", "enabled": True}
    _into(_object(_decode(body), "toxiproxy.Proxy"), PROXY, fields)
    if not fields["name"]:
        raise missing_field("name")
    if not fields["upstream"]:
        raise missing_field("upstream")
    return _proxy_input(fields)


def proxy_update(body: bytes, current: ProxyInput) -> ProxyInput:
    """Decoded over the current values: omitted fields keep them; ``name`` cannot change."""
    fields: dict[str, object] = {
        "name": current.name,
        "listen": current.listen,
        "upstream": current.upstream,
        "enabled": current.enabled,
    }
    _into(_object(_decode(body), "toxiproxy.Proxy"), PROXY, fields)
    fields["name"] = current.name
    return _proxy_input(fields)


def populate(body: bytes) -> list[ProxyInput]:
    """Every entry is validated before anything is created; ``enabled`` null/missing is true."""
    value = _decode(body)
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request_body(str(gojson.value_type_error(value, f"[]{POPULATE_ENTRY_TYPE}")))
    entries: list[dict[str, object]] = []
    for item in value:
        fields: dict[str, object] = {"name": "", "listen": "", "upstream": "", "enabled": True}
        _into(_object(item, POPULATE_ENTRY_TYPE), POPULATE_ENTRY, fields)
        entries.append(fields)
    for index, fields in enumerate(entries, start=1):
        if not fields["name"]:
            raise missing_field(f"name at proxy {index}")
        if not fields["upstream"]:
            raise missing_field(f"upstream at proxy {index}")
    return [_proxy_input(fields) for fields in entries]


def _attribute_struct(cls: type[Toxic]) -> gojson.Struct:
    return gojson.Struct(
        cls.go_struct,
        tuple(gojson.Field(name, "int" if go == "int" else "int64") for name, go in cls.fields),
    )


def _checked(cls: type[Toxic], attributes: dict[str, object]) -> Toxic:
    toxic = cls({name: int(str(value)) for name, value in attributes.items()})
    problem = toxic.validate()
    if problem is not None:
        raise ApiError(f"invalid {cls.type_name} toxic: {problem}", 400)
    return toxic


def toxic_create(body: bytes, exists: Callable[[str], bool]) -> ToxicInput:
    """Errors in Toxiproxy's order: body, stream, type, duplicate name, attributes."""
    value = _object(_decode(body), "toxics.ToxicWrapper")
    fields: dict[str, object] = {"name": "", "type": "", "stream": "downstream", "toxicity": 1.0}
    ignored: dict[str, object] = {}
    _into(value, WRAPPER, fields, {"attributes": (gojson.Struct("NoopToxic", ()), ignored)})
    stream = str(fields["stream"])
    if stream.lower() not in ("upstream", "downstream"):
        raise INVALID_STREAM
    toxic_type = str(fields["type"])
    name = str(fields["name"]) or f"{toxic_type}_{stream}"
    cls = TOXIC_TYPES.get(toxic_type)
    if cls is None:
        raise INVALID_TOXIC_TYPE
    if exists(name):
        raise TOXIC_EXISTS
    attributes: dict[str, object] = dict.fromkeys((n for n, _ in cls.fields), 0)
    holder = gojson.Struct("", (gojson.Field("attributes", "object", f"toxics.{cls.go_struct}"),))
    _into(value, holder, {}, {"attributes": (_attribute_struct(cls), attributes)})
    toxicity = fields["toxicity"]
    assert isinstance(toxicity, float)
    return ToxicInput(name, toxic_type, stream, toxicity, _checked(cls, attributes))


def toxic_update(body: bytes, current: Toxic, toxicity: float) -> tuple[Toxic, float]:
    """Attributes decode over the current values; toxicity keeps its value unless given."""
    cls = type(current)
    attributes: dict[str, object] = dict(current.attributes)
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
    return _checked(cls, attributes), new_toxicity
