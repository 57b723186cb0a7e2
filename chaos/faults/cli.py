"""`gameday proxy …`: the embedded Toxiproxy-compatible server and its client from the shell."""

from __future__ import annotations

import typer

proxy_app = typer.Typer(
    help="Run or drive a Toxiproxy-compatible fault proxy.", no_args_is_help=True
)
