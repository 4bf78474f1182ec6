"""The committed locks agree with the ranges they were made from: a range edited without re-locking (`make lock`)
fails here, before a clean clone installs versions the pyproject.toml no longer allows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
ENVS = ROOT / "tests" / "envs"


def locked(lock: Path) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s\\;]+)", lock.read_text(), re.MULTILINE)
    return {canonicalize_name(name.split("[")[0]): version for name, version in pins}


def requirements(pyproject: Path, *extras: str) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = [*project.get("dependencies", [])]
    for extra in extras:
        specs += project["optional-dependencies"][extra]
    return [r for r in map(Requirement, specs) if canonicalize_name(r.name) != "helicone-otel"]


@pytest.mark.parametrize(
    ("pyproject", "extras", "lock"),
    [
        (ROOT / "pyproject.toml", ("dev", "collector", "forwarder", "kafka"), ROOT / "locks" / "dev.txt"),
        (ROOT / "pyproject.toml", ("collector", "forwarder", "kafka"), ROOT / "locks" / "run.txt"),
        (ENVS / "legacy" / "pyproject.toml", (), ENVS / "legacy" / "requirements.lock"),
        (ENVS / "emitters" / "pyproject.toml", (), ENVS / "emitters" / "requirements.lock"),
        (ENVS / "events" / "pyproject.toml", (), ENVS / "events" / "requirements.lock"),
    ],
    ids=["dev", "run", "legacy", "emitters", "events"],
)
def test_every_direct_requirement_is_locked_within_its_range(
    pyproject: Path, extras: tuple[str, ...], lock: Path
) -> None:
    pins = locked(lock)
    for requirement in requirements(pyproject, *extras):
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement} is not in {lock.name}: run `make lock`"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{lock.name} pins {name}=={pins[name]}, outside {requirement}: run `make lock`"
        )


def test_the_run_lock_is_the_dev_lock_cut_down() -> None:
    dev, run = locked(ROOT / "locks" / "dev.txt"), locked(ROOT / "locks" / "run.txt")
    assert {name: dev.get(name) for name in run} == run
