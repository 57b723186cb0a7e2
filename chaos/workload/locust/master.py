"""The Locust master's side of a run: which workers it has, in what state, and where their
metrics are, served on the master's own ``/metrics`` for the harness.

Locust side. Locust marks a worker ``missing`` when three heartbeats in a row do not arrive
(and deals its users to the others); the harness reads that state here and calls the load
incomplete. Workers put the URL of their ``/metrics`` in every report to the master.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chaos.workload.locust.exposition import WORKER_METRIC

#: The key under which a worker reports the URL of its ``/metrics`` to the master.
REPORT_KEY = "gameday_metrics"


class WorkerStates(Collector):
    """``clients``: the master runner's worker nodes by id (``MasterRunner.clients``)."""

    def __init__(self, clients: Any) -> None:
        self._clients = clients
        self._urls: dict[str, str] = {}

    def on_report(self, client_id: str, data: dict[str, Any]) -> None:
        url = data.get(REPORT_KEY)
        if isinstance(url, str):
            self._urls[client_id] = url

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            WORKER_METRIC,
            "Locust workers this master knows, by state and /metrics URL (always 1).",
            labels=["worker", "state", "metrics"],
        )
        for node in list(self._clients.values()):
            family.add_metric([node.id, node.state, self._urls.get(node.id, "")], 1)
        yield family


def serve(states: WorkerStates, host: str, port_file: Path | None) -> int:
    """Serve the states on ``host`` (a free port, written to ``port_file`` for the harness)."""
    registry = CollectorRegistry()
    registry.register(states)
    server, _ = start_http_server(0, addr=host, registry=registry)
    port: int = server.server_port
    if port_file is not None:
        tmp = port_file.with_suffix(".tmp")
        tmp.write_text(str(port))
        tmp.replace(port_file)
    return port
