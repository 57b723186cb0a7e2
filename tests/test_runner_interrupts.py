"""Signals during a run: the first stops the experiment, none stops the rollback."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

from chaos.runner.interrupts import Interrupts


async def test_the_first_signal_cancels_the_run_and_a_second_during_rollback_does_not() -> None:
    said: list[str] = []
    finished: list[str] = []

    async def run() -> None:
        task = asyncio.current_task()
        assert task is not None
        with Interrupts(task, said.append) as interrupts:
            try:
                await asyncio.sleep(30)  # the experiment
            finally:
                interrupts.protect()
                os.kill(os.getpid(), signal.SIGINT)  # an impatient second Ctrl-C
                await asyncio.sleep(0.2)  # the rollback's awaits still run
                finished.append("rollback")

    task = asyncio.create_task(run())
    await asyncio.sleep(0.1)
    os.kill(os.getpid(), signal.SIGTERM)
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert finished == ["rollback"]
    assert said[0].startswith("SIGTERM: stopping the run")
    assert said[1].startswith("SIGINT: rolling back, please wait")
    # The handlers are gone again afterwards (Ctrl-C behaves normally once the run is over).
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
