"""The on-air delay of a run: from T0, the scheduled start, until the listeners' ears first
heard the host (the host joined, the stack mixed, packaged and served the audio, an ear
decoded it): the launch delay of 2024, when a Space started about 42 minutes late.

Each ear reports its first sound once (the ``ear.on_air`` journal event, heard_at on the wall
clock); the runner keeps the earliest and this collector exposes it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chaos.slo.objective import ON_AIR_DELAY


class OnAirCollector(Collector):
    """``gameday_on_air_delay_seconds``, with no sample until an ear heard the host: an SLO on
    it has no data (so fails) while nobody has heard them."""

    def __init__(self, delay: Callable[[], float | None]) -> None:
        self.delay = delay

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            ON_AIR_DELAY, "From T0 until listeners' ears first heard the host's audio.", labels=[]
        )
        value = self.delay()
        if value is not None:
            family.add_metric([], value)
        yield family
