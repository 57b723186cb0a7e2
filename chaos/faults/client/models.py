"""What the Toxiproxy API talks about: proxies, toxics, and each toxic type's attributes.

Every toxic type has its own attributes model, so ``LatencyAttributes(latency=100)`` is checked
by mypy and pydantic before it reaches a server. A type this client does not know (a newer
Toxiproxy, or an extension of ours) still parses, as ``UnknownAttributes`` holding the raw
values, so listing a server never fails on something new.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationInfo,
    field_validator,
)

Stream = Literal["upstream", "downstream"]
Protocol = Literal["tcp", "udp"]


class ToxicAttributes(BaseModel):
    """Base of the per-type attribute models; ``toxic_type`` is the API's ``type`` string."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    toxic_type: ClassVar[str] = ""


class LatencyAttributes(ToxicAttributes):
    """Delay every chunk by ``latency`` ms ± a uniform ``jitter`` ms."""

    toxic_type: ClassVar[str] = "latency"
    latency: int = 0
    jitter: int = 0


class BandwidthAttributes(ToxicAttributes):
    """Limit the link to ``rate`` KB/s (1 KB = 1000 bytes)."""

    toxic_type: ClassVar[str] = "bandwidth"
    rate: int = 0


class SlowCloseAttributes(ToxicAttributes):
    """Hold the close for ``delay`` ms after the source ends."""

    toxic_type: ClassVar[str] = "slow_close"
    delay: int = 0


class TimeoutAttributes(ToxicAttributes):
    """Drop all data; close after ``timeout`` ms without input (0: never)."""

    toxic_type: ClassVar[str] = "timeout"
    timeout: int = 0


class ResetPeerAttributes(ToxicAttributes):
    """On the first data, wait ``timeout`` ms and reset the connection."""

    toxic_type: ClassVar[str] = "reset_peer"
    timeout: int = 0


class SlicerAttributes(ToxicAttributes):
    """Cut chunks into ~``average_size`` ± ``size_variation`` bytes, ``delay`` µs apart."""

    toxic_type: ClassVar[str] = "slicer"
    average_size: int = 0
    size_variation: int = 0
    delay: int = 0


class LimitDataAttributes(ToxicAttributes):
    """Close the link once ``bytes`` bytes have passed."""

    toxic_type: ClassVar[str] = "limit_data"
    bytes: int = 0


class NoopAttributes(ToxicAttributes):
    """Pass everything through (useful to test the plumbing)."""

    toxic_type: ClassVar[str] = "noop"


class UnknownAttributes(ToxicAttributes):
    """Attributes of a toxic type this client has no model for, kept verbatim."""

    model_config = ConfigDict(frozen=True, extra="allow")


ATTRIBUTES_BY_TYPE: dict[str, type[ToxicAttributes]] = {
    cls.toxic_type: cls
    for cls in (
        LatencyAttributes,
        BandwidthAttributes,
        SlowCloseAttributes,
        TimeoutAttributes,
        ResetPeerAttributes,
        SlicerAttributes,
        LimitDataAttributes,
        NoopAttributes,
    )
}


def register_toxic_type(cls: type[ToxicAttributes]) -> type[ToxicAttributes]:
    """Teach the client a new toxic type (a server extension); usable as a class decorator."""
    if not cls.toxic_type:
        raise ValueError(f"{cls.__name__} must set the class variable toxic_type")
    ATTRIBUTES_BY_TYPE[cls.toxic_type] = cls
    return cls


class Toxic(BaseModel):
    """One toxic as the server reports it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    type: str
    stream: Stream = "downstream"
    toxicity: float = 1.0
    lease_ms: int | None = None
    """gameday extension: the server removes the toxic when this lease runs out unrenewed."""
    # SerializeAsAny: dump the concrete per-type model, not the empty base declared here.
    attributes: SerializeAsAny[ToxicAttributes] = Field(default_factory=UnknownAttributes)

    @field_validator("stream", mode="before")
    @classmethod
    def _normalise_stream(cls, value: Any) -> Any:
        # Toxiproxy parses the stream case-insensitively and echoes it verbatim ("UpStream").
        return value.lower() if isinstance(value, str) else value

    @field_validator("attributes", mode="before")
    @classmethod
    def _typed_attributes(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, ToxicAttributes):
            return value
        model = ATTRIBUTES_BY_TYPE.get(info.data.get("type", ""), UnknownAttributes)
        return model.model_validate(value if value is not None else {})


class Proxy(BaseModel):
    """One proxy as the server reports it; ``listen`` is the address actually bound."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    listen: str
    upstream: str
    enabled: bool = True
    toxics: tuple[Toxic, ...] = ()
    protocol: Protocol = "tcp"
    """gameday extension: ``"udp"`` for a datagram proxy (a real Toxiproxy has only TCP)."""
    run: str | None = None
    """gameday extension: the run that created the proxy."""
    lease_ms: int | None = None
    """gameday extension: set while the proxy is disabled under a lease."""

    @field_validator("toxics", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return () if value is None else value

    @property
    def listen_host_port(self) -> tuple[str, int]:
        """``listen`` split for a socket connect (``[::]:8080`` → ``("::", 8080)``)."""
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class ProxySpec(BaseModel):
    """A proxy to create, as ``/populate`` and ``POST /proxies`` take it.

    ``protocol`` and ``run`` are gameday extensions, sent only when set (``body()``), so a spec
    without them is exactly what a real Toxiproxy expects.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    upstream: str = Field(min_length=1)
    listen: str = "127.0.0.1:0"
    enabled: bool = True
    protocol: Protocol | None = None
    run: str | None = None

    def body(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class ServerInfo(BaseModel):
    """Which server answers, and what it offers beyond Toxiproxy 2.12.

    ``flavor`` is ``"toxiproxy"`` for a real Toxiproxy (no extensions) and ``"gameday"`` for the
    embedded server, whose ``features`` name the extensions callers may rely on.
    """

    model_config = ConfigDict(frozen=True)

    flavor: Literal["toxiproxy", "gameday"]
    version: str
    server_version: str | None = None
    features: frozenset[str] = frozenset()

    def supports(self, feature: str) -> bool:
        return feature in self.features
