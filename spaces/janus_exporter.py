"""Prometheus metrics of a Janus server, read from its admin API at each scrape.

Per AudioBridge participant (labelled by display name): packets received, packets lost on the
way in (Janus's RTCP receiver statistics: each one is audio the mixer had to conceal),
interarrival jitter, muted, the plugin's talking flag; and the server's sessions and handles.
``janus_up`` is 0 when the admin API does not answer.

    python -m spaces.janus_exporter --admin http://127.0.0.1:7088/admin --secret S --port 9100
"""

from __future__ import annotations

import argparse
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from spaces.janus_api import JanusUnavailable, admin
from spaces.service import serve


async def snapshot(http: aiohttp.ClientSession, base: str, secret: str) -> list[dict[str, Any]]:
    """Every handle's info; raises ``JanusUnavailable``."""
    sessions = (await admin(http, base, secret, "list_sessions")).get("sessions", [])
    infos: list[dict[str, Any]] = []
    for session in sessions:
        try:
            handles = (await admin(http, base, secret, "list_handles", f"/{session}")).get(
                "handles", []
            )
            for handle in handles:
                reply = await admin(http, base, secret, "handle_info", f"/{session}/{handle}")
                infos.append(reply.get("info", {}))
        except JanusUnavailable:
            continue  # the session ended between the two requests
    return infos


def families(infos: list[dict[str, Any]] | None) -> list[Metric]:
    up = GaugeMetricFamily("janus_up", "1 when the Janus admin API answered this scrape.")
    up.add_metric([], 0.0 if infos is None else 1.0)
    if infos is None:
        return [up]
    labels = ["participant", "room"]
    received = CounterMetricFamily(
        "janus_participant_packets_received",
        "RTP packets Janus received from a participant.",
        labels=labels,
    )
    lost = CounterMetricFamily(
        "janus_participant_packets_lost",
        "Packets of a participant that never reached Janus (concealed by the mixer).",
        labels=labels,
    )
    jitter = GaugeMetricFamily(
        "janus_participant_jitter_seconds", "Interarrival jitter Janus measured.", labels=labels
    )
    muted = GaugeMetricFamily("janus_participant_muted", "1 while muted.", labels=labels)
    talking = GaugeMetricFamily(
        "janus_participant_talking", "The plugin's talking flag.", labels=labels
    )
    participants = GaugeMetricFamily(
        "janus_audiobridge_participants", "Participants in a room.", labels=["room"]
    )
    rooms: dict[str, int] = {}
    handles = 0
    sessions: set[Any] = set()
    for info in infos:
        handles += 1
        sessions.add(info.get("session_id"))
        plugin = info.get("plugin_specific") or {}
        if info.get("plugin") != "janus.plugin.audiobridge" or "room" not in plugin:
            continue
        room = str(plugin["room"])
        rooms[room] = rooms.get(room, 0) + 1
        name = [str(plugin.get("display") or plugin.get("id")), room]
        muted.add_metric(name, 1.0 if plugin.get("muted") else 0.0)
        talking.add_metric(name, 1.0 if plugin.get("talking") else 0.0)
        for media in (info.get("webrtc", {}).get("media") or {}).values():
            if media.get("type") != "audio":
                continue
            main = (media.get("rtcp") or {}).get("main") or {}
            received.add_metric(name, (media.get("stats") or {}).get("in", {}).get("packets", 0))
            lost.add_metric(name, main.get("lost", 0))
            base = main.get("base") or 48000
            jitter.add_metric(name, main.get("jitter-local", 0) / base)
    for room, count in rooms.items():
        participants.add_metric([room], count)
    return [
        up,
        GaugeMetricFamily("janus_sessions", "Janus API sessions.", value=len(sessions)),
        GaugeMetricFamily("janus_handles", "Plugin handles.", value=handles),
        participants,
        received,
        lost,
        jitter,
        muted,
        talking,
    ]


class JanusCollector(Collector):
    def __init__(self) -> None:
        self.latest: list[Metric] = families(None)

    def collect(self) -> list[Metric]:
        return self.latest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--admin", required=True, help="admin API URL, e.g. http://H:P/admin")
    parser.add_argument("--secret", required=True)
    args = parser.parse_args(argv)
    collector = JanusCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    app = web.Application()

    async def metrics(_: web.Request) -> web.Response:
        http: aiohttp.ClientSession = app["http"]
        try:
            collector.latest = families(await snapshot(http, args.admin, args.secret))
        except JanusUnavailable:
            collector.latest = families(None)
        return web.Response(body=generate_latest(registry), content_type="text/plain")

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def session(app: web.Application) -> Any:
        app["http"] = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2))
        yield
        await app["http"].close()

    app.cleanup_ctx.append(session)
    app.add_routes([web.get("/metrics", metrics), web.get("/healthz", health)])
    serve(app, args.host, args.port)


if __name__ == "__main__":
    main()
