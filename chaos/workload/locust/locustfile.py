"""What ``locust -f`` loads for a gameday run: the listener user, the experiment's load shape,
and the hooks that tie master and workers to the harness.

Locust side; never imported by the harness. The master reads the run's job from
``--gameday-job`` (``GAMEDAY_LOCUST_JOB``), follows its shape from the run's T0, and serves its
workers' states; Locust forwards the option to each worker, which sets up its listeners and
``/metrics`` when the test starts there and reports that URL to the master.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner

from chaos.workload.locust.job import (
    ENV,
    MASTER_PORT_FILE_ENV,
    T0_FILE_ENV,
    T0_MESSAGE,
    LocustJob,
    parse_job,
)
from chaos.workload.locust.master import REPORT_KEY, T0_KNOWN_KEY, T0Relay, WorkerStates, serve
from chaos.workload.locust.user import ListenerUser
from chaos.workload.locust.worker import WorkerListeners

__all__ = ["GamedayShape", "ListenerUser"]

#: The address a worker's ``/metrics`` binds and advertises; set it on a worker machine.
METRICS_HOST_ENV = "GAMEDAY_LOCUST_METRICS_HOST"


_jobs: dict[str, LocustJob] = {}
_relay: T0Relay | None = None
"""The master's T0 (set at init on the master)."""
_worker_t0: float | None = None
"""T0 as this worker received it, if before its listeners were set up."""


def _job(environment: Any) -> LocustJob:
    """The run's job, decoded once (the shape asks every second)."""
    text = getattr(environment.parsed_options, "gameday_job", None) or ""
    if text not in _jobs:
        _jobs[text] = parse_job(text)
    return _jobs[text]


def _add_job_option(parser: Any) -> None:
    parser.add_argument(
        "--gameday-job",
        env_var=ENV,
        default="",
        include_in_web_ui=False,
        help="The gameday run's job (JSON); set by `gameday run --load-engine locust`.",
    )


def _on_init(environment: Any, **_: Any) -> None:
    global _relay
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        job = _job(environment)  # fail at start, not at the first tick
        states = WorkerStates(runner.clients)
        environment.events.worker_report.add_listener(states.on_report)
        t0_file = os.environ.get(T0_FILE_ENV)
        _relay = T0Relay(
            job.t0,
            Path(t0_file) if t0_file else None,
            lambda t0, client: runner.send_message(T0_MESSAGE, {"t0": t0}, client_id=client),
        )
        environment.events.worker_report.add_listener(_relay.on_report)
        port_file = os.environ.get(MASTER_PORT_FILE_ENV)
        serve(states, job.metrics_host, Path(port_file) if port_file else None)
    elif isinstance(runner, WorkerRunner):

        def report(client_id: str, data: dict[str, Any]) -> None:
            listeners = ListenerUser.listeners
            data[T0_KNOWN_KEY] = _worker_t0 is not None or (
                listeners is not None and listeners.t0_known
            )
            if listeners is not None:
                data[REPORT_KEY] = listeners.url

        def t0_received(msg: Any, **_: Any) -> None:  # Locust passes environment= and msg=
            global _worker_t0
            _worker_t0 = float(msg.data["t0"])
            if ListenerUser.listeners is not None:
                ListenerUser.listeners.set_t0(_worker_t0)

        environment.events.report_to_master.add_listener(report)
        runner.register_message(T0_MESSAGE, t0_received)


def _on_test_start(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner) or ListenerUser.listeners is not None:
        return
    job = _job(environment)
    index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    host = os.environ.get(METRICS_HOST_ENV) or job.metrics_host
    ListenerUser.listeners = WorkerListeners(job, max(0, index), host, _worker_t0)


# Locust's EventHook.add_listener carries no annotations.
events.init_command_line_parser.add_listener(_add_job_option)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]


class GamedayShape(LoadTestShape):
    """The experiment's arrival curve, timed from the run's T0 (wall clock); nobody until the
    harness has given T0."""

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None and _relay is not None
        t0 = _relay.t0()
        if t0 is None:
            return 0, 1.0
        return _job(self.runner.environment).shape.tick(time.time() - t0)
