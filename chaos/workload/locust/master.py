"""The Locust master's side of a run: which workers it has, in what state, and where their
metrics are, served on the master's own ``/metrics`` for the harness.

Locust side. Locust marks a worker ``missing`` when three heartbeats in a row do not arrive
(and deals its users to the others); the harness reads that state here and calls the load
incomplete. Workers put the URL of their ``/metrics`` in every report to the master.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from chaos.workload.locust.exposition import WORKER_METRIC

#: The key under which a worker reports the URL of its ``/metrics`` to the master.
REPORT_KEY = "gameday_metrics"
#: The key under which a worker reports whether it has the run's T0.
T0_KNOWN_KEY = "gameday_t0_known"


class T0Relay:
    """The run's T0 as the master learns it, and sent on to every worker.

    ``fixed``: the job's own T0 (nothing to learn). Otherwise the harness writes T0 to ``path``
    once every worker is there; the shape asks ``t0()`` each tick, and the first time it finds
    the file it sends T0 to all workers (before any user starts: Locust delivers a worker's
    messages in order). A worker that reports it still lacks T0 (one that reconnected) is sent
    it again. ``send(data, client_id)``: ``MasterRunner.send_message`` for ``T0_MESSAGE``."""

    def __init__(
        self, fixed: float | None, path: Path | None, send: Callable[[float, str | None], None]
    ) -> None:
        self._t0 = fixed
        self._path = path
        self._send = send

    def t0(self) -> float | None:
        if self._t0 is None and self._path is not None:
            try:
                self._t0 = float(self._path.read_text())
            except (OSError, ValueError):  # not yet written (or being replaced)
                return None
            self._send(self._t0, None)
        return self._t0

    def on_report(self, client_id: str, data: dict[str, Any]) -> None:
        if self._t0 is not None and data.get(T0_KNOWN_KEY) is False:
            self._send(self._t0, client_id)


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
