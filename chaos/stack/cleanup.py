"""Remove what one run left on every backend that could hold it, by run id alone.

A SIGKILLed run runs no ``finally``: its containers keep running and its namespaces stay.
Both are named and labelled with the run id, so this needs no state file; a backend that is
unavailable here (no engine, not root) cannot hold anything of the run and is skipped. Local
and namespace processes are found in the run's ledger (``chaos.stack.ledger``): any group
still there (the harness's reaper killed too, say) is stopped.
"""

from __future__ import annotations

import asyncio

from chaos.runner.run_tag import check_run_id
from chaos.stack import ledger
from chaos.stack.capabilities import BACKENDS


async def _cleanup(run_id: str) -> list[str]:
    removed = await ledger.stop_run(run_id)
    if BACKENDS["docker"].probe().ok:
        from chaos.stack import docker

        removed += await docker.cleanup(run_id)
    if BACKENDS["netns"].probe().ok:
        from chaos.stack import netns

        removed += [f"namespace {name}" for name in await netns.cleanup(run_id)]
    return removed


def cleanup_run(run_id: str) -> list[str]:
    """The lines a person reads: what was removed, or that nothing was left."""
    removed = asyncio.run(_cleanup(check_run_id(run_id)))
    if not removed:
        return [f"no process, container, network or namespace of run {run_id} left"]
    return [f"removed {what}" for what in removed]
