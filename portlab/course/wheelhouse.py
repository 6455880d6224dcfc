"""An offline install for a class: every package the course needs, gathered once.

    python -m portlab.course.wheelhouse [DEST] [--force]        (make wheelhouse)

Run it once on a machine with network access.  It asks pip for a wheel of every
package that the course needs (pyproject.toml's dependencies, the ``classroom``
extra for a JupyterHub, and the build backend that an editable install of the
checkout needs) and puts them all into DEST (default ``build/wheelhouse``), with a
``wheelhouse.json`` that says what is there and for which Python and platform.
Class machines then install with no network at all, from the course folder:

    python3 -m venv .venv
    .venv/bin/pip install --no-index --find-links build/wheelhouse -e '.[classroom]'

(``make install-offline`` does the same.)  ``-e .`` alone is enough on a machine
that will not run the class's JupyterHub.

The project itself is not in the wheelhouse: it is installed from the checkout (as
``make lab`` does), because the notebooks and ``data/`` live there and the package
reads ``data/`` beside itself.  The test extra (pytest, Playwright) is left out: a
class does not run the test suite.

A wheelhouse is built for one Python version and platform (wheels of numpy, pandas
and the like are compiled): build it with the Python the class machines have.  It is
rebuilt only when pyproject.toml, the Python version, the platform or the extras
change (its key is in ``wheelhouse.json``); ``--force`` rebuilds it anyway.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 has tomli (a dependency there)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
DEFAULT_DEST = ROOT / "build" / "wheelhouse"
EXTRAS: tuple[str, ...] = ("classroom",)
MANIFEST = "wheelhouse.json"


class WheelhouseError(RuntimeError):
    """pip could not gather the wheels; the message ends with pip's last lines."""


def requirements(pyproject: Path = PYPROJECT, extras: Sequence[str] = EXTRAS) -> list[str]:
    """The requirement lines a class install needs: dependencies, the extras, the build backend."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    optional = project.get("optional-dependencies", {})
    reqs = list(project.get("dependencies", []))
    for extra in extras:
        if extra not in optional:
            raise ValueError(f"pyproject.toml has no extra {extra!r}: expected one of {', '.join(optional)}")
        reqs += optional[extra]
    reqs += data.get("build-system", {}).get("requires", [])
    return list(dict.fromkeys(reqs))  # in order, each once


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}"


def platform_tag() -> str:
    return sysconfig.get_platform()


def key(pyproject: Path = PYPROJECT, extras: Sequence[str] = EXTRAS) -> str:
    """What the wheelhouse depends on: pyproject.toml's bytes, the Python, the platform, the extras."""
    digest = hashlib.sha256(pyproject.read_bytes()).hexdigest()[:16]
    return f"{digest}-{python_tag()}-{platform_tag()}-{'+'.join(extras) or 'none'}"


def read_manifest(dest: Path) -> Optional[dict]:
    try:
        return json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def current(dest: Path = DEFAULT_DEST, pyproject: Path = PYPROJECT,
            extras: Sequence[str] = EXTRAS) -> Optional[dict]:
    """The manifest of ``dest`` if it was built for this key and every wheel it lists is there."""
    manifest = read_manifest(dest)
    if not manifest or manifest.get("key") != key(pyproject, extras):
        return None
    if not all((dest / name).is_file() for name in manifest.get("files", ())):
        return None
    return manifest


def _size(dest: Path, names: Sequence[str]) -> int:
    return sum((dest / name).stat().st_size for name in names)


def build(dest: Path = DEFAULT_DEST, pyproject: Path = PYPROJECT, extras: Sequence[str] = EXTRAS, *,
          force: bool = False, python: str = sys.executable,
          log: Callable[[str], None] = lambda line: None) -> dict:
    """Gather the wheels into ``dest`` unless it is already current; return its manifest.

    The wheels are gathered into a sibling folder first and moved into place at the
    end, so a failed build leaves the previous wheelhouse as it was.
    """
    dest = Path(dest)
    if not force:
        manifest = current(dest, pyproject, extras)
        if manifest:
            manifest["reused"] = True
            return manifest
    reqs = requirements(pyproject, extras)
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    log(f"gathering wheels for {len(reqs)} requirements into {dest} (pip wheel; a few minutes the first time)")
    started = time.monotonic()
    try:
        done = subprocess.run([python, "-m", "pip", "wheel", "--quiet", "--prefer-binary",
                               "--wheel-dir", str(partial), *reqs],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
            raise WheelhouseError(f"pip wheel failed (exit {done.returncode}):\n{tail}")
        files = sorted(p.name for p in partial.iterdir() if p.suffix == ".whl")
        others = sorted(p.name for p in partial.iterdir() if p.suffix != ".whl")
        if others:
            raise WheelhouseError(f"pip left files that are not wheels: {', '.join(others)}")
        manifest = {
            "key": key(pyproject, extras),
            "python": python_tag(),
            "platform": platform_tag(),
            "extras": list(extras),
            "requirements": reqs,
            "files": files,
            "bytes": _size(partial, files),
            "built_seconds": round(time.monotonic() - started, 1),
            "built_at": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        partial.rename(dest)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    manifest["reused"] = False
    return manifest


def summary(dest: Path, manifest: dict) -> str:
    how = "up to date, reused" if manifest.get("reused") else f"built in {manifest['built_seconds']:.0f} s"
    return (f"{dest}: {len(manifest['files'])} wheels, {manifest['bytes'] / 1e6:.0f} MB, for "
            f"{manifest['python']} on {manifest['platform']} ({how})")


def install_command(dest: Path | str = "build/wheelhouse", extras: Sequence[str] = EXTRAS) -> str:
    target = f"'.[{','.join(extras)}]'" if extras else "."
    return f".venv/bin/pip install --no-index --find-links {dest} -e {target}"


def main(argv: Optional[list[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0
    force = "--force" in args
    rest = [a for a in args if a != "--force"]
    if len(rest) > 1 or any(a.startswith("-") for a in rest):
        print(f"wheelhouse: expected at most one folder and --force, got {' '.join(args)}", file=sys.stderr)
        return 2
    dest = Path(rest[0]) if rest else DEFAULT_DEST
    try:
        manifest = build(dest, force=force, log=lambda line: print(line, flush=True))
    except (WheelhouseError, ValueError, OSError) as err:
        print(f"wheelhouse: {err}", file=sys.stderr)
        return 1
    print(summary(dest, manifest))
    print("on each class machine, in a copy of the course folder, with no network: make install-offline, or")
    print(f"  python3 -m venv .venv && {install_command(dest)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
