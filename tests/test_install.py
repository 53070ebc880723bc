"""The schema ships inside the package: a non-editable install (a built wheel, installed
with pip into a folder of its own) prints it from another directory.

The wheel is built from a copy of the project files, so nothing (`build/`, egg-info) is
written into the working tree. Building needs setuptools >= 77: the one in this
environment if it is new enough (no network), else pip's isolated build environment,
which fetches it from the package index; only if that index cannot be reached is the test
skipped.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]

# pip's words when the index is out of reach (no route, no DNS, proxy refused, offline).
NO_INDEX = (
    "No matching distribution found for setuptools",
    "Could not find a version that satisfies the requirement setuptools",
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ProxyError",
)


def _setuptools_is_new_enough() -> bool:
    try:
        major = importlib.metadata.version("setuptools").split(".")[0]
    except importlib.metadata.PackageNotFoundError:
        return False
    return major.isdigit() and int(major) >= 77


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for extra in ROOT.glob("LICEN[CS]E*"):
        shutil.copy2(extra, src / extra.name)
    shutil.copytree(
        ROOT / "planrunner", src / "planrunner", ignore=shutil.ignore_patterns("__pycache__")
    )
    out = tmp / "wheel"
    offline = _setuptools_is_new_enough()
    cmd = [*PIP, "wheel", "--no-deps", "-w", str(out), str(src)]
    if offline:
        cmd.insert(len(PIP) + 2, "--no-build-isolation")
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=120)
    if done.returncode != 0:
        text = done.stdout + done.stderr
        if not offline and any(s in text for s in NO_INDEX):
            pytest.skip("building the wheel needs setuptools>=77 from the package index")
        pytest.fail(f"pip wheel failed:\n{text}")
    (wheel,) = out.glob("planrunner-*.whl")
    return wheel


@pytest.mark.timeout(180)
def test_a_non_editable_install_prints_the_schema_from_another_directory(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    site = tmp_path / "site"
    subprocess.run(
        [*PIP, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # The installed copy comes first on the path, ahead of this checkout's editable install;
    # the dependencies (yaml, click, ...) still come from this environment.
    env = {**os.environ, "PYTHONPATH": str(site)}
    expected = (ROOT / "planrunner" / "schemas" / "plan.schema.json").read_text(encoding="utf-8")

    where = subprocess.run(
        [sys.executable, "-c", "import planrunner; print(planrunner.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=elsewhere,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)
    assert (site / "planrunner" / "schemas" / "plan.schema.json").read_text() == expected

    for cmd in (
        [sys.executable, "-m", "planrunner", "schema"],
        [str(site / "bin" / "planrunner"), "schema"],
    ):
        out = subprocess.run(
            cmd, capture_output=True, text=True, check=True, cwd=elsewhere, env=env
        )
        assert out.stdout == expected, cmd
    # The plan templates ship too (issue 16, item 4): `new` works from the installed copy.
    listed = subprocess.run(
        [sys.executable, "-m", "planrunner", "new", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=elsewhere,
        env=env,
    )
    templates = sorted(p.stem for p in (ROOT / "planrunner" / "plan" / "templates").glob("*.yaml"))
    assert [t["template"] for t in json.loads(listed.stdout)] == templates
    # the market data ships too: sessions, special days and the instrument table
    for name in ("sessions.yaml", "instruments.yaml"):
        assert (site / "planrunner" / "data" / name).is_file(), name
    out = subprocess.run(
        [sys.executable, "-m", "planrunner", "calendar", "2027-11-18"],
        capture_output=True,
        text=True,
        check=True,
        cwd=elsewhere,
        env=env,
    )
    assert "10:00:00-16:30:00  regular session" in out.stdout
