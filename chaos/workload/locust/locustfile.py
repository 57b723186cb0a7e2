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

from chaos.workload.locust.job import ENV, MASTER_PORT_FILE_ENV, LocustJob, parse_job
from chaos.workload.locust.master import REPORT_KEY, WorkerStates, serve
from chaos.workload.locust.user import ListenerUser
from chaos.workload.locust.worker import WorkerListeners

__all__ = ["GamedayShape", "ListenerUser"]

#: The address a worker's ``/metrics`` binds and advertises; set it on a worker machine.
METRICS_HOST_ENV = "GAMEDAY_LOCUST_METRICS_HOST"


_jobs: dict[str, LocustJob] = {}


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
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        job = _job(environment)  # fail at start, not at the first tick
        states = WorkerStates(runner.clients)
        environment.events.worker_report.add_listener(states.on_report)
        port_file = os.environ.get(MASTER_PORT_FILE_ENV)
        serve(states, job.metrics_host, Path(port_file) if port_file else None)
    elif isinstance(runner, WorkerRunner):

        def report(client_id: str, data: dict[str, Any]) -> None:
            if ListenerUser.listeners is not None:
                data[REPORT_KEY] = ListenerUser.listeners.url

        environment.events.report_to_master.add_listener(report)


def _on_test_start(environment: Any, **_: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner) or ListenerUser.listeners is not None:
        return
    job = _job(environment)
    index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
    host = os.environ.get(METRICS_HOST_ENV) or job.metrics_host
    ListenerUser.listeners = WorkerListeners(job, max(0, index), host)


# Locust's EventHook.add_listener carries no annotations.
events.init_command_line_parser.add_listener(_add_job_option)  # type: ignore[no-untyped-call]
events.init.add_listener(_on_init)  # type: ignore[no-untyped-call]
events.test_start.add_listener(_on_test_start)  # type: ignore[no-untyped-call]


class GamedayShape(LoadTestShape):
    """The experiment's arrival curve, timed from the run's T0 (wall clock)."""

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        job = _job(self.runner.environment)
        return job.shape.tick(time.time() - job.t0)
