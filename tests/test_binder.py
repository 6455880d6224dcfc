"""Binder builds the course from the files repo2docker reads; they must agree with pyproject.toml.

repo2docker (what mybinder.org runs) reads ``binder/`` or ``.binder/`` if either
exists, else the repository's root.  With an ``environment.yml`` it builds a conda
environment from it: the conda list, then the ``pip:`` list, where a local
requirement (``-e .``) makes it install after the repository is copied in, which
is how ``portlab`` itself gets installed.  Its Python comes from a ``python=X.Y``
pin, else from repo2docker's default.  These tests read the files the way
repo2docker does (a YAML parser, not line matching) and compare them with
``pyproject.toml``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# repo2docker's own pattern for a Python pin in environment.yml (buildpacks/conda/__init__.py)
PYTHON_PIN = re.compile(r"python\s*=+\s*([\d\.]*)")
# Binder looks here first; either directory, if present, hides the root's files.
BINDER_DIRS = ("binder", ".binder")


def binder_dir() -> Path:
    found = [ROOT / d for d in BINDER_DIRS if (ROOT / d).is_dir()]
    assert len(found) <= 1, "both binder/ and .binder/ exist: repo2docker refuses that"
    return found[0] if found else ROOT


def environment() -> dict:
    path = binder_dir() / "environment.yml"
    assert path.is_file(), f"Binder needs {path.relative_to(ROOT)}"
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and isinstance(env.get("dependencies"), list)
    return env


def conda_list(env: dict) -> dict[str, str]:
    """name -> specifier of the conda dependencies (conda's one '=' means '==' in pip's terms
    only with a full version; the course uses >= throughout)."""
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", dep.strip())
            out[m.group(1).lower()] = m.group(2).replace(" ", "")
    return out


def pip_list(env: dict) -> list[str]:
    for dep in env["dependencies"]:
        if isinstance(dep, dict) and "pip" in dep:
            return [str(line).strip() for line in dep["pip"]]
    return []


def test_the_file_binder_reads_is_the_conda_environment_at_the_root():
    # No binder/ directory: the one environment.yml serves conda users and Binder alike.
    assert binder_dir() == ROOT
    assert environment()["channels"] == ["conda-forge"]


def test_runtime_dependencies_match_pyproject_name_and_version():
    conda = conda_list(environment())
    wanted = {}
    for line in PROJECT["dependencies"]:
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate({"python_version": "3.10"}):
            continue
        wanted[req.name.lower()] = str(req.specifier)
    for name, spec in wanted.items():
        assert name in conda, f"environment.yml lacks {name} (pyproject.toml has {name}{spec})"
        assert SpecifierSet(conda[name]) == SpecifierSet(spec), f"{name}: {conda[name]} here, {spec} in pyproject"
    extra = set(conda) - set(wanted) - {"python", "pip"}
    assert not extra, f"environment.yml installs what pyproject.toml does not ask for: {sorted(extra)}"


def test_python_version_agrees_with_requires_python():
    requires = SpecifierSet(PROJECT["requires-python"])
    python = [d for d in environment()["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert len(python) == 1, python
    pin = PYTHON_PIN.match(python[0])
    if pin:   # repo2docker builds exactly this X.Y: it must be one pyproject allows
        assert Version(pin.group(1)) in requires, f"{python[0]} against requires-python {requires}"
    else:     # a lower bound: it must be the same bound pyproject states
        assert SpecifierSet(python[0][len("python"):]) == requires, f"{python[0]} against {requires}"
    assert "pip" in environment()["dependencies"], "the pip: section needs pip in the conda list"


def test_pip_section_installs_the_package_itself_editable_and_nothing_else():
    # "-e ." is a local requirement: repo2docker then builds the environment after copying the
    # repository, so the package (and its notebooks' imports) is there when the learner arrives.
    assert pip_list(environment()) == ["-e ."]


def test_no_file_binder_would_run_as_well():
    # postBuild/start/apt.txt would run on Binder and nowhere else; the course needs none.
    for name in ("postBuild", "start", "apt.txt", "runtime.txt", "requirements.txt", "Dockerfile"):
        assert not (binder_dir() / name).exists(), f"{name} would change what Binder builds"
