"""Toxic types of the embedded server, one module each (as in Toxiproxy's ``toxics/``)."""

from __future__ import annotations

from chaos.faults.toxics.bandwidth import BandwidthToxic
from chaos.faults.toxics.base import Chunk, Stub, Toxic, ToxicSchema
from chaos.faults.toxics.latency import LatencyToxic
from chaos.faults.toxics.limit_data import LimitDataToxic
from chaos.faults.toxics.loss import LossToxic
from chaos.faults.toxics.noop import NOOP, NoopToxic
from chaos.faults.toxics.reset_peer import ResetPeerToxic
from chaos.faults.toxics.shared_bandwidth import SharedBandwidthToxic
from chaos.faults.toxics.slicer import SlicerToxic
from chaos.faults.toxics.slow_close import SlowCloseToxic
from chaos.faults.toxics.timeout import TimeoutToxic

TOXIC_TYPES: dict[str, type[Toxic]] = {
    cls.type_name: cls
    for cls in (
        LatencyToxic,
        BandwidthToxic,
        SlowCloseToxic,
        TimeoutToxic,
        ResetPeerToxic,
        NoopToxic,
        SlicerToxic,
        LimitDataToxic,
        LossToxic,
        SharedBandwidthToxic,
    )
}
"""Toxiproxy 2.12's types, then our extensions (``loss``, ``shared_bandwidth``)."""

__all__ = ["NOOP", "TOXIC_TYPES", "Chunk", "Stub", "Toxic", "ToxicSchema"]
