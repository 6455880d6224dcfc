"""The set-up files agree with each other: pyproject.toml, environment.yml, README, .ci/run."""

import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pyproject_deps():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {Requirement(d).name.lower(): str(Requirement(d).specifier) for d in meta["dependencies"]}


def _conda_deps():
    """The conda list of environment.yml: `  - name>=version` lines before the pip block.

    The file is ours and flat, so a line reader is enough; no YAML library needed.
    """
    deps = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        line = line.split("#", 1)[0].rstrip()
        m = re.fullmatch(r"  - ([A-Za-z0-9_.-]+)\s*([<>=!~].*)?", line)
        if m and m.group(1) not in ("python", "pip"):
            deps[m.group(1).lower()] = (m.group(2) or "").replace(" ", "")
    return deps


def test_environment_yml_lists_the_same_runtime_dependencies_as_pyproject():
    assert _conda_deps() == _pyproject_deps()


def test_environment_yml_installs_the_package_itself():
    assert re.search(r"^\s+- -e \.\s*$", (ROOT / "environment.yml").read_text(), re.M)


def test_console_script_points_at_the_cli():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["scripts"]["portlab"] == "portlab.cli:main"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^(make \w+)\s+#", readme, re.M)
    assert commands[:2] == ["make lab", "make test"]
    assert re.search(r"^make test$", (ROOT / ".ci" / "run").read_text(), re.M)


def test_registry_csv_is_byte_for_byte_with_crlf():
    import hashlib
    data = (ROOT / "data" / "iana-service-names-port-numbers.csv").read_bytes()
    assert hashlib.sha256(data).hexdigest() == "361899a76482379959543892e489689a45f676feba5988f7d4d369517da5bbad"
    assert b"\r\n" in data[:300]
