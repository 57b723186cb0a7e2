"""Leased faults (the server-extension contract): what the runner sends, and what it expects."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import pytest

from chaos.faults.client import Api, Operation, ToxiproxyError, ToxiproxyNotFound
from chaos.faults.client.protocol import HttpRequest, HttpResponse
from chaos.runner.leases import add_leased_toxic, disable_leased, renew, renew_every
from chaos.runner.toxics import ToxicOp

T = TypeVar("T")
API = Api("http://127.0.0.1:8474")


def drive(operation: Operation[T], status: int, body: Any) -> tuple[HttpRequest, T]:
    """Run a one-request operation against a canned answer; the request it made and its result."""
    request = next(operation)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    try:
        operation.send(HttpResponse(status, raw))
    except StopIteration as done:
        return request, done.value
    raise AssertionError("the operation asked for a second request")


def test_a_leased_toxic_is_a_standard_create_plus_its_lease() -> None:
    op = ToxicOp("listener->edge#1", "slow@RUN1", "latency", "downstream", 1.0, {"latency": 200})
    request, _ = drive(add_leased_toxic(API, op, 30_000), 200, {})
    assert (request.method, request.path) == ("POST", "/proxies/listener-%3Eedge%231/toxics")
    assert request.body is not None
    assert json.loads(request.body) == {
        "name": "slow@RUN1",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 200},
        "lease_ms": 30_000,
    }


def test_a_leased_disable_names_the_run_so_renewals_find_it() -> None:
    request, _ = drive(disable_leased(API, "client->api", "RUN1", 9000), 200, {})
    assert request.method == "PATCH" and request.body is not None
    assert json.loads(request.body) == {"enabled": False, "lease_ms": 9000, "run": "RUN1"}


def test_renewal_renews_the_whole_run_in_one_call() -> None:
    request, renewed = drive(renew(API, "RUN1", 30_000), 200, {"renewed": 4})
    assert (request.method, request.path) == ("POST", "/gameday/leases")
    assert request.body is not None and json.loads(request.body) == {
        "run": "RUN1",
        "lease_ms": 30_000,
    }
    assert renewed == 4
    assert renew_every(30_000) == 10.0  # a third of the lease


def test_errors_are_the_clients_typed_errors() -> None:
    with pytest.raises(ToxiproxyNotFound):
        drive(disable_leased(API, "gone", "RUN1", 9000), 404, b"proxy not found")
    with pytest.raises(ToxiproxyError, match="renewed"):
        drive(renew(API, "RUN1", 30_000), 200, {"unexpected": True})
