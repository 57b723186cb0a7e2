"""Run ``ip``/``tc``/``nft`` inside a network namespace; failures become actionable errors."""

from __future__ import annotations

import asyncio
import subprocess

from chaos.errors import InfrastructureError

_MISSING = InfrastructureError(
    "ip, tc or nft is not installed",
    fix="install iproute2 and nftables (Debian: apt-get install iproute2 nftables)",
)


def _checked(argv: list[str], returncode: int | None, out: bytes, err: bytes, check: bool) -> str:
    if check and returncode != 0:
        raise InfrastructureError(
            f"`{' '.join(argv)}` failed: {err.decode(errors='replace').strip()}",
            fix="run as root on a kernel with network namespaces, veth, nftables and tc",
        )
    return out.decode(errors="replace")


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
        raise _MISSING from None
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    return _checked(argv, process.returncode, out, err, check)


def run_sync(argv: list[str]) -> str:
    """``run`` for the few steps that must finish inside a synchronous call (``plan()``)."""
    try:
        done = subprocess.run(argv, capture_output=True, check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise _MISSING from None
    return _checked(argv, done.returncode, done.stdout, done.stderr, True)


def in_namespace(namespace: str, argv: list[str]) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]
