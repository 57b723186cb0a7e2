"""A Prometheus HTTP API backend: the same series, read from a Prometheus users already run.

Raw samples are read with an instant query of a range selector (``name[<w>]`` at the window's
end), which returns exactly the samples PromQL's own functions would see; the evaluator then
applies the same code as for direct scraping. Raw PromQL objectives are answered by
``/api/v1/query``. Unreachable Prometheus is an infrastructure error naming the URL.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable
from typing import Any

import httpx

from chaos.answers import quoted_body, status_line
from chaos.errors import InfrastructureError, InvalidInput
from chaos.metrics.selectors import MatcherSpec, as_matchers, render
from chaos.metrics.series import Series, SeriesKey, labels_of
from chaos.metrics.store import SeriesStore

ENV_VAR = "PROMETHEUS_URL"
_FIX = (
    f"start Prometheus or correct {ENV_VAR}; unset it to scrape the stack directly, "
    "or pass --prometheus local to let gameday start one"
)


def _millis(seconds: float) -> str:
    return f"{round(seconds * 1000) / 1000:.3f}"


def _to_series(result: dict[str, Any]) -> Series:
    metric = dict(result["metric"])
    name = metric.pop("__name__", "")
    points = result.get("values") or [result["value"]]
    return Series(
        SeriesKey(name, labels_of(metric)),
        tuple(float(t) for t, _ in points),
        tuple(float(v) for _, v in points),
    )


class PrometheusAPI:
    """Async client for ``/api/v1/{query,query_range,series}`` of one Prometheus server."""

    def __init__(self, url: str, *, timeout: float = 10.0, concurrency: int = 8) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout)
        self._slots = asyncio.Semaphore(concurrency)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> PrometheusAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _get(self, path: str, params: httpx.QueryParams) -> Any:
        async with self._slots:
            try:
                response = await self._client.get(path, params=params)
            except httpx.HTTPError as exc:
                raise InfrastructureError(
                    part="metrics",
                    what=f"Prometheus at {self.url} is unreachable ({type(exc).__name__}: {exc})",
                    where=self.url + path,
                    fix=_FIX,
                ) from exc
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 400 or body.get("errorType") == "bad_data":
            raise InvalidInput(
                f"Prometheus rejected the query: {body.get('error') or _quoted(response)}",
                where=f"{self.url}{path} {params}",
                fix="correct the PromQL expression of the objective",
            )
        if response.status_code != 200 or body.get("status") != "success":
            raise InfrastructureError(
                part="metrics",
                what=f"Prometheus at {self.url} answered {status_line(response.status_code)}: "
                f"{body.get('error') or _quoted(response)}",
                where=self.url + path,
                fix=_FIX,
            )
        return body["data"]

    async def ready(self) -> bool:
        try:
            response = await self._client.get("/-/ready")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def query(self, expr: str, at: float) -> list[Series]:
        """An instant query; a scalar answer becomes one series without labels."""
        data = await self._get(
            "/api/v1/query", httpx.QueryParams({"query": expr, "time": _millis(at)})
        )
        if data["resultType"] in ("scalar", "string"):
            t, v = data["result"]
            return [Series(SeriesKey(""), (float(t),), (float(v),))]
        return [_to_series(r) for r in data["result"]]

    async def query_range(self, expr: str, start: float, end: float, step: float) -> list[Series]:
        params = {"query": expr, "start": _millis(start), "end": _millis(end), "step": str(step)}
        data = await self._get("/api/v1/query_range", httpx.QueryParams(params))
        return [_to_series(r) for r in data["result"]]

    async def series(self, matchers: Iterable[str], start: float, end: float) -> list[SeriesKey]:
        params = httpx.QueryParams({"match[]": list(matchers)}).merge(
            {"start": _millis(start), "end": _millis(end)}
        )
        found = []
        for labels in await self._get("/api/v1/series", params):
            name = labels.pop("__name__", "")
            found.append(SeriesKey(name, labels_of(labels)))
        return found

    async def names(self) -> set[str]:
        """Every metric name Prometheus has, for validating objectives before a run."""
        return set(await self._get("/api/v1/label/__name__/values", httpx.QueryParams()))

    async def raw(self, name: str, matchers: MatcherSpec, start: float, end: float) -> list[Series]:
        """The stored samples in ``[start, end]`` — what a range selector at ``end`` sees."""
        millis = max(1, round((end - start) * 1000))
        return await self.query(f"{render(name, as_matchers(matchers))}[{millis}ms]", end)

    async def load_store(self, names: Iterable[str], start: float, end: float) -> SeriesStore:
        """Copy the raw samples of ``names`` in ``[start, end]`` into an in-memory store."""
        store = SeriesStore()
        fetched = await asyncio.gather(*(self.raw(n, {}, start, end) for n in sorted(names)))
        for found in fetched:
            for series in found:
                for t, v in zip(series.timestamps, series.values, strict=True):
                    store.append(series.key, t, v)
        return store

    async def value(self, expr: str, at: float) -> float | None:
        """A PromQL objective's single value; empty, NaN or non-single answers are explained."""
        found = await self.query(expr, at)
        if not found:
            return None
        if len(found) > 1:
            raise InvalidInput(
                f"PromQL objective {expr!r} returned {len(found)} series, not one",
                fix="aggregate it to a single value, e.g. wrap it in sum(...) or max(...)",
            )
        value = found[0].values[-1]
        return None if math.isnan(value) else value


def _quoted(response: httpx.Response) -> str:
    return quoted_body(response.content, response.headers.get("content-type", ""))
