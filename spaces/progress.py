"""Prometheus metrics of an ffmpeg process, from the progress it reports (`ffmpeg -progress URL`).

ffmpeg POSTs blocks of ``key=value`` lines (``out_time_us``, ``total_size``, ``speed``,
``dup_frames``, ``drop_frames``, ``progress=continue|end``) about twice a second over one
chunked request; this keeps the last block and serves it as ``ffmpeg_*`` metrics with the time
of the last report, so a stuck packager shows as a report that stopped coming.

    python -m spaces.progress --port 9101   # ffmpeg ... -progress http://127.0.0.1:9101/progress
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from spaces.service import metrics_route, serve


class Progress:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.reports = 0
        self.last_report: float | None = None
        self.connections = 0

    def feed(self, line: str) -> None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return
        self.values[key] = value.strip()
        if key == "progress":
            self.reports += 1
            self.last_report = time.time()

    def number(self, key: str, scale: float = 1.0) -> float:
        text = self.values.get(key, "").rstrip("x")
        try:
            return float(text) * scale
        except ValueError:
            return float("nan")


class ProgressCollector(Collector):
    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def collect(self) -> Iterator[Metric]:
        p = self.progress
        yield GaugeMetricFamily(
            "ffmpeg_out_time_seconds",
            "Media time ffmpeg has written.",
            value=p.number("out_time_us", 1e-6),
        )
        yield GaugeMetricFamily(
            "ffmpeg_total_size_bytes", "Bytes written.", value=p.number("total_size")
        )
        yield GaugeMetricFamily(
            "ffmpeg_speed_ratio", "Processing speed / real time.", value=p.number("speed")
        )
        yield CounterMetricFamily(
            "ffmpeg_dup_frames", "Frames duplicated.", value=p.number("dup_frames")
        )
        yield CounterMetricFamily(
            "ffmpeg_drop_frames", "Frames dropped.", value=p.number("drop_frames")
        )
        yield CounterMetricFamily(
            "ffmpeg_progress_reports", "Progress reports received.", value=p.reports
        )
        yield CounterMetricFamily(
            "ffmpeg_progress_connections", "Times ffmpeg connected to report.", value=p.connections
        )
        yield GaugeMetricFamily(
            "ffmpeg_last_report_timestamp_seconds",
            "When the last report came (Unix time).",
            value=p.last_report if p.last_report is not None else float("nan"),
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    args = parser.parse_args(argv)
    progress = Progress()
    registry = CollectorRegistry()
    registry.register(ProgressCollector(progress))

    async def receive(request: web.Request) -> web.Response:
        progress.connections += 1
        pending = b""
        async for chunk in request.content.iter_any():
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                progress.feed(line.decode(errors="replace"))
        return web.Response(text="ok\n")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(client_max_size=1024**2)
    app.add_routes(
        [
            web.post("/progress", receive),
            web.put("/progress", receive),
            web.get("/healthz", health),
            metrics_route(registry),
        ]
    )
    serve(app, args.host, args.port)


if __name__ == "__main__":
    main()
