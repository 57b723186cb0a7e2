"""Choose where a run's metrics come from: direct scraping, a Prometheus users already run
(``PROMETHEUS_URL`` or ``--prometheus URL``), or one gameday starts (``--prometheus local``).

The same experiment runs on each; this module only decides and, for Prometheus, yields a
client that has been checked to answer, so an unreachable server stops the run at its start
(exit 3) rather than at the verdict.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

import httpx

from chaos.errors import InfrastructureError, InvalidInput
from chaos.metrics.prometheus_api import ENV_VAR, PrometheusAPI
from chaos.metrics.prometheus_server import LocalPrometheus
from chaos.metrics.scraper import Target

LOCAL = "local"


@dataclass(frozen=True, slots=True)
class PrometheusChoice:
    url: str | None = None
    """An existing server; None with ``local`` set means start one."""
    local: bool = False

    @property
    def given(self) -> str:
        """As ``--prometheus`` or ``PROMETHEUS_URL`` gave it: ``local``, or the URL."""
        return LOCAL if self.local or self.url is None else self.url


def choose_prometheus(flag: str | None, env: Mapping[str, str]) -> PrometheusChoice | None:
    """``--prometheus`` wins over ``PROMETHEUS_URL``; neither means direct scraping (None)."""
    value = flag if flag is not None else env.get(ENV_VAR) or None
    if value is None:
        return None
    if value == LOCAL:
        return PrometheusChoice(local=True)
    url = httpx.URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        where = "--prometheus" if flag is not None else ENV_VAR
        raise InvalidInput(
            f"{value!r} is neither 'local' nor an http(s) URL",
            where=where,
            fix="give the Prometheus base URL, e.g. http://127.0.0.1:9090, or 'local'",
        )
    return PrometheusChoice(url=value)


@contextlib.asynccontextmanager
async def prometheus_backend(
    choice: PrometheusChoice, targets: Sequence[Target], *, scrape_interval: float = 1.0
) -> AsyncIterator[PrometheusAPI]:
    """A checked client for the chosen Prometheus, started (and stopped) here if local."""
    async with contextlib.AsyncExitStack() as stack:
        url = choice.url
        if choice.local:
            http_targets = [t for t in targets if t.url is not None]
            server = LocalPrometheus(http_targets, scrape_interval=scrape_interval)
            url = (await stack.enter_async_context(server)).url
        assert url is not None
        api = await stack.enter_async_context(PrometheusAPI(url))
        if not await api.ready():
            await api.names()  # raises the located InfrastructureError if unreachable
            raise InfrastructureError(
                part="metrics",
                what=f"Prometheus at {url} is not ready",
                fix="wait for it to finish starting (GET /-/ready), then run again",
            )
        yield api
