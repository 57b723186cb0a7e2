"""`gameday backends` and `gameday images build`: what can run a stack here, and its image."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from chaos.stack.capabilities import BACKENDS, PROXY_KINDS

console = Console(highlight=False, soft_wrap=True)
images_app = typer.Typer(help="Build the images the Docker backend runs.", no_args_is_help=True)


def backends() -> None:
    """List each stack backend: available here or why not, and the fault kinds it makes.

    [b]Example[/b]: gameday backends
    """
    table = Table("backend", "available", "why", "fault kinds")
    for backend in BACKENDS.values():
        found = backend.probe()
        table.add_row(
            backend.name,
            "yes" if found.ok else "no",
            found.reason,
            ", ".join(["proxy faults", *sorted(backend.kinds - PROXY_KINDS)]),
        )
    console.print(table)
    console.print(f"proxy faults (every backend): {', '.join(sorted(PROXY_KINDS))}")


@images_app.command()
def build(
    stack: Annotated[
        str, typer.Option(help="A built-in stack name or a spec file: whose image to build.")
    ] = "soundstage",
    suite: Annotated[str, typer.Option(help="Debian suite of the base image.")] = "bookworm",
    mirror: Annotated[
        str, typer.Option(help="Debian mirror debootstrap reads.")
    ] = "http://deb.debian.org/debian",
    cache: Annotated[Path, typer.Option(help="Where built wheels are kept between builds.")] = Path(
        ".gameday"
    )
    / "images",
    force: Annotated[bool, typer.Option(help="Rebuild even if the image is cached.")] = False,
) -> None:
    """Build a stack's image (gameday-STACK) from a debootstrap base with the Debian packages
    and extras its spec names under `image:`, and the harness (cached by content hash).

    [b]Examples[/b]:
      gameday images build
      gameday images build --stack spaces
      gameday images build --stack my-stack.yaml --mirror http://mirror.internal/debian --force
    """
    from chaos.experiment.loader import load_stack_spec
    from chaos.stack.images import build as build_image
    from chaos.stack.images import recipe_of
    from chaos.stack.specfile import spec_path

    recipe = recipe_of(load_stack_spec(spec_path(stack)), suite=suite, mirror=mirror)
    tag, log = build_image(recipe, cache=cache, force=force)
    for line in log:
        console.print(line)
    console.print(f"image: {tag}")
