"""``--prometheus local``: run a throwaway Prometheus that scrapes the stack during a run.

The server lives in a temporary directory, listens on a free loopback port, scrapes exactly
the given targets with a generated config, and is stopped (and its directory removed) when the
``async with`` block ends, whatever ends it.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from chaos.errors import InfrastructureError
from chaos.metrics.prometheus_api import PrometheusAPI
from chaos.metrics.scraper import Target

_INSTALL_FIX = (
    "install Prometheus (Debian: apt-get install prometheus) so `prometheus` is on PATH, "
    "or point PROMETHEUS_URL at a running one"
)


def scrape_config(targets: Sequence[Target], interval: float) -> dict[str, Any]:
    """A Prometheus config scraping ``targets``: one job per target job, with each target's
    scheme and path carried as ``__scheme__``/``__metrics_path__`` target labels so targets of
    one job may differ in both."""
    jobs: dict[str, list[dict[str, Any]]] = {}
    for target in targets:
        if target.url is None:
            raise ValueError(f"{target} is an in-process registry; Prometheus cannot scrape it")
        url = httpx.URL(target.url)
        labels = {"__scheme__": url.scheme, "__metrics_path__": url.path or "/metrics"}
        group = {"targets": [url.netloc.decode()], "labels": labels}
        jobs.setdefault(target.job, []).append(group)
    seconds = f"{round(interval * 1000)}ms"
    return {
        "global": {"scrape_interval": seconds, "scrape_timeout": seconds},
        "scrape_configs": [
            {"job_name": job, "static_configs": groups} for job, groups in sorted(jobs.items())
        ],
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LocalPrometheus:
    """A Prometheus server owned by this process, for the duration of an ``async with``."""

    def __init__(
        self,
        targets: Sequence[Target],
        *,
        scrape_interval: float = 1.0,
        binary: str = "prometheus",
        ready_timeout: float = 30.0,
    ) -> None:
        self.config = scrape_config(targets, scrape_interval)
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.port = 0
        self._dir: Path | None = None
        self._process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> LocalPrometheus:
        executable = shutil.which(self.binary)
        if executable is None:
            raise InfrastructureError(
                part="metrics", what=f"no `{self.binary}` binary on PATH", fix=_INSTALL_FIX
            )
        self._dir = Path(tempfile.mkdtemp(prefix="gameday-prometheus-"))
        try:
            await self._start(executable, self._dir)
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start(self, executable: str, workdir: Path) -> None:
        config = workdir / "prometheus.yml"
        config.write_text(json.dumps(self.config, indent=2))  # JSON is YAML
        self.port = free_port()
        log = (workdir / "prometheus.log").open("wb")
        self._process = await asyncio.create_subprocess_exec(
            executable,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=workdir,
        )
        log.close()
        async with PrometheusAPI(self.url, timeout=1.0) as api:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.ready_timeout
            while not await api.ready():
                if self._process.returncode is not None or loop.time() > deadline:
                    tail = (workdir / "prometheus.log").read_text(errors="replace")[-800:]
                    raise InfrastructureError(
                        part="metrics",
                        what=f"local Prometheus did not become ready on {self.url}",
                        where=str(config),
                        fix=f"check its log:\n{tail}",
                    )
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.shield(self.stop())
