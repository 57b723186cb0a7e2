"""The ``gameday`` executable.

``gameday proxy serve`` goes straight to the fault proxy: a proxy that every run and every
test starts must not wait a second for the whole CLI to import before it listens. Every other
command is the Typer app of ``chaos.cli``.
"""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:3] == ["proxy", "serve"]:
        from chaos.faults.server.serve import main as serve

        serve(sys.argv[3:])
    from chaos.cli import main as cli

    cli()
