"""Attribute models of the gameday server's extension toxic types (docs/proxy-extensions.md).

Registered with ``register_toxic_type`` so listing a gameday server gives typed attributes; use
them only where ``server_info().supports(...)`` says the server has the type (a real Toxiproxy
answers ``invalid toxic type``). Probabilities are fractions (0.05 is 5 %).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from chaos.faults.client.models import ToxicAttributes, register_toxic_type

Probability = Field(default=0.0, ge=0.0, le=1.0)


@register_toxic_type
class LossAttributes(ToxicAttributes):
    """TCP: lost segments stall the stream for an RTO (doubling on repeated loss); on a UDP
    proxy, lost datagrams are dropped. Random with ``probability``, or Gilbert–Elliott bursts
    when ``p`` > 0 (``p`` good→bad, ``r`` bad→good, loss ``h`` in bad, ``k`` in good)."""

    toxic_type: ClassVar[str] = "loss"
    probability: float = Probability
    p: float = Probability
    r: float = Probability
    h: float = Field(default=1.0, ge=0.0, le=1.0)
    k: float = Probability
    rto: int = Field(default=200, gt=0)
    """TCP only: the first retransmission timeout, ms."""
    mss: int = Field(default=1448, gt=0)
    """TCP only: segment size, bytes."""


@register_toxic_type
class SharedBandwidthAttributes(ToxicAttributes):
    """One ``rate`` KB/s budget per proxy and stream, shared fairly by all its connections."""

    toxic_type: ClassVar[str] = "shared_bandwidth"
    rate: int = Field(default=0, ge=0)


@register_toxic_type
class DuplicateAttributes(ToxicAttributes):
    """UDP: send a datagram twice with ``probability``."""

    toxic_type: ClassVar[str] = "duplicate"
    probability: float = Probability


@register_toxic_type
class CorruptAttributes(ToxicAttributes):
    """UDP: flip one random bit of a datagram with ``probability``."""

    toxic_type: ClassVar[str] = "corrupt"
    probability: float = Probability


@register_toxic_type
class RateAttributes(ToxicAttributes):
    """UDP: pace datagrams at ``rate`` KB/s; drop those that would queue over ``queue`` ms."""

    toxic_type: ClassVar[str] = "rate"
    rate: int = Field(default=0, ge=0)
    queue: int = Field(default=200, ge=0)
