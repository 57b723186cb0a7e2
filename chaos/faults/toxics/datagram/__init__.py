"""Toxic types of UDP proxies (a gameday extension), one module each."""

from __future__ import annotations

from chaos.faults.toxics.datagram.base import Datagram, DatagramToxic, apply_all
from chaos.faults.toxics.datagram.corrupt import CorruptToxic
from chaos.faults.toxics.datagram.duplicate import DuplicateToxic
from chaos.faults.toxics.datagram.latency import DatagramLatencyToxic
from chaos.faults.toxics.datagram.loss import DatagramLossToxic
from chaos.faults.toxics.datagram.rate import RateToxic

DATAGRAM_TOXIC_TYPES: dict[str, type[DatagramToxic]] = {
    cls.type_name: cls
    for cls in (
        DatagramLossToxic,
        DatagramLatencyToxic,
        DuplicateToxic,
        CorruptToxic,
        RateToxic,
    )
}

__all__ = ["DATAGRAM_TOXIC_TYPES", "Datagram", "DatagramToxic", "apply_all"]
