"""What the harness tells the Locust processes of a run, as one JSON document.

Locust starts its processes from a command line, possibly on other machines, so the listener
configuration, the load shape and the shared T0 travel as plain data: the master reads them
from ``GAMEDAY_LOCUST_JOB`` (a custom Locust option, ``--gameday-job``), and Locust itself sends
custom options to every worker with its spawn message, so a worker started by hand on another
machine needs only the locustfile. T0 is wall-clock time: machines share no monotonic clock
(keep them in NTP sync).

A run fixes T0 only once every worker has connected (a busy machine takes seconds to start
Locust's processes), so a job may leave ``t0`` unset: the harness then writes it to the file
``GAMEDAY_LOCUST_T0_FILE`` names on the master's machine, and the master sends it on to each
worker (``T0_MESSAGE``) before it starts any user.
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from chaos.errors import InvalidInput
from chaos.workload.locust.shape import LoadShape
from chaos.workload.reconnect import ReconnectPolicy, RetryKind
from chaos.workload.swarm import ListenerConfig, StreamFormat

ENV = "GAMEDAY_LOCUST_JOB"
#: Where the master writes the port of its worker-state ``/metrics``.
MASTER_PORT_FILE_ENV = "GAMEDAY_LOCUST_MASTER_PORT_FILE"
#: Where the harness writes T0 (wall clock) for the master, when the job leaves it unset.
T0_FILE_ENV = "GAMEDAY_LOCUST_T0_FILE"
#: The custom Locust message that carries T0 from the master to a worker.
T0_MESSAGE = "gameday_t0"
ATTEMPTS_PATH = "/attempts"
"""Where a worker serves its cohorts' attempts as JSON (beside ``/metrics``)."""
FAILURES_PATH = "/failures"
"""Where a worker serves the first details of each reason its listeners failed or dropped for,
by cohort, as JSON: a metric label carries the reason, not what the listener met."""


@dataclass(frozen=True, slots=True)
class LocustJob:
    """``listeners``: one config per target (an edge replica); users are dealt round-robin.
    ``metrics_host``: the address each worker's ``/metrics`` binds and reports to the master.
    Which users are ears is each listener config's ``ears``. With cohorts, ``control`` is the
    control share and ``cohorts`` the cohort of each config (``chaos.workload.cohorts.Cohort``):
    each user is dealt a cohort, then one of that cohort's targets, round-robin."""

    listeners: tuple[ListenerConfig, ...]
    shape: LoadShape
    t0: float | None
    """None: the harness gives T0 once the workers are there (``T0_FILE_ENV``)."""
    seed: int
    metrics_host: str = "127.0.0.1"
    snapshot_interval: float = 1.0
    control: float | None = None
    cohorts: tuple[str, ...] = ()

    def encode(self) -> str:
        """Compressed JSON in base64: one command-line-safe word, small for long shapes."""
        data = asdict(self)
        data["shape"] = {"steps": [list(s) for s in self.shape.steps], "end": self.shape.end}
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")

    @classmethod
    def decode(cls, text: str) -> LocustJob:
        data = json.loads(zlib.decompress(base64.b64decode(text)))
        shape = data["shape"]
        return cls(
            listeners=tuple(_listener(c) for c in data["listeners"]),
            shape=LoadShape(tuple((float(t), int(n)) for t, n in shape["steps"]), shape["end"]),
            t0=data["t0"],
            seed=data["seed"],
            metrics_host=data["metrics_host"],
            snapshot_interval=data["snapshot_interval"],
            control=data.get("control"),
            cohorts=tuple(data.get("cohorts", ())),
        )

    def env(self) -> dict[str, str]:
        return {ENV: self.encode()}


def _listener(data: Mapping[str, Any]) -> ListenerConfig:
    reconnect = dict(data["reconnect"])
    reconnect["kind"] = RetryKind(reconnect["kind"])
    return ListenerConfig(
        **{
            **data,
            "stream": StreamFormat(data["stream"]),
            "reconnect": ReconnectPolicy(**reconnect),
            "announced": tuple(data.get("announced", ())),
            "edge_urls": tuple(data.get("edge_urls", ())),
            "edge_names": tuple(data.get("edge_names", ())),
        }
    )


def parse_job(text: str | None) -> LocustJob:
    """The run's job from the ``--gameday-job`` option (``GAMEDAY_LOCUST_JOB``); a clear error
    for a Locust started without one."""
    if not text:
        raise InvalidInput(
            f"no gameday job: {ENV} is not set on the Locust master",
            where="chaos/workload/locust/locustfile.py",
            fix="let `gameday run --load-engine locust` start the master; workers get the job "
            "from it",
        )
    try:
        return LocustJob.decode(text)
    except (ValueError, KeyError, TypeError, zlib.error) as exc:
        raise InvalidInput(
            f"{ENV} is not a gameday job ({exc})",
            where="chaos/workload/locust/locustfile.py",
            fix="do not set it by hand; `gameday run --load-engine locust` sets it",
        ) from None
