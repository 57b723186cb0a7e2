"""`gameday proxy …`: the embedded Toxiproxy-compatible server and its client from the shell."""

from __future__ import annotations

import typer

proxy_app = typer.Typer(
    help="Run or drive a Toxiproxy-compatible fault proxy.", no_args_is_help=True
)


@proxy_app.command(
    context_settings={
        "ignore_unknown_options": True,
        "allow_extra_args": True,
        "help_option_names": [],
    },
    add_help_option=False,
)
def serve(ctx: typer.Context) -> None:
    """Run the embedded Toxiproxy-compatible server (the Toxiproxy 2.12 API) until Ctrl-C.

    Flags are toxiproxy-server's, in Go's syntax (-port 8475, --port=8475, -proxy-metrics,
    -proxy-metrics=false): -host, -port, -config FILE (proxies to create, as /populate),
    -seed N, -proxy-metrics, -runtime-metrics, -version; -h lists them.

    [b]Examples[/b]:
      gameday proxy serve
      gameday proxy serve -port 8475 -config proxies.json -proxy-metrics
    """
    from chaos.faults.server.serve import main

    main(ctx.args)
