"""Shared test fixtures, and how the suite is spread over pytest-xdist workers.

NOTE: `make test` uses ``--dist loadfile`` for now: with pytest 9, xdist 3.8's loadgroup sets
``item._nodeid``, which pytest no longer reads (``Node.nodeid`` is ``Node._id``), so groups are
ignored. Each file runs on one worker (its module fixtures once); the groups below are kept for
when loadgroup works again, and make the intent explicit.

`make test` runs the suite on several workers with ``--dist loadgroup``: a group of tests runs
on one worker, one test after another. Groups are

- explicit ``xdist_group`` marks: ``docker`` (the engine, its containers and this tree's image),
  ``netns`` (network namespaces and nftables, counted afterwards), ``cpu`` (phases whose
  measurements want the CPU to themselves, e.g. two load engines compared);
- implicit, one group per module for the tests of a module that share a module- or
  class-scoped fixture (a live HLS origin, an Icecast lab, a demo run): that fixture is set up
  once, on one worker, instead of once per worker that draws one of its tests.

Session fixtures must be safe when several workers set them up at once (see ``image``).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Property tests judge the code, not the machine: on a shared, loaded CI box a draw may take a
# second, so neither a per-example deadline nor the slow-generation health check may fail a
# test (a test that states its own settings still gets them).
settings.register_profile("gameday", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gameday")

# Every command reads TOXIPROXY_URL (as does the plugin): one set in the shell that runs the
# suite would send every test's game day to that proxy. A test that wants one sets it.
os.environ.pop("TOXIPROXY_URL", None)

#: One lock for every worker (and every worktree) that may build the image on this machine.
IMAGE_LOCK = Path(tempfile.gettempdir()) / "gameday-image-build.lock"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _built(stack: str) -> str:
    """A built-in stack's image of this tree, built once (its tag is a hash of what goes in).

    Workers that need it at the same time wait for the first one's build, then find it cached.
    """
    from chaos.experiment.loader import builtin_stacks, load_stack_spec
    from chaos.stack.images import build, recipe_of

    recipe = recipe_of(load_stack_spec(builtin_stacks()[stack]))
    with _locked(IMAGE_LOCK):
        tag, _ = build(recipe)
    return tag


@pytest.fixture(scope="session")
def image() -> str:
    """soundstage's image (Python only)."""
    return _built("soundstage")


@pytest.fixture(scope="session")
def icecast_image() -> str:
    """icecast's image: Debian's icecast2 and ffmpeg."""
    return _built("icecast")


@pytest.fixture(scope="session")
def spaces_image() -> str:
    """spaces' image: Janus, nginx, ffmpeg and the nginx exporter from Debian, aiortc."""
    return _built("spaces")


def _shares_a_wide_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    return any(
        defs and defs[-1].scope in ("module", "class", "package")
        for defs in info.name2fixturedefs.values()
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """First, so that xdist's own hook (which puts the group in each node id) sees the groups.

    Files with a slow test go first: with ``--no-loadscope-reorder`` (the Makefile's) xdist
    hands files out in collection order, so a file of two minutes drawn last would keep its
    worker busy while the others had finished (the longest first is the classic rule for
    spreading jobs over machines); a file's own order is kept."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow") is not None}
    items.sort(key=lambda item: item.path not in slow_files)  # stable: files stay whole
    for item in items:
        if item.get_closest_marker("xdist_group") is not None:
            continue
        if _shares_a_wide_fixture(item):
            module = item.module.__name__ if getattr(item, "module", None) else item.nodeid
            item.add_marker(pytest.mark.xdist_group(name=f"module:{module}"))
