"""`gameday images build`: soundstage and the harness in a local image, no registry needed.

Two layers, each cached by a content hash so a test (or a second build) never rebuilds what
it has: a base image imported from a ``debootstrap`` root filesystem (Debian's own
``python3`` and ``python3-venv``; keyed by suite, mirror and packages), and the application
image (keyed by the base and every source file of chaos/, soundstage/ and spaces/ plus
pyproject.toml),
whose venv is installed offline (``--no-index``) from wheels this machine builds with its own
pip. Users who ship their own images do not need any of it: see ``DockerBackend(images=…)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.errors import InfrastructureError
from chaos.stack.docker_engine import client

log = logging.getLogger(__name__)

BASE_REPOSITORY = "gameday-base"
REPOSITORY = "gameday-soundstage"
SOURCE_LABEL = "gameday.source"
IMAGE_ENV = "GAMEDAY_IMAGE"
"""Names the image every component runs (a user's own), instead of the built one."""
RECIPE = 1
_PROJECT_WHEEL = "chaos_gameday-"
"""Bump when the build steps change, so every cached image is rebuilt."""

_DOCKERFILE = """\
FROM {base}
COPY deps /wheels
RUN python3 -m venv /opt/gameday \\
 && /opt/gameday/bin/pip install --no-index --no-cache-dir /wheels/*.whl \\
 && rm -rf /wheels
COPY app /app
RUN /opt/gameday/bin/pip install --no-index --no-deps --no-cache-dir /app/*.whl && rm -rf /app
ENV PATH=/opt/gameday/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"""
"""Dependencies and the project are separate layers: a source change rebuilds only the last
(the engine's build cache keeps the dependency layer while its wheels are byte-identical)."""


@dataclass(frozen=True)
class BaseRecipe:
    suite: str = "bookworm"
    mirror: str = "http://deb.debian.org/debian"
    packages: tuple[str, ...] = ("python3", "python3-venv", "ca-certificates")

    def key(self) -> str:
        text = f"{RECIPE}|{self.suite}|{self.mirror}|{','.join(sorted(self.packages))}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def tag(self) -> str:
        return f"{BASE_REPOSITORY}:{self.key()}"


def project_root() -> Path:
    """The source tree gameday runs from (an editable install or a checkout)."""
    return Path(__file__).resolve().parents[2]


def _sources(root: Path) -> list[Path]:
    files = [root / "pyproject.toml"]
    for package in ("chaos", "soundstage", "spaces"):
        files += [
            p
            for p in (root / package).rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return sorted(files)


def source_key(root: Path, base: BaseRecipe) -> str:
    """Hash of the base recipe and every file that goes into the application wheel."""
    digest = hashlib.sha256(f"{RECIPE}|{base.key()}".encode())
    for path in _sources(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def image_tag(root: Path | None = None, base: BaseRecipe | None = None) -> str:
    """The tag of the image built from this source tree (what the Docker backend runs)."""
    return f"{REPOSITORY}:{source_key(root or project_root(), base or BaseRecipe())}"


def default_image(engine: Any) -> str:
    """What the Docker backend runs when no image is named: ``$GAMEDAY_IMAGE``, else the image
    of this very source tree, else the last one built (``:latest``, with a warning that it
    may be stale: the tree changed since `gameday images build`)."""
    named = os.environ.get(IMAGE_ENV)
    if named:
        return named
    exact = image_tag()
    if _has(engine, exact):
        return exact
    latest = f"{REPOSITORY}:latest"
    if _has(engine, latest):
        log.warning(
            "no image of the current sources (%s); running %s: `gameday images build` to update",
            exact,
            latest,
        )
        return latest
    return exact


def _has(engine: Any, tag: str) -> bool:
    import docker.errors

    try:
        engine.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def _run(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-10:])
        raise InfrastructureError(f"{what} failed:\n{tail}", where=" ".join(argv[:3]))


def build_base(engine: Any, recipe: BaseRecipe, log: list[str]) -> str:
    """Import a debootstrap root filesystem as the base image (skipped when cached)."""
    if _has(engine, recipe.tag):
        log.append(f"base image {recipe.tag} cached")
        return recipe.tag
    if shutil.which("debootstrap") is None:
        raise InfrastructureError(
            "debootstrap is not installed", fix="apt-get install debootstrap (as root)"
        )
    with tempfile.TemporaryDirectory(prefix="gameday-rootfs-") as scratch:
        rootfs, tarball = Path(scratch) / "rootfs", Path(scratch) / "rootfs.tar"
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(recipe.packages)}",
             recipe.suite, str(rootfs), recipe.mirror],
            "debootstrap",
        )  # fmt: skip
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], "tar")
        repository, tag = recipe.tag.split(":")
        engine.api.import_image_from_file(str(tarball), repository=repository, tag=tag)
    log.append(f"base image {recipe.tag} imported from debootstrap {recipe.suite}")
    return recipe.tag


def build_wheels(root: Path, cache: Path, into: Path) -> None:
    """The project's wheel and exactly its dependencies' into ``into``; wheels kept in
    ``cache`` are reused (no download, byte-identical for the engine's layer cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--find-links", str(cache),
         "--wheel-dir", str(into), str(root)],
        "pip wheel",
    )  # fmt: skip
    for wheel in into.glob("*.whl"):
        if not (cache / wheel.name).exists() and not wheel.name.startswith(_PROJECT_WHEEL):
            shutil.copy2(wheel, cache / wheel.name)


def build(
    *,
    root: Path | None = None,
    recipe: BaseRecipe | None = None,
    cache: Path = Path(".gameday") / "images",
    force: bool = False,
) -> tuple[str, list[str]]:
    """Build (or find cached) the application image; its tag and what was done."""
    root = root or project_root()
    recipe = recipe or BaseRecipe()
    engine = client()
    tag = image_tag(root, recipe)
    log: list[str] = []
    if _has(engine, tag) and not force:
        return tag, [f"image {tag} cached (source unchanged)"]
    base = build_base(engine, recipe, log)
    with tempfile.TemporaryDirectory(prefix="gameday-image-") as scratch:
        context = Path(scratch)
        deps, app = context / "deps", context / "app"
        build_wheels(root, cache / "wheels", deps)
        app.mkdir()
        for wheel in deps.glob(f"{_PROJECT_WHEEL}*.whl"):
            wheel.rename(app / wheel.name)
        (context / "Dockerfile").write_text(_DOCKERFILE.format(base=base))
        try:
            engine.images.build(
                path=str(context), tag=tag, rm=True, labels={SOURCE_LABEL: tag.split(":")[1]}
            )
        except Exception as exc:  # BuildError or APIError: both carry the engine's reason
            raise InfrastructureError(f"docker build of {tag} failed: {exc}") from None
    engine.images.get(tag).tag(REPOSITORY, "latest")
    log.append(f"image {tag} built (also tagged {REPOSITORY}:latest)")
    log += _prune(engine, keep=tag)
    return tag, log


def _prune(engine: Any, keep: str) -> list[str]:
    """Drop the images of earlier sources (each rebuild leaves one); an image a container
    still uses stays (the engine refuses), so a running stack never loses its image."""
    import docker.errors

    removed = []
    for image in engine.images.list(name=REPOSITORY):
        for old in image.tags:
            if old in (keep, f"{REPOSITORY}:latest"):
                continue
            try:
                engine.images.remove(old)
            except docker.errors.APIError:
                continue
            removed.append(f"removed image {old} (earlier sources)")
    return removed
