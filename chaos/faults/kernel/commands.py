"""Run ``ip``/``tc``/``nft`` inside a network namespace; failures become actionable errors."""

from __future__ import annotations

import asyncio

from chaos.errors import InfrastructureError


async def run(argv: list[str], *, stdin: str | None = None, check: bool = True) -> str:
    """Run one command; its stdout. With ``check``, a non-zero exit raises naming the command."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise InfrastructureError(
            f"{argv[0]} is not installed",
            fix="install iproute2 and nftables (Debian: apt-get install iproute2 nftables)",
        ) from None
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    if check and process.returncode != 0:
        raise InfrastructureError(
            f"`{' '.join(argv)}` failed: {err.decode(errors='replace').strip()}",
            fix="run as root on a kernel with network namespaces, veth, nftables and tc",
        )
    return out.decode(errors="replace")


def in_namespace(namespace: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]
