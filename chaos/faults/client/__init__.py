"""Typed Toxiproxy API client, sync and async, for a real Toxiproxy or gameday's embedded server.

from chaos.faults.client import ToxiproxyClient, LatencyAttributes

with ToxiproxyClient() as toxiproxy:  # $TOXIPROXY_URL or http://127.0.0.1:8474
    edge = toxiproxy.create_proxy("edge", upstream="127.0.0.1:9000")
    toxiproxy.add_toxic("edge", LatencyAttributes(latency=200, jitter=50))
"""

from chaos.faults.client.aio import AsyncToxiproxyClient
from chaos.faults.client.errors import (
    PopulateError,
    ToxiproxyBadRequest,
    ToxiproxyConflict,
    ToxiproxyError,
    ToxiproxyNotFound,
    ToxiproxyProtocolError,
    ToxiproxyTimeout,
    ToxiproxyUnreachable,
)
from chaos.faults.client.extensions import (
    CorruptAttributes,
    DuplicateAttributes,
    LossAttributes,
    RateAttributes,
    SharedBandwidthAttributes,
)
from chaos.faults.client.models import (
    BandwidthAttributes,
    LatencyAttributes,
    LimitDataAttributes,
    NoopAttributes,
    Proxy,
    ProxySpec,
    ResetPeerAttributes,
    ServerInfo,
    SlicerAttributes,
    SlowCloseAttributes,
    Stream,
    TimeoutAttributes,
    Toxic,
    ToxicAttributes,
    UnknownAttributes,
    register_toxic_type,
)
from chaos.faults.client.protocol import Api, Operation, resolve_url
from chaos.faults.client.sync import ToxiproxyClient

__all__ = [
    "Api",
    "AsyncToxiproxyClient",
    "BandwidthAttributes",
    "CorruptAttributes",
    "DuplicateAttributes",
    "LatencyAttributes",
    "LimitDataAttributes",
    "LossAttributes",
    "NoopAttributes",
    "Operation",
    "PopulateError",
    "Proxy",
    "ProxySpec",
    "RateAttributes",
    "ResetPeerAttributes",
    "ServerInfo",
    "SharedBandwidthAttributes",
    "SlicerAttributes",
    "SlowCloseAttributes",
    "Stream",
    "TimeoutAttributes",
    "Toxic",
    "ToxicAttributes",
    "ToxiproxyBadRequest",
    "ToxiproxyClient",
    "ToxiproxyConflict",
    "ToxiproxyError",
    "ToxiproxyNotFound",
    "ToxiproxyProtocolError",
    "ToxiproxyTimeout",
    "ToxiproxyUnreachable",
    "UnknownAttributes",
    "register_toxic_type",
    "resolve_url",
]
