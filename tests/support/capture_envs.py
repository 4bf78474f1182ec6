"""Where the capture environments live. `make test` syncs them from their locks into the checkout
(`.venv-legacy`, `.venv-emitters`, `.venv-events`, `tests/vercel/node_modules`); `make test-latest` builds them from
the newest releases elsewhere and names them in HELICONE_OTEL_LEGACY_VENV, HELICONE_OTEL_EMITTERS_VENV,
HELICONE_OTEL_EVENTS_VENV and HELICONE_OTEL_VERCEL_DIR. Both the tests and the capture scripts read them from here."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEGACY_VENV = Path(os.environ.get("HELICONE_OTEL_LEGACY_VENV", ROOT / ".venv-legacy"))
EMITTERS_VENV = Path(os.environ.get("HELICONE_OTEL_EMITTERS_VENV", ROOT / ".venv-emitters"))
EVENTS_VENV = Path(os.environ.get("HELICONE_OTEL_EVENTS_VENV", ROOT / ".venv-events"))
VERCEL_DIR = Path(os.environ.get("HELICONE_OTEL_VERCEL_DIR", ROOT / "tests" / "vercel"))
VERCEL_SCRIPT = VERCEL_DIR / "capture.mjs"  # ES modules resolve packages beside the script: make test-latest copies it

LEGACY_PYTHON = LEGACY_VENV / "bin" / "python"
EMITTERS_PYTHON = EMITTERS_VENV / "bin" / "python"
EVENTS_PYTHON = EVENTS_VENV / "bin" / "python"


def _requirement_name(spec: str) -> str:
    for stop in "[<>=!~; ":
        spec = spec.split(stop, 1)[0]
    return spec.lower().replace("_", "-")


def _venv_versions(venv: Path) -> dict[str, str]:
    """Distribution name -> version, read from the venv's dist-info folders (no interpreter started)."""
    found: dict[str, str] = {}
    for info in venv.glob("lib/python*/site-packages/*.dist-info"):
        name, _, version = info.name.removesuffix(".dist-info").partition("-")
        found[name.lower().replace("_", "-")] = version
    return found


def _direct(pyproject: Path, *extras: str) -> list[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    specs = list(project.get("dependencies", []))
    for extra in extras:
        specs += project.get("optional-dependencies", {}).get(extra, [])
    return [name for name in map(_requirement_name, specs) if not name.startswith("helicone-otel")]


def capture_library_versions(main_venv: Path) -> list[str]:
    """One line per environment: the version of each library it names directly, as installed now."""
    lines = []
    envs = [
        ("main", main_venv, _direct(ROOT / "pyproject.toml", "dev")),
        ("legacy", LEGACY_VENV, _direct(ROOT / "tests" / "envs" / "legacy" / "pyproject.toml")),
        ("emitters", EMITTERS_VENV, _direct(ROOT / "tests" / "envs" / "emitters" / "pyproject.toml")),
        ("events", EVENTS_VENV, _direct(ROOT / "tests" / "envs" / "events" / "pyproject.toml")),
    ]
    for label, venv, names in envs:
        versions = _venv_versions(venv)
        lines.append(f"{label} ({venv}): " + ", ".join(f"{n} {versions.get(n, 'missing')}" for n in names))
    deps = json.loads((ROOT / "tests" / "vercel" / "package.json").read_text())["dependencies"]
    installed = []
    extra = ["@ai-sdk/otel"] if (VERCEL_DIR / "node_modules" / "@ai-sdk" / "otel").is_dir() else []  # AI SDK 7
    for name in [*deps, *extra]:
        manifest = VERCEL_DIR / "node_modules" / name / "package.json"
        installed.append(f"{name} {json.loads(manifest.read_text())['version'] if manifest.exists() else 'missing'}")
    lines.append(f"vercel ({VERCEL_DIR}): " + ", ".join(installed))
    return lines
