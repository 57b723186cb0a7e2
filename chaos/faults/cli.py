"""`gameday proxy …`: the embedded Toxiproxy-compatible server and its client from the shell."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

proxy_app = typer.Typer(
    help="Run or drive a Toxiproxy-compatible fault proxy.", no_args_is_help=True
)


@proxy_app.command()
def serve(
    host: Annotated[
        str, typer.Option("--host", "-host", help="Address the HTTP API binds to.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-port", min=0, max=65535, help="Port of the HTTP API.")
    ] = 8474,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-config", help="JSON array of proxies to create at start (as /populate)."
        ),
    ] = None,
    proxy_metrics: Annotated[
        bool,
        typer.Option("--proxy-metrics", "-proxy-metrics", help="Serve byte counters on /metrics."),
    ] = False,
    runtime_metrics: Annotated[
        bool,
        typer.Option(
            "--runtime-metrics", "-runtime-metrics", help="Serve process metrics on /metrics."
        ),
    ] = False,
    seed: Annotated[
        int | None,
        typer.Option(
            "--seed",
            "-seed",
            help="Seed every random decision (toxicity, jitter, slicing, loss); "
            "POST /gameday/seed changes it while running.",
        ),
    ] = None,
) -> None:
    """Run the embedded Toxiproxy-compatible server (the Toxiproxy 2.12 API) until Ctrl-C.

    Flags are spelled like toxiproxy-server's (-host, -port, -config) or with two dashes.

    [b]Examples[/b]:
      gameday proxy serve
      gameday proxy serve -port 8475 -config proxies.json -proxy-metrics
    """
    from chaos.faults.server.serve import configure_logging
    from chaos.faults.server.serve import serve as run
    from chaos.faults.server.server import ToxiproxyServer

    configure_logging(os.environ.get("LOG_LEVEL", "info"))
    server = ToxiproxyServer(
        host, port, seed=seed, proxy_metrics=proxy_metrics, runtime_metrics=runtime_metrics
    )
    run(server, config)
