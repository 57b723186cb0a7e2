"""The Docker SDK, imported lazily: gameday runs without the `docker` extra or an engine.

Every Docker use goes through ``client()``, so a missing SDK or an engine that does not answer
is one clear "docker backend unavailable: …" (exit 3) before anything starts, never an
ImportError or a connection traceback.
"""

from __future__ import annotations

from typing import Any

from chaos.errors import InfrastructureError
from chaos.stack.capabilities import Availability

RUN_LABEL = "gameday.run"
"""Every container and network a run creates carries it: clean-up finds them by run id."""
COMPONENT_LABEL = "gameday.component"


def _why_not() -> tuple[Any | None, str]:
    try:
        import docker
    except ImportError:
        return None, "the Docker SDK is not installed (pip install 'chaos-gameday[docker]')"
    try:
        engine = docker.from_env(timeout=10)
        engine.ping()
    except Exception as exc:  # the SDK raises several unrelated types for "no engine"
        return None, f"no Docker engine answers ({exc}); start dockerd or set DOCKER_HOST"
    return engine, ""


def client() -> Any:
    """A connected ``docker.DockerClient``; InfrastructureError when there is none."""
    engine, reason = _why_not()
    if engine is None:
        raise InfrastructureError(
            f"docker backend unavailable: {reason}",
            fix="see `gameday backends`; or choose --backend local",
        )
    return engine


def probe_engine() -> Availability:
    engine, reason = _why_not()
    if engine is None:
        return Availability(False, reason)
    version = engine.version().get("Version", "?")
    engine.close()
    return Availability(True, f"Docker engine {version}")
