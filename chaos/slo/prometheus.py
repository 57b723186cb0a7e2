"""Evaluate SLOs against a Prometheus server instead of the in-memory store.

Raw samples are copied once per metric into a store, so the embedded evaluator judges them with
the same code as a direct scrape. Raw PromQL objectives need answers from the server at the
instants the evaluator picks; rather than duplicate the window logic here, the evaluator runs
once recording the queries it asks, they are fetched concurrently, and it runs again with them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from chaos.metrics.prometheus_api import PrometheusAPI
from chaos.slo.evaluate import SloResult, evaluate_all
from chaos.slo.objective import Context, Slo, metric_names
from chaos.slo.window import Timeline


async def evaluate_on_prometheus(
    slos: Sequence[Slo], timeline: Timeline, api: PrometheusAPI
) -> list[SloResult]:
    names = set().union(*(metric_names(slo) for slo in slos))
    store = await api.load_store(names, timeline.run.start, timeline.run.end)
    asked: dict[tuple[str, float], float | None] = {}

    def record(expr: str, at: float) -> float | None:
        asked[(expr, at)] = None
        return None

    evaluate_all(slos, timeline, Context(store.range, record))
    keys = list(asked)
    values = await asyncio.gather(*(api.value(expr, at) for expr, at in keys))
    answers = dict(zip(keys, values, strict=True))
    return evaluate_all(slos, timeline, Context(store.range, lambda e, t: answers[(e, t)]))
