"""What a stack's image is made of, from its spec alone: the cache keys follow every input
(packages, extras, sources) and nothing else, and a bad `image:` is refused before any build."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chaos.errors import InvalidInput
from chaos.experiment.loader import builtin_stacks, load_stack_spec
from chaos.stack.images import BaseRecipe, ImageRecipe, check_extras, recipe_of, source_key

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = st.lists(st.sampled_from(["janus", "nginx", "ffmpeg", "icecast2", "liquidsoap"]))


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text(
        "[project]\nname = 'x'\n[project.optional-dependencies]\nwebrtc = ['aiortc']\n"
    )
    for package in ("chaos", "soundstage"):
        (tmp_path / package / "sub").mkdir(parents=True)
        (tmp_path / package / "sub" / "m.py").write_text("x = 1\n")
    return tmp_path


def test_the_image_key_follows_every_source_file_and_the_base_recipe(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    recipe = ImageRecipe("soundstage")
    key = source_key(root, recipe)
    assert source_key(root, recipe) == key  # stable: a second build finds its image
    (root / "chaos" / "__pycache__").mkdir()
    (root / "chaos" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    assert source_key(root, recipe) == key  # bytecode is not source
    (root / "soundstage" / "sub" / "m.py").write_text("x = 2\n")
    changed = source_key(root, recipe)
    assert changed != key
    assert source_key(root, ImageRecipe("soundstage", BaseRecipe(suite="trixie"))) != changed
    assert source_key(root, ImageRecipe("soundstage", BaseRecipe(packages=("nginx",)))) != changed
    assert source_key(root, ImageRecipe("soundstage", extras=("webrtc",))) != changed
    (root / "soundstage" / "sub" / "m.py").rename(root / "soundstage" / "sub" / "n.py")
    assert source_key(root, recipe) != changed  # a rename is a change


@given(PACKAGES, PACKAGES)
def test_the_base_key_is_the_set_of_packages_in_any_order(one: list[str], other: list[str]) -> None:
    same = BaseRecipe(packages=tuple(one)).key() == BaseRecipe(packages=tuple(other)).key()
    assert same == (set(one) == set(other))


def test_each_stack_spec_names_its_own_packages_extras_and_repository() -> None:
    stacks = {name: recipe_of(load_stack_spec(path)) for name, path in builtin_stacks().items()}
    assert stacks["soundstage"].base.packages == () and stacks["soundstage"].extras == ()
    spaces = stacks["spaces"]
    assert {"janus", "nginx", "ffmpeg", "prometheus-nginx-exporter"} <= set(spaces.base.packages)
    assert spaces.extras == ("webrtc",)
    assert spaces.repository == "gameday-spaces"
    assert stacks["soundstage"].repository == "gameday-soundstage"  # building one prunes
    assert spaces.base.key() != stacks["soundstage"].base.key()  # only its own images
    check_extras(ROOT, spaces)  # the extras it names are the project's


def test_an_unknown_extra_is_invalid_input_naming_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no extras \\['webrct'\\]") as raised:
        check_extras(_tree(tmp_path), ImageRecipe("mine", extras=("webrct",)))
    assert raised.value.fix is not None and "webrtc" in raised.value.fix


def test_images_build_refuses_a_bad_image_field_before_building(tmp_path: Path) -> None:
    spec = tmp_path / "mine.yaml"
    spec.write_text(
        "name: mine\nimage: {packages: [Janus!]}\ncomponents:\n"
        "  a: {command: [sleep, '9'], ports: {http: {}}}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "images", "build", "--stack", str(spec)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2, done.stdout + done.stderr
    assert "image" in done.stderr and "packages" in done.stderr
    spec.write_text(spec.read_text().replace("[Janus!]", "[janus], extras: [nope]"))
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "images", "build", "--stack", str(spec)],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "no extras ['nope']" in done.stderr, done.stderr
