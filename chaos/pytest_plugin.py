"""gameday in users' own pytest suites (loaded through the ``pytest11`` entry point).

- ``@pytest.mark.gameday("experiments/launch.yaml")`` runs the experiment as the test: the test
  fails, naming each broken SLO and the journal, unless the verdict is pass; the body (if it
  asks for ``gameday_outcome``) can check more.
- ``@given(fault_schedules(search_space("launch.yaml")))`` with ``gameday_run`` and
  ``slo_checker`` writes a property-based chaos test: hypothesis generates fault schedules and
  shrinks a failing one, exactly as ``gameday search`` does.
- ``gameday_proxy`` (the embedded fault proxy's URL), ``fault_client`` (a Toxiproxy client to
  it) and ``gameday_stack`` (the stack of ``gameday_stack_spec`` running behind one proxy per
  link) are there for hand-written chaos tests.

Options: ``--gameday-backend``, ``--toxiproxy`` (else ``$TOXIPROXY_URL``, else the embedded fault
proxy; ``--gameday-toxiproxy`` is its older spelling), ``--gameday-stack``. Everything heavy
is imported when a fixture is used, so the plugin costs nothing in suites that do not use it.
"""

from __future__ import annotations

import asyncio
import itertools
from argparse import SUPPRESS
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from chaos.search.schedule import Schedule
from chaos.search.space import SearchSpace

if TYPE_CHECKING:
    from chaos.experiment.stack import StackSpec
    from chaos.faults.client import ToxiproxyClient
    from chaos.faults.client.protocol import ChosenUrl
    from chaos.runner.run import RunOutcome
    from chaos.search.strategies import fault_schedules
    from chaos.stack.local import RunningStack
    from chaos.workload.stats import ListenerStats

__all__ = ["SloChecker", "fault_schedules", "search_space"]

MARKER = "gameday"
_OLD_TOXIPROXY = "gameday_toxiproxy_older_spelling"

GamedayRun = Callable[..., "RunOutcome"]


def __getattr__(name: str) -> Any:
    """``fault_schedules`` is hypothesis's: imported when a suite asks for it, so the plugin,
    which pytest loads into every session, loads without hypothesis; without it, the import
    fails saying what is missing and how to install it."""
    if name != "fault_schedules":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from chaos.errors import InvalidInput
    from chaos.search.dependency import require_hypothesis

    try:
        require_hypothesis("chaos.pytest_plugin.fault_schedules")
    except InvalidInput as exc:
        raise ImportError(exc.render(), name="hypothesis") from None
    from chaos.search.strategies import fault_schedules

    return fault_schedules


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday", "gameday chaos experiments")
    group.addoption(
        "--gameday-backend",
        default="local",
        help="how gameday runs stacks: local (default), netns or docker",
    )
    group.addoption(
        "--toxiproxy",
        default=None,
        metavar="URL",
        help="the Toxiproxy API gameday's runs and fixtures use (default: $TOXIPROXY_URL, "
        "else an embedded fault proxy)",
    )
    group.addoption("--gameday-toxiproxy", dest=_OLD_TOXIPROXY, default=None, help=SUPPRESS)
    group.addoption(
        "--gameday-stack",
        default="soundstage",
        help="the stack of the gameday_stack fixture: a built-in name or a stack spec path",
    )


def _toxiproxy(config: pytest.Config) -> ChosenUrl | None:
    """``--toxiproxy`` (or its older spelling), else ``$TOXIPROXY_URL``, else None (embedded);
    read when a fixture needs it, so a bad URL fails only the suites that use gameday."""
    from chaos.cli_options import alias
    from chaos.errors import InvalidInput
    from chaos.faults.client.protocol import FLAG, chosen_url

    try:
        given = alias(
            config.getoption("toxiproxy"),
            config.getoption(_OLD_TOXIPROXY),
            name=FLAG,
            old_name="--gameday-toxiproxy",
        )
        return chosen_url(given)
    except InvalidInput as exc:
        raise pytest.UsageError(exc.render()) from None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(experiment, seed=None, scale=1.0): run the experiment file as this test; "
        "it fails unless every SLO holds (scale: '1:N' as in the YAML, or a multiplier)",
    )


def search_space(
    experiment: str | Path,
    *,
    links: tuple[str, ...] = (),
    kinds: tuple[str, ...] = (),
    max_faults: int = 3,
    vary_storm: bool = False,
) -> SearchSpace:
    """The search space of an experiment file, as ``gameday search`` derives it (and its
    ``--link``, ``--kind``, ``--max-faults`` and ``--vary-storm`` narrow it)."""
    from chaos.experiment.loader import load_experiment

    loaded = load_experiment(Path(experiment))
    return SearchSpace.of(
        loaded.experiment,
        loaded.stack,
        links=links,
        kinds=kinds,
        max_faults=max_faults,
        vary_storm=vary_storm,
    )


@dataclass(frozen=True)
class SloChecker:
    """Judges a run the way ``gameday run`` does: only a pass verdict passes."""

    def failures(self, outcome: RunOutcome) -> list[str]:
        """One line per broken SLO ("no data" included), or the reason nothing was judged."""
        from chaos.runner.verdict import Verdict

        if outcome.verdict is Verdict.PASS:
            return []
        lines = [
            f"{r.name}: {'no data' if r.value is None else f'{r.value:g}'} "
            f"(must be {r.threshold.describe()})"
            for r in outcome.results
            if not r.passed
        ]
        if outcome.message:
            lines.append(outcome.message)
        return lines or [f"verdict {outcome.verdict.value}"]

    def explain(self, outcome: RunOutcome) -> str | None:
        """Why the run fails its SLOs, with where to look; None when it passed."""
        broken = self.failures(outcome)
        if not broken:
            return None
        lines = "\n  ".join(broken)
        return f"gameday verdict {outcome.verdict.value}:\n  {lines}\njournal: {outcome.journal}"

    def assert_holds(self, outcome: RunOutcome) -> None:
        why = self.explain(outcome)
        if why is not None:
            raise AssertionError(why)


@pytest.fixture(scope="session")
def slo_checker() -> SloChecker:
    """``slo_checker.assert_holds(outcome)`` fails the test naming every broken SLO."""
    return SloChecker()


@pytest.fixture(scope="session")
def gameday_run(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> GamedayRun:
    """``gameday_run(experiment, schedule=None, *, seed=None, scale=1.0)`` runs a game day (with
    a searched ``Schedule`` as its faults, if given) and returns its ``RunOutcome``; ``scale``
    is ``"1:N"`` as in the YAML (or ``gameday run --scale``), or the older multiplier. Session-
    scoped, so hypothesis tests may use it; each run gets its own directory."""
    from rich.console import Console

    from chaos.experiment.loader import load_experiment
    from chaos.runner.run import GameDay, RunOptions
    from chaos.search.candidate import candidate

    config = request.config
    numbers = itertools.count(1)
    root = tmp_path_factory.mktemp("gameday")
    console = Console(quiet=True)

    def run(
        experiment: str | Path,
        schedule: Schedule | None = None,
        *,
        seed: int | None = None,
        scale: float | str = 1.0,
    ) -> RunOutcome:
        from chaos.experiment.units import Scale

        loaded = load_experiment(Path(experiment))
        if schedule is not None:
            loaded = candidate(loaded, schedule, portable=False).load(loaded.path)
        options = RunOptions(
            seed=seed,
            scale=Scale.parse(scale) if isinstance(scale, str) else float(scale),
            backend=config.getoption("--gameday-backend"),
            out=root / f"run-{next(numbers):03d}",
        ).pointed_at(_toxiproxy(config))
        return asyncio.run(GameDay(loaded, options, console).execute())

    return run


@pytest.fixture
def gameday_outcome(request: pytest.FixtureRequest, gameday_run: GamedayRun) -> RunOutcome:
    """The outcome of the experiment named by the test's ``gameday`` marker."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is None or not marker.args:
        raise pytest.UsageError(
            f"{request.node.nodeid}: gameday_outcome needs @pytest.mark.gameday(EXPERIMENT)"
        )
    path = Path(marker.args[0])
    if not path.is_absolute():
        path = Path(request.node.path).parent / path
    return gameday_run(path, seed=marker.kwargs.get("seed"), scale=marker.kwargs.get("scale", 1.0))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``gameday`` runs its experiment as a fixture (set-up), so a failed run
    is judged in the test's call phase: a failure of the test, not an error of its set-up."""
    for item in items:
        marked = item.get_closest_marker(MARKER) is not None
        if (
            marked
            and isinstance(item, pytest.Function)
            and "gameday_outcome" not in item.fixturenames
        ):
            item.fixturenames.append("gameday_outcome")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if item.get_closest_marker(MARKER) is None or not isinstance(item, pytest.Function):
        return
    outcome = cast("RunOutcome", item.funcargs["gameday_outcome"])
    why = SloChecker().explain(outcome)
    if why is not None:
        pytest.fail(why, pytrace=False)


@pytest.fixture(scope="session")
def gameday_proxy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The fault proxy's API URL: ``--toxiproxy``, else ``$TOXIPROXY_URL``, else an embedded
    one for the session (stopped after it)."""
    given = _toxiproxy(request.config)
    if given is not None:
        yield given.url
        return
    from chaos.runner.proxy_process import ProxyProcess

    log = tmp_path_factory.mktemp("gameday-proxy") / "fault-proxy.log"
    proxy = asyncio.run(ProxyProcess(log).start())
    try:
        yield proxy.url
    finally:
        asyncio.run(proxy.stop())


@pytest.fixture
def fault_client(gameday_proxy: str) -> Iterator[ToxiproxyClient]:
    """A Toxiproxy client to the session's fault proxy (toxiproxy-python's calls, typed)."""
    from chaos.faults.client import ToxiproxyClient

    with ToxiproxyClient(gameday_proxy) as client:
        yield client


@pytest.fixture(scope="session")
def gameday_stack_spec(request: pytest.FixtureRequest) -> str:
    """The stack ``gameday_stack`` starts; override this fixture to choose it in code."""
    spec: str = request.config.getoption("--gameday-stack")
    return spec


@pytest.fixture(scope="session")
def _gameday_spec(request: pytest.FixtureRequest, gameday_stack_spec: str) -> StackSpec:
    from chaos.experiment.loader import builtin_stacks, load_stack_spec

    builtin = builtin_stacks().get(gameday_stack_spec)
    return load_stack_spec(builtin or Path(request.config.rootpath) / gameday_stack_spec)


@pytest.fixture
def gameday_stack(
    request: pytest.FixtureRequest, _gameday_spec: StackSpec, gameday_proxy: str, tmp_path: Path
) -> Iterator[RunningStack]:
    """The stack running behind the fault proxy, one proxy per link (named as ``gameday run``
    names them, so ``fault_client`` finds them); stopped, with its proxies, after the test."""
    from chaos.faults.client import AsyncToxiproxyClient
    from chaos.report.journal import new_run_id
    from chaos.stack.backend import link_proxies, make_backend

    spec = _gameday_spec
    backend = make_backend(
        request.config.getoption("--gameday-backend"), spec, tmp_path, new_run_id(), tied=True
    )
    loop = asyncio.new_event_loop()
    client = AsyncToxiproxyClient(gameday_proxy)
    plan = backend.plan()
    proxies = link_proxies(backend, spec, plan)
    created = []
    try:
        created = loop.run_until_complete(client.populate(proxies))
        yield loop.run_until_complete(backend.start({p.name: p.listen for p in created}))
    finally:
        loop.run_until_complete(backend.stop())
        for proxy in created:
            loop.run_until_complete(client.delete_proxy(proxy.name))
        loop.run_until_complete(client.aclose())
        loop.close()


@pytest.fixture
def gameday_workload(
    gameday_stack: RunningStack, _gameday_spec: StackSpec
) -> Callable[..., ListenerStats]:
    """``gameday_workload(experiment, *, seconds=None, seed=0)`` plays the experiment's
    listeners (its arrival phases, reconnect policy) against ``gameday_stack`` for ``seconds``
    (default: the experiment's run) and returns what they measured (``ListenerStats``)."""
    from chaos.experiment.loader import load_experiment
    from chaos.runner.audience import Audience, audience_problems

    entry = _gameday_spec.audience.listeners

    def play(
        experiment: str | Path, *, seconds: float | None = None, seed: int = 0
    ) -> ListenerStats:
        loaded = load_experiment(Path(experiment))
        problems = audience_problems(loaded.experiment, _gameday_spec)
        if problems or entry is None:
            raise pytest.UsageError("; ".join(problems) or "the stack has no listeners' link")
        duration = seconds if seconds is not None else loaded.timeline.run_end.seconds

        async def run() -> ListenerStats:
            audience = Audience(
                loaded.experiment,
                _gameday_spec,
                gameday_stack.dialled.get(entry.link, []),
                seed=seed,
                base_dir=loaded.path.parent,
                start_at=None,  # ``seconds`` of listening from when the workers are ready
                duration=duration,
            )
            await audience.run()
            return audience.stats()

        return asyncio.run(run())

    return play
