"""Run a command the way a learner without sudo would: no capabilities at all.

Where the interpreter and the checkout are readable by everyone, the command runs
as user nobody.  A clone under a 0700 directory (root's home on Debian, where a
newcomer clones) or an interpreter installed there cannot be read by nobody, so
there it runs as the same user with every capability dropped, which is what
decides what portlab may do (it checks capabilities, not the user id).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


def _others_can_reach(path: Path) -> bool:
    """Every directory on the way is o+x and the path itself o+r (or o+x for a directory)."""
    path = path.resolve()
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    mode = path.stat().st_mode
    return bool(mode & (stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH))


def nobody_can_run_us() -> bool:
    return _others_can_reach(Path(sys.executable)) and _others_can_reach(ROOT / "portlab" / "__init__.py")


def learner_argv(argv: list[str]) -> list[str]:
    """*argv* prefixed so that it runs without privilege (see the module's docstring)."""
    drop = ["--inh-caps=-all", "--bounding-set=-all", "--ambient-caps=-all"]
    if os.geteuid() == 0 and nobody_can_run_us():
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *drop, *argv]
    return ["setpriv", *drop, *argv]


def _same_minor(python: str) -> bool:
    import subprocess
    try:
        out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out == str(tuple(sys.version_info[:2]))


def environment_for_everyone(workdir: Path) -> tuple[str, Path]:
    """(a Python every user can run that imports what this one imports, the source root
    it takes portlab, its data and the notebooks from).

    Here when this interpreter and the checkout are readable by all.  Under a 0700
    directory (root's home, this project's CI) they are not, so a venv is made in
    *workdir* from a system Python of the same version, with this environment's
    site-packages and the checkout linked in (hard links: no copy of the data, and the
    files keep their world-readable modes).  Editable-install hooks, which point back
    into the checkout, are left out; a .pth puts the linked checkout first.  Compiled
    bytecode (``__pycache__``) is linked too: the users cannot write it, and without it
    every server and kernel would compile each module it imports, every time.
    """
    import shutil
    import site
    import subprocess

    if nobody_can_run_us():
        return sys.executable, ROOT
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    bases = [os.path.realpath(getattr(sys, "_base_executable", sys.executable)),
             f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    base = next((b for b in bases if os.path.exists(b) and _others_can_reach(Path(b)) and _same_minor(b)), None)
    if base is None:
        raise FileNotFoundError(f"no Python {version} that every user can run")
    workdir.chmod(0o755)
    venv = workdir / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, capture_output=True, timeout=120)
    target = next(venv.glob("lib/python*/site-packages"))

    def link_or_copy(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:              # another file system (EXDEV), or links not allowed: copy
            shutil.copy2(src, dst)

    def link(src: Path, dst: Path) -> None:
        shutil.copytree(src, dst, copy_function=link_or_copy, dirs_exist_ok=True, symlinks=True,
                        ignore=shutil.ignore_patterns("__editable__*", ".ipynb_checkpoints"))

    for packages in site.getsitepackages():
        if os.path.isdir(packages):
            link(Path(packages), target)
    for data in ("share", "etc"):      # JupyterLab's assets, server extensions' settings
        if (Path(sys.prefix) / data).is_dir():
            link(Path(sys.prefix) / data, venv / data)
    source = workdir / "src"
    for name in ("portlab", "data", "notebooks", "tests"):
        link(ROOT / name, source / name)
    (target / "zz-portlab-source.pth").write_text(f"{source}\n")
    for path in (workdir, venv, source):
        path.chmod(0o755)
    for path in venv.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
    return str(venv / "bin" / "python"), source
