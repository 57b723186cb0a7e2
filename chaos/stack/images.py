"""`gameday images build`: a stack and the harness in a local image, no registry needed.

Two layers, each cached by a content hash so a test (or a second build) never rebuilds what
it has: a base image imported from a ``debootstrap`` root filesystem (Debian's own
``python3`` and ``python3-venv``, plus the Debian packages the stack's spec names in
``image.packages``; keyed by suite, mirror and packages), and the stack's application image
``gameday-STACK`` (keyed by the base, the extras the spec names in ``image.extras`` and every
source file of chaos/, soundstage/ and spaces/ plus pyproject.toml), whose venv is installed
offline (``--no-index``) from wheels this machine builds with its own pip. Users who ship their
own images do not need any of it: see ``DockerBackend(images=…)``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.errors import InfrastructureError, InvalidInput
from chaos.experiment.stack import StackSpec
from chaos.stack.docker_engine import client

log = logging.getLogger(__name__)

BASE_REPOSITORY = "gameday-base"
SOURCE_LABEL = "gameday.source"
IMAGE_ENV = "GAMEDAY_IMAGE"
"""Names the image every component runs (a user's own), instead of the built one."""
RECIPE = 1
"""Bump when the build steps change, so every cached image is rebuilt."""
_PROJECT_WHEEL = "chaos_gameday-"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
"""What every stack's base has: the interpreter its venv is made with."""
DEFAULT_MIRROR = "http://deb.debian.org/debian"
_CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "DEBIAN_FRONTEND": "noninteractive",
    "LC_ALL": "C",
}
_NO_SERVICES = "#!/bin/sh\nexit 101\n"
"""policy-rc.d: a package's maintainer scripts start no service in the image being made."""

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
    mirror: str = DEFAULT_MIRROR
    packages: tuple[str, ...] = ()
    """The stack's own Debian packages, beyond ``BASE_PACKAGES`` (its spec's `image.packages`)."""

    def key(self) -> str:
        """The set of packages, not their order: the same root filesystem, the same key."""
        packages = ",".join(sorted(set(BASE_PACKAGES) | set(self.packages)))
        text = f"{RECIPE}|{self.suite}|{self.mirror}|{packages}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def tag(self) -> str:
        return f"{BASE_REPOSITORY}:{self.key()}"


@dataclass(frozen=True)
class ImageRecipe:
    """One stack's image: its repository, its base and the harness's extras it installs."""

    stack: str
    base: BaseRecipe = field(default_factory=BaseRecipe)
    extras: tuple[str, ...] = ()

    @property
    def repository(self) -> str:
        """`gameday-spaces`: each stack its own, so building one never prunes another's."""
        return "gameday-" + (re.sub(r"[^a-z0-9]+", "-", self.stack).strip("-") or "stack")


def recipe_of(
    spec: StackSpec, suite: str = "bookworm", mirror: str = DEFAULT_MIRROR
) -> ImageRecipe:
    """The image recipe a stack spec asks for (its `image` field)."""
    return ImageRecipe(
        spec.name,
        BaseRecipe(suite, mirror, tuple(spec.image.packages)),
        tuple(sorted(set(spec.image.extras))),
    )


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


def source_key(root: Path, recipe: ImageRecipe) -> str:
    """Hash of the base recipe, the extras and every file that goes into the application wheel."""
    digest = hashlib.sha256(f"{RECIPE}|{recipe.base.key()}|{','.join(recipe.extras)}".encode())
    for path in _sources(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def image_tag(recipe: ImageRecipe, root: Path | None = None) -> str:
    """The tag of the image built from this source tree (what the Docker backend runs)."""
    return f"{recipe.repository}:{source_key(root or project_root(), recipe)}"


def default_image(engine: Any, spec: StackSpec) -> str:
    """What the Docker backend runs for ``spec`` when no image is named: ``$GAMEDAY_IMAGE``,
    else the stack's image of this very source tree, else the last one built (``:latest``,
    with a warning that it may be stale: the tree changed since `gameday images build`)."""
    named = os.environ.get(IMAGE_ENV)
    if named:
        return named
    recipe = recipe_of(spec)
    exact = image_tag(recipe)
    if _has(engine, exact):
        return exact
    latest = f"{recipe.repository}:latest"
    if _has(engine, latest):
        log.warning(
            "no image of the current sources (%s); running %s: `gameday images build --stack "
            "%s` to update",
            exact,
            latest,
            spec.name,
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


def _run(argv: list[str], what: str, env: Mapping[str, str] | None = None) -> None:
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, env=None if env is None else dict(env)
    )
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
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             recipe.suite, str(rootfs), recipe.mirror],
            "debootstrap",
        )  # fmt: skip
        if recipe.packages:
            _install(rootfs, recipe.packages)
        _run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tarball), "."], "tar")
        repository, tag = recipe.tag.split(":")
        engine.api.import_image_from_file(str(tarball), repository=repository, tag=tag)
    extra = f" with {', '.join(recipe.packages)}" if recipe.packages else ""
    log.append(f"base image {recipe.tag} imported from debootstrap {recipe.suite}{extra}")
    return recipe.tag


def _install(rootfs: Path, packages: tuple[str, ...]) -> None:
    """The stack's packages by apt in the new root (its resolver, not debootstrap's, which
    knows no alternatives or virtual packages), no service started, no lists left."""
    guard = rootfs / "usr" / "sbin" / "policy-rc.d"
    guard.write_text(_NO_SERVICES)
    guard.chmod(0o755)
    chroot = ["chroot", str(rootfs)]
    _run([*chroot, "apt-get", "update", "-qq"], "apt-get update (in the image)", _CHROOT_ENV)
    _run(
        [*chroot, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
        f"apt-get install {' '.join(packages)} (in the image)",
        _CHROOT_ENV,
    )
    _run([*chroot, "apt-get", "clean"], "apt-get clean (in the image)", _CHROOT_ENV)
    shutil.rmtree(rootfs / "var" / "lib" / "apt" / "lists", ignore_errors=True)
    guard.unlink()


def build_wheels(root: Path, cache: Path, into: Path, extras: tuple[str, ...] = ()) -> None:
    """The project's wheel and exactly its dependencies' (with ``extras``) into ``into``;
    wheels kept in ``cache`` are reused (no download, byte-identical for the engine's layer
    cache)."""
    cache.mkdir(parents=True, exist_ok=True)
    project = f"{root}[{','.join(extras)}]" if extras else str(root)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--find-links", str(cache),
         "--wheel-dir", str(into), project],
        "pip wheel",
    )  # fmt: skip
    for wheel in into.glob("*.whl"):
        if not (cache / wheel.name).exists() and not wheel.name.startswith(_PROJECT_WHEEL):
            shutil.copy2(wheel, cache / wheel.name)


def check_extras(root: Path, recipe: ImageRecipe) -> None:
    """Each extra the spec names is one of the project's (pip would only warn, and the
    component would fail in its container at the first import)."""
    with open(root / "pyproject.toml", "rb") as handle:
        known = tomllib.load(handle).get("project", {}).get("optional-dependencies", {})
    unknown = sorted(set(recipe.extras) - set(known))
    if unknown:
        raise InvalidInput(
            f"stack {recipe.stack!r}: no extras {unknown} in the project",
            where="image.extras",
            fix=f"name extras of pyproject.toml: {', '.join(known) or 'none'}",
        )


def build(
    recipe: ImageRecipe,
    *,
    root: Path | None = None,
    cache: Path = Path(".gameday") / "images",
    force: bool = False,
) -> tuple[str, list[str]]:
    """Build (or find cached) the stack's application image; its tag and what was done."""
    root = root or project_root()
    check_extras(root, recipe)
    engine = client()
    tag = image_tag(recipe, root)
    log: list[str] = []
    if _has(engine, tag) and not force:
        return tag, [f"image {tag} cached (source unchanged)"]
    base = build_base(engine, recipe.base, log)
    with tempfile.TemporaryDirectory(prefix="gameday-image-") as scratch:
        context = Path(scratch)
        deps, app = context / "deps", context / "app"
        build_wheels(root, cache / "wheels", deps, recipe.extras)
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
    engine.images.get(tag).tag(recipe.repository, "latest")
    log.append(f"image {tag} built (also tagged {recipe.repository}:latest)")
    log += _prune(engine, recipe.repository, keep=tag)
    return tag, log


def _prune(engine: Any, repository: str, keep: str) -> list[str]:
    """Drop the stack's images of earlier sources (each rebuild leaves one); an image a
    container still uses stays (the engine refuses), so a running stack never loses its image."""
    import docker.errors

    removed = []
    for image in engine.images.list(name=repository):
        for old in image.tags:
            if old in (keep, f"{repository}:latest"):
                continue
            try:
                engine.images.remove(old)
            except docker.errors.APIError:
                continue
            removed.append(f"removed image {old} (earlier sources)")
    return removed
