"""`gameday stack …`: bring a stack up or down outside a run."""

from __future__ import annotations

import typer

stack_app = typer.Typer(help="Start and stop the stack under test.", no_args_is_help=True)
