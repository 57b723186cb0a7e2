"""Grafana annotations for a run: each fault as a time region, the verdict as a point.

With ``--grafana-url`` the runner feeds journal events to ``GrafanaAnnotator.observe`` as they
are written: a fault's start creates a point annotation at once (so a dashboard shows it while
the fault is on), and its end turns that annotation into a region (``PATCH`` with ``timeEnd``).
Tags carry the run id, the experiment and the fault name, so one dashboard query shows one run.

Annotations are a view, never a reason to fail a run: ``check`` (called before the run starts)
turns an unreachable or refusing Grafana into ``InfrastructureError`` naming the URL and the
fix, while ``observe`` during the run records failures in ``errors`` instead of raising, so a
Grafana outage can never stop a rollback. Three calls of Grafana's HTTP API, made with httpx
(already a dependency): ``POST /api/annotations``, ``PATCH /api/annotations/:id`` and a
``GET /api/frontend/settings`` to check it answers; no Grafana client library, whose
``urllib3-future`` would replace the ``urllib3`` that the Docker SDK runs on.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from chaos.errors import InfrastructureError, InvalidInput
from chaos.report.journal import Journal
from chaos.report.summary import FAULT_END, FAULT_START, VERDICT_KIND

TOKEN_ENV = "GRAFANA_TOKEN"
USER_ENV = "GRAFANA_USER"
PASSWORD_ENV = "GRAFANA_PASSWORD"
TIMEOUT = 5.0
_PARAM_SKIP = frozenset({"v", "run", "seq", "wall", "mono", "kind", "name"})

Credential = str | tuple[str, str] | None


def credential_from_env(env: Mapping[str, str] | None = None) -> Credential:
    """A service-account token (``GRAFANA_TOKEN``), else ``GRAFANA_USER``/``GRAFANA_PASSWORD``."""
    env = os.environ if env is None else env
    if env.get(TOKEN_ENV):
        return env[TOKEN_ENV]
    if env.get(USER_ENV) and env.get(PASSWORD_ENV):
        return (env[USER_ENV], env[PASSWORD_ENV])
    return None


def tags_for(run_id: str, experiment: str | None, fault: str | None = None) -> list[str]:
    tags = ["gameday", f"run:{run_id}"]
    if experiment:
        tags.append(f"experiment:{experiment}")
    if fault:
        tags.append(f"fault:{fault}")
    return tags


def _millis(event: Mapping[str, Any]) -> int:
    return round(float(event["wall"]) * 1000)


def fault_text(event: Mapping[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in event.items() if k not in _PARAM_SKIP)
    return f"fault {event.get('name')}" + (f" ({params})" if params else "")


def _reason(exc: httpx.HTTPError, timeout: float) -> str:
    """One line on why a request failed, instead of the transport's nested repr."""
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g}s"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}: {_message(exc.response)}"
    if isinstance(exc, httpx.TransportError):
        return "cannot connect (connection refused or host unreachable)"
    return f"{type(exc).__name__}: {exc}"


def _message(response: httpx.Response) -> str:
    """Grafana's own words (``{"message": ...}``), else the start of whatever it sent."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, str):
        return message
    return response.text[:120] or response.reason_phrase


def _authenticated(credential: Credential) -> tuple[dict[str, str], httpx.BasicAuth | None]:
    """Headers and auth for a service-account token (bearer) or a user and password (basic)."""
    if isinstance(credential, str):
        return {"Authorization": f"Bearer {credential}"}, None
    if credential is not None:
        return {}, httpx.BasicAuth(*credential)
    return {}, None


@dataclass
class GrafanaAnnotator:
    """Pushes one run's annotations; feed it journal events with ``observe``."""

    url: str
    run_id: str
    experiment: str | None = None
    credential: Credential = None
    timeout: float = TIMEOUT
    errors: list[str] = field(default_factory=list)
    """Annotation failures during the run (``observe`` never raises), for the run's summary."""
    _open: dict[str, tuple[int, str]] = field(default_factory=dict)
    _http: httpx.AsyncClient | None = None

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            headers, auth = _authenticated(self.credential)
            self._http = httpx.AsyncClient(
                base_url=self.url.rstrip("/"),
                headers={**headers, "Accept": "application/json"},
                auth=auth,
                timeout=self.timeout,
            )
        return self._http

    def _unreachable(self, exc: httpx.HTTPError) -> InfrastructureError:
        return InfrastructureError(
            f"Grafana did not accept the annotation request: {_reason(exc, self.timeout)}",
            where=self.url,
            fix=f"check that Grafana runs at {self.url} and that ${TOKEN_ENV} (or "
            f"${USER_ENV}/${PASSWORD_ENV}) may write annotations, or drop --grafana-url",
        )

    async def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request to Grafana's HTTP API; its JSON answer, or one error for every way it
        can fail (refused, silent, an error status)."""
        try:
            response = await self._client().request(method, path, json=body)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        try:
            return response.json()
        except ValueError:
            return None

    async def aclose(self) -> None:
        """Close the HTTP connections (the annotator keeps them for the whole run)."""
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def check(self) -> None:
        """Before the run: Grafana answers (with these credentials), or ``InfrastructureError``
        (exit 3)."""
        await self._call("GET", "/api/frontend/settings")

    async def push(self, event: Mapping[str, Any]) -> None:
        """Annotate one journal event (other kinds are ignored); raises InfrastructureError."""
        kind = event.get("kind")
        if kind == FAULT_START:
            name = str(event.get("name"))
            tags = tags_for(self.run_id, self.experiment, name)
            text = fault_text(event)
            body = {"time": _millis(event), "tags": tags, "text": text}
            answer = await self._call("POST", "/api/annotations", body)
            self._open[name] = (int(answer["id"]), text)
        elif kind == FAULT_END:
            name = str(event.get("name"))
            if name not in self._open:
                return
            annotation, text = self._open.pop(name)
            tags = tags_for(self.run_id, self.experiment, name)
            # Grafana's PATCH replaces tags and text when given (and clears them when sent
            # empty), so both are sent again with the region's end.
            body = {"timeEnd": _millis(event), "tags": tags, "text": text}
            await self._call("PATCH", f"/api/annotations/{annotation}", body)
        elif kind == VERDICT_KIND:
            verdict = str(event.get("verdict"))
            tags = [*tags_for(self.run_id, self.experiment), f"verdict:{verdict}"]
            body = {"time": _millis(event), "tags": tags, "text": f"gameday verdict: {verdict}"}
            await self._call("POST", "/api/annotations", body)

    async def observe(self, event: Mapping[str, Any]) -> None:
        """``push`` for use during a run: a failure is remembered in ``errors``, not raised."""
        try:
            await self.push(event)
        except InfrastructureError as exc:
            self.errors.append(exc.render())


async def annotate_journal(
    journal: Journal, url: str, credential: Credential = None, *, timeout: float = TIMEOUT
) -> GrafanaAnnotator:
    """Annotate a finished run from its journal (e.g. one recorded without ``--grafana-url``)."""
    if journal.run_id is None:
        raise InvalidInput("the journal has no run id", where=str(journal.path))
    title = journal.header.get("title")
    annotator = GrafanaAnnotator(
        url, journal.run_id, title if isinstance(title, str) else None, credential, timeout
    )
    try:
        await annotator.check()
        events: Iterable[Mapping[str, Any]] = journal.of_kind(FAULT_START, FAULT_END, VERDICT_KIND)
        for event in events:
            await annotator.push(event)
    finally:
        await annotator.aclose()
    return annotator
