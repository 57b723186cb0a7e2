"""``/metrics`` of the embedded server, with toxiproxy-server's flags and counter names.

As in Toxiproxy, byte counters of TCP proxies grow when a link ends (not while it runs), and
sent bytes count only when the write side ended without error; UDP proxies count as they go.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)

_LABELS = ("direction", "proxy", "listener", "upstream")


class ServerMetrics:
    def __init__(self, *, proxy_metrics: bool, runtime_metrics: bool) -> None:
        self.enabled = proxy_metrics or runtime_metrics
        self.registry = CollectorRegistry()
        self._received: Counter | None = None
        self._sent: Counter | None = None
        if proxy_metrics:
            self._received = Counter(
                "toxiproxy_proxy_received_bytes",
                "Bytes a proxy read from the source of a link.",
                _LABELS,
                registry=self.registry,
            )
            self._sent = Counter(
                "toxiproxy_proxy_sent_bytes",
                "Bytes a proxy wrote to the destination of a link.",
                _LABELS,
                registry=self.registry,
            )
        if runtime_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)

    def link_finished(
        self, labels: tuple[str, str, str, str], received: int, sent: int, write_failed: bool
    ) -> None:
        if self._received is None or self._sent is None:
            return
        self._received.labels(*labels).inc(received)
        if not write_failed:
            self._sent.labels(*labels).inc(sent)

    def datagram(self, labels: tuple[str, str, str, str], received: int, sent: int) -> None:
        """A UDP proxy's bytes, counted as they pass (a datagram path has no end to wait for);
        ``received`` what came in, ``sent`` what went out after the toxics (drops, duplicates)."""
        if self._received is None or self._sent is None:
            return
        if received:
            self._received.labels(*labels).inc(received)
        if sent:
            self._sent.labels(*labels).inc(sent)

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
