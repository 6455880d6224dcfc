"""The course for a class on one JupyterHub: each student's copy, its reset, their limits.

JupyterHub gives every student a Jupyter server of their own; this module is the part
that knows about the course.  ``classroom/jupyterhub_config.py`` uses it:

* :func:`install_course` copies the course's notebooks into a student's home the
  first time their server starts, and on every later start copies only what is
  missing, so a notebook the student has worked on is never overwritten.
* :func:`reset_notebook` is the way back: it moves the student's copy aside (kept,
  not deleted) and puts the original in its place.  Students run it from a
  terminal (``python -m portlab.classroom reset 02-scanning-and-ethics.ipynb``) or a
  cell; a teacher runs the same command with ``--home /home/alice``.
* :class:`ClassroomSpawner` starts each server as the student's own system user
  (JupyterHub's ``LocalProcessSpawner``), inside a control group that caps its
  memory and CPU, and after it stops removes the group and anything still in it.
  :class:`SameUserClassroomSpawner` is the variant for tests on a machine whose
  Python only root can read: every server runs as the hub's user, but with every
  capability dropped and a home of its own.

Nothing here imports JupyterHub at module level, so ``reset`` works in any
student's kernel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Optional

COURSE_DIR_NAME = "portlab-course"
NOTEBOOK_SOURCE = Path(__file__).resolve().parents[1] / "notebooks"
BEFORE_RESET = "before-reset"


def course_source() -> Path:
    """Where the original notebooks are (``PORTLAB_COURSE_SOURCE`` overrides the checkout's)."""
    return Path(os.environ.get("PORTLAB_COURSE_SOURCE") or NOTEBOOK_SOURCE)


def course_notebooks(source: Optional[Path] = None) -> list[Path]:
    """The numbered notebooks a student gets, in course order."""
    return sorted((source or course_source()).glob("[0-9][0-9]-*.ipynb"))


def course_dir(home: Optional[Path] = None) -> Path:
    """A student's copy of the course (``PORTLAB_COURSE_DIR`` names it inside a server)."""
    if home is None and os.environ.get("PORTLAB_COURSE_DIR"):
        return Path(os.environ["PORTLAB_COURSE_DIR"])
    return Path(home or Path.home()) / COURSE_DIR_NAME


def _chown(path: Path, uid: Optional[int], gid: Optional[int]) -> None:
    if uid is not None:
        os.chown(path, uid, gid if gid is not None else -1)


def install_course(home: Path, source: Optional[Path] = None,
                   uid: Optional[int] = None, gid: Optional[int] = None) -> list[str]:
    """Copy the notebooks a student does not have yet into ``home/portlab-course``.

    Returns the names copied: all of them on the first login, none on later ones
    unless the course gained a notebook.  A file already there is the student's
    work and is left alone, whatever it contains.  *uid*/*gid* give the copies to
    the student when a root hub does the copying.
    """
    target = course_dir(Path(home))
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    if created:
        _chown(target, uid, gid)
    copied = []
    for original in course_notebooks(source):
        mine = target / original.name
        if mine.exists():
            continue
        shutil.copyfile(original, mine)
        _chown(mine, uid, gid)
        copied.append(original.name)
    return copied


def reset_notebook(name: str, home: Optional[Path] = None, source: Optional[Path] = None) -> Optional[Path]:
    """Put the original of notebook *name* back; returns where the student's copy went.

    The student's copy is moved to ``portlab-course/before-reset/NAME-YYYYmmdd-HHMMSS.ipynb``
    (nothing is deleted: a reset by mistake is undone by moving it back).  Returns
    None when the student had no copy.  The new copy belongs to whoever owns the
    course folder, so a teacher's reset as root gives it to the student.
    """
    originals = {p.name: p for p in course_notebooks(source)}
    key = name if name.endswith(".ipynb") else name + ".ipynb"
    if key not in originals:
        matches = [n for n in originals if n.startswith(name)]
        if len(matches) != 1:
            raise ValueError(f"no course notebook {name!r}; the course has: {', '.join(originals)}")
        key = matches[0]
    target = course_dir(home)
    target.mkdir(parents=True, exist_ok=True)
    owner = target.stat()
    mine = target / key
    moved = None
    if mine.exists():
        aside = target / BEFORE_RESET
        aside.mkdir(exist_ok=True)
        _chown(aside, owner.st_uid, owner.st_gid)
        moved = aside / f"{mine.stem}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
        n = 1
        while moved.exists():  # two resets in one second keep both copies
            n += 1
            moved = aside / f"{mine.stem}-{time.strftime('%Y%m%d-%H%M%S')}-{n}.ipynb"
        mine.rename(moved)
    shutil.copyfile(originals[key], mine)
    _chown(mine, owner.st_uid, owner.st_gid)
    return moved


# --- resource limits: one control group per student ---------------------------------

CGROUP_FS = Path("/sys/fs/cgroup")


class StudentCgroup:
    """The control group(s) that cap one student's memory and CPU.

    cgroup v2 (one tree: ``memory.max``, ``cpu.max``) or v1 (``memory`` and ``cpu``
    trees).  Everything the student's server starts (kernels, terminals) is in the
    group, so the cap is on the student, not on each process, and the group also
    lists what to stop when the server stops.
    """

    def __init__(self, parent: str, name: str, fs: Path = CGROUP_FS):
        self.fs = fs
        self.parent = parent
        self.name = name
        if (fs / "cgroup.controllers").exists():
            self.dirs = {"memory": fs / parent / name, "cpu": fs / parent / name}
        else:
            self.dirs = {c: fs / c / parent / name for c in ("memory", "cpu") if (fs / c).is_dir()}

    @property
    def v2(self) -> bool:
        return (self.fs / "cgroup.controllers").exists()

    def create(self, mem_bytes: int, cpu_cores: float) -> bool:
        """Make the group and set its limits (0 = none); False where cgroups cannot be written."""
        try:
            if self.v2:
                top = self.fs / self.parent
                top.mkdir(exist_ok=True)
                # a v2 child only gets memory/cpu files once its parent hands the controllers down
                (top / "cgroup.subtree_control").write_text("+memory +cpu")
            for d in set(self.dirs.values()):
                d.mkdir(parents=True, exist_ok=True)
            if mem_bytes:
                if self.v2:
                    (self.dirs["memory"] / "memory.max").write_text(str(mem_bytes))
                    (self.dirs["memory"] / "memory.swap.max").write_text("0") if (
                        self.dirs["memory"] / "memory.swap.max").exists() else None
                elif "memory" in self.dirs:
                    (self.dirs["memory"] / "memory.limit_in_bytes").write_text(str(mem_bytes))
            if cpu_cores:
                period = 100_000
                quota = int(cpu_cores * period)
                if self.v2:
                    (self.dirs["cpu"] / "cpu.max").write_text(f"{quota} {period}")
                elif "cpu" in self.dirs:
                    (self.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(period))
                    (self.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
            return bool(self.dirs)
        except OSError:
            self.remove()
            return False

    def join(self, pid: int = 0) -> None:
        """Put *pid* (0: the calling process) in every one of the student's groups."""
        for d in set(self.dirs.values()):
            (d / "cgroup.procs").write_text(str(pid or os.getpid()))

    def pids(self) -> set[int]:
        found = set()
        for d in set(self.dirs.values()):
            try:
                found |= {int(p) for p in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return found

    def limits(self) -> dict:
        """What the kernel enforces, read back: {'memory': bytes or None, 'cpu': cores or None}."""
        out: dict = {"memory": None, "cpu": None}
        try:
            if self.v2:
                mem = (self.dirs["memory"] / "memory.max").read_text().strip()
                out["memory"] = None if mem == "max" else int(mem)
                quota, period = (self.dirs["cpu"] / "cpu.max").read_text().split()
                out["cpu"] = None if quota == "max" else int(quota) / int(period)
            else:
                if "memory" in self.dirs:
                    out["memory"] = int((self.dirs["memory"] / "memory.limit_in_bytes").read_text())
                if "cpu" in self.dirs:
                    quota = int((self.dirs["cpu"] / "cpu.cfs_quota_us").read_text())
                    period = int((self.dirs["cpu"] / "cpu.cfs_period_us").read_text())
                    out["cpu"] = None if quota < 0 else quota / period
        except (OSError, ValueError, KeyError):
            pass
        return out

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL whatever is left in the group (a kernel the server did not stop)."""
        deadline = time.monotonic() + timeout
        while (left := self.pids()) and time.monotonic() < deadline:
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)

    def remove(self) -> None:
        """Remove the student's groups, and the class's parent groups once they are empty."""
        for d in set(self.dirs.values()):
            for path in (d, d.parent):
                try:
                    path.rmdir()
                except OSError:
                    pass  # not empty (another student), or already gone

    def exists(self) -> bool:
        return any(d.exists() for d in self.dirs.values())


# --- the spawners -----------------------------------------------------------------------

def _spawner_classes():
    """Built on first use, so that importing this module needs no JupyterHub."""
    from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
    from traitlets import Unicode
    from traitlets.config import LoggingConfigurable

    class ClassroomMixin(LoggingConfigurable):
        cgroup_parent = Unicode(
            "portlab-classroom", config=True,
            help="Name of the control group that holds one group per student (under each controller).")
        course_source = Unicode("", config=True, help="Folder of the original notebooks (default: the checkout's).")

        def _student_owner(self):
            return None, None  # same user as the hub

        def _home(self) -> Path:
            raise NotImplementedError

        def _cgroup(self) -> StudentCgroup:
            return StudentCgroup(self.cgroup_parent, f"student-{self.user.name}")

        def get_env(self):
            env = super().get_env()
            home = self._home()
            env["PORTLAB_COURSE_DIR"] = str(course_dir(home))
            env["PORTLAB_COURSE_SOURCE"] = str(self.course_source or course_source())
            # each student's answers in their own home, never a shared file
            env["PORTLAB_PROGRESS"] = str(home / ".local" / "share" / "portlab" / "progress.json")
            return env

        def make_preexec_fn(self, name):
            become_student = super().make_preexec_fn(name)
            cgroup = self._cgroup() if self._limited else None

            def preexec():
                # join the group before exec, while still root: every process the
                # server starts afterwards is born inside the student's limits
                if cgroup is not None:
                    cgroup.join()
                if become_student:
                    become_student()
            return preexec

        async def start(self):
            home = self._home()
            uid, gid = self._student_owner()
            if not home.exists():
                home.mkdir(parents=True, mode=0o700)
                if uid is not None:
                    os.chown(home, uid, gid)
            copied = install_course(home, Path(self.course_source) if self.course_source else None, uid, gid)
            self.log.info("portlab: %s's course at %s (%d notebooks copied)",
                          self.user.name, course_dir(home), len(copied))
            self._limited = False
            if os.geteuid() == 0:
                self._limited = self._cgroup().create(int(self.mem_limit or 0), float(self.cpu_limit or 0))
                if not self._limited:
                    self.log.warning("portlab: no control group for %s: limits not enforced", self.user.name)
            return await super().start()

        def _clear_cgroup(self):
            cgroup = self._cgroup()
            if cgroup.exists():
                cgroup.kill_all()
                cgroup.remove()

        async def stop(self, now=False):
            await super().stop(now=now)
            self._clear_cgroup()

        async def poll(self):
            # a server that died by itself (a crash, a failed start) is not stopped by the hub:
            # its leftovers (a kernel, a lab) and its group go here
            status = await super().poll()
            if status is not None and os.geteuid() == 0:
                self._clear_cgroup()
            return status

    class ClassroomSpawner(ClassroomMixin, LocalProcessSpawner):
        """Each student's server as their own system user, limited by a control group."""

        _limited = False

        def _clear_cgroup(self):
            super()._clear_cgroup()
            # A lab the privileged helper built for this student (portlab.lab.helper)
            # lives outside their control group: its namespaces go when their server does.
            uid, _ = self._student_owner()
            if os.geteuid() == 0 and uid:
                from .lab.helper import teardown_student_lab
                try:
                    teardown_student_lab(uid)
                except Exception as err:        # the server is stopped either way; say why the lab stayed
                    self.log.warning("portlab: %s's helper lab not taken down: %s", self.user.name, err)

        def _home(self) -> Path:
            import pwd
            return Path(pwd.getpwnam(self.user.name).pw_dir)

        def _student_owner(self):
            import pwd
            entry = pwd.getpwnam(self.user.name)
            return entry.pw_uid, entry.pw_gid

    class SameUserClassroomSpawner(ClassroomMixin, SimpleLocalProcessSpawner):
        """For tests only: every server as the hub's user, with no capabilities, a home each."""

        _limited = False

        def _home(self) -> Path:
            return Path(self.home_dir)

        def get_env(self):
            env = super().get_env()
            env["HOME"] = str(self._home())
            return env

    return ClassroomSpawner, SameUserClassroomSpawner


def __getattr__(name):
    if name in ("ClassroomSpawner", "SameUserClassroomSpawner"):
        classes = dict(zip(("ClassroomSpawner", "SameUserClassroomSpawner"), _spawner_classes()))
        globals().update(classes)
        return classes[name]
    raise AttributeError(name)


# --- command line -----------------------------------------------------------------------

def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portlab.classroom",
                                     description="A student's copy of the portlab course.")
    sub = parser.add_subparsers(dest="command", required=True)
    reset = sub.add_parser("reset", help="put a notebook's original back (your copy is kept in before-reset/)")
    reset.add_argument("notebook", help="e.g. 02-scanning-and-ethics.ipynb, or just 02")
    reset.add_argument("--home", type=Path, help="the student's home (a teacher's reset); default: yours")
    install = sub.add_parser("install", help="copy the notebooks you do not have yet into HOME/portlab-course")
    install.add_argument("--home", type=Path, default=Path.home())
    args = parser.parse_args(argv)
    try:
        if args.command == "reset":
            moved = reset_notebook(args.notebook, args.home)
            where = course_dir(args.home)
            print(f"reset: the original is back in {where}" + (f"; your copy is in {moved}" if moved else ""))
        else:
            copied = install_course(args.home)
            print(f"{len(copied)} notebooks copied into {course_dir(args.home)}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
