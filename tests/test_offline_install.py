"""The offline install of docs/teaching/checklist.md: a class machine installs the course
from the wheelhouse (`make wheelhouse`) with no network at all.

The slow test builds the wheelhouse into build/wheelhouse unless the one there was built for
this pyproject.toml, Python and platform (its key is in wheelhouse.json; building asks pip,
which fetches from the package index as `make lab` does). Then, inside a network namespace of
its own where only loopback exists, it copies the course folder, makes a fresh venv, installs
with `pip install --no-index --find-links`, imports portlab and runs `portlab lookup 443`.
The figures (wheelhouse size, install time) go to build/test-output/wheelhouse.json.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from portlab.course import wheelhouse

ROOT = Path(__file__).resolve().parents[1]
WHEELHOUSE = ROOT / "build" / "wheelhouse"
OUTPUT = ROOT / "build" / "test-output" / "wheelhouse.json"
NETWORK_TROUBLE = ("NewConnectionError", "Temporary failure in name resolution", "Network is unreachable",
                   "Max retries exceeded", "No matching distribution found")


# ---- the wheelhouse's contents and key (fast, nothing fetched) ------------------------------------

def test_requirements_are_the_runtime_the_hub_and_the_build_backend():
    reqs = wheelhouse.requirements()
    names = [r.split(">")[0].split("=")[0].split(";")[0].strip().lower() for r in reqs]
    for needed in ("jupyterlab", "pandas", "voila", "jupyterhub", "setuptools"):
        assert needed in names
    assert "pytest" not in names and "playwright" not in names, "the test extra is not for a class"
    assert len(names) == len(set(names))


def test_an_unknown_extra_is_one_clear_error():
    with pytest.raises(ValueError, match="no extra 'nosuch'"):
        wheelhouse.requirements(extras=("nosuch",))


def test_the_key_follows_pyproject_and_a_missing_wheel_makes_it_stale(tmp_path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_bytes((ROOT / "pyproject.toml").read_bytes())
    first = wheelhouse.key(pyproject)
    dest = tmp_path / "wheelhouse"
    dest.mkdir()
    (dest / "a-1.0-py3-none-any.whl").write_bytes(b"x")
    (dest / wheelhouse.MANIFEST).write_text(json.dumps({"key": first, "files": ["a-1.0-py3-none-any.whl"]}))
    assert wheelhouse.current(dest, pyproject)["key"] == first
    (dest / "a-1.0-py3-none-any.whl").unlink()
    assert wheelhouse.current(dest, pyproject) is None, "a wheel listed but missing must force a rebuild"
    (dest / "a-1.0-py3-none-any.whl").write_bytes(b"x")
    pyproject.write_text(pyproject.read_text() + "\n# a change\n")
    assert wheelhouse.key(pyproject) != first
    assert wheelhouse.current(dest, pyproject) is None, "a changed pyproject.toml must force a rebuild"


def test_bad_arguments_get_one_line(capsys):
    assert wheelhouse.main(["a", "b"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("wheelhouse:")


# ---- the install with the network off (slow) ------------------------------------------------------

INSIDE = r'''
import json, os, subprocess, sys, time
venv, course, wheels = sys.argv[1:4]
try:
    subprocess.run(["ip", "link", "set", "lo", "up"], capture_output=True)
except FileNotFoundError:
    pass                                    # no iproute2: loopback stays down, which pip does not need
with open("/proc/self/net/dev") as f:
    interfaces = sorted(line.split(":")[0].strip() for line in f.read().splitlines()[2:])
with open("/proc/self/net/route") as f:
    routes = f.read().splitlines()[1:]
started = time.monotonic()
subprocess.run([sys.executable, "-m", "venv", venv], check=True)
env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
pip = subprocess.run([venv + "/bin/pip", "install", "--quiet", "--no-cache-dir", "--no-index",
                      "--find-links", wheels, "-e", ".[classroom]"],
                     cwd=course, env=env, capture_output=True, text=True)
installed = time.monotonic() - started
out = {"interfaces": interfaces, "ipv4_routes": routes, "pip_exit": pip.returncode,
       "pip_tail": (pip.stderr or pip.stdout)[-2000:], "install_s": round(installed, 1)}
if pip.returncode == 0:
    imp = subprocess.run([venv + "/bin/python", "-c",
                          "import portlab, jupyterlab, ipywidgets, matplotlib, pandas, voila, jupyterhub; "
                          "print(portlab.__file__)"], capture_output=True, text=True, env=env, cwd="/")
    look = subprocess.run([venv + "/bin/portlab", "lookup", "443"], capture_output=True, text=True, env=env,
                          cwd="/")
    out.update(import_exit=imp.returncode, import_out=(imp.stdout + imp.stderr)[-1000:],
               lookup_exit=look.returncode, lookup_out=(look.stdout + look.stderr)[-1000:])
print(json.dumps(out))
'''


def _offline_prefix() -> list[str]:
    """unshare into a new network namespace: as root directly, else inside a user namespace."""
    if not shutil.which("unshare"):
        pytest.skip("no unshare(1) on this machine")
    prefix = ["unshare", "--net", "--"] if os.geteuid() == 0 else \
        ["unshare", "--user", "--map-root-user", "--net", "--"]
    probe = subprocess.run(prefix + ["true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a network namespace here: {probe.stderr.strip() or probe.returncode}")
    return prefix


def _wheelhouse() -> dict:
    try:
        return wheelhouse.build(WHEELHOUSE)
    except wheelhouse.WheelhouseError as err:
        if any(sign in str(err) for sign in NETWORK_TROUBLE):
            pytest.skip(f"the package index cannot be reached to build the wheelhouse: {str(err).splitlines()[-1]}")
        raise


def _copy_course(dest: Path) -> Path:
    """The course folder as a teacher copies it to a class machine (what an install reads)."""
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "portlab", dest / "portlab", ignore=skip)
    shutil.copytree(ROOT / "data", dest / "data", ignore=skip)
    return dest


@pytest.mark.slow
def test_a_fresh_install_from_the_wheelhouse_with_the_network_off(tmp_path):
    prefix = _offline_prefix()
    manifest = _wheelhouse()
    course = _copy_course(tmp_path / "course")
    venv = tmp_path / "venv"
    script = tmp_path / "inside.py"
    script.write_text(INSIDE)
    try:
        done = subprocess.run(prefix + [getattr(sys, "_base_executable", sys.executable), str(script), str(venv), str(course), str(WHEELHOUSE)],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        seen = json.loads(done.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(venv, ignore_errors=True)
    assert seen["interfaces"] == ["lo"], f"the install must see only loopback, saw {seen['interfaces']}"
    assert seen["ipv4_routes"] == [], "no route may leave the namespace"
    assert seen["pip_exit"] == 0, f"pip could not install from the wheelhouse alone:\n{seen['pip_tail']}"
    assert seen["import_exit"] == 0, seen["import_out"]
    assert seen["import_out"].strip().startswith(str(course)), "portlab must come from the course folder"
    assert seen["lookup_exit"] == 0, seen["lookup_out"]
    assert "https" in seen["lookup_out"] and "443" in seen["lookup_out"]
    figures = {"wheels": len(manifest["files"]), "wheelhouse_mb": round(manifest["bytes"] / 1e6, 1),
               "wheelhouse_reused": manifest["reused"], "built_seconds": manifest["built_seconds"],
               "offline_install_s": seen["install_s"], "python": manifest["python"],
               "platform": manifest["platform"]}
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(figures, indent=1) + "\n")
    print(figures)
