"""A class's live labs side by side: several students, each their own Unix user.

On the classroom hub every student's server runs as that student's own system
user (``portlab.classroom.ClassroomSpawner``), so a student's live lab is a
rootless lab in a user namespace that student owns.  This test does what such
servers do, without the hub around them: four users (uids that belong to no one
on this machine, as a hub's students would be ordinary users) bring up their labs
at the same moment, all from scenarios with the *same* addresses, and each scans
10.77.0.2.  Every student must reach their own lab and nothing else:

* each scan sees only that student's own open port;
* one student cannot find, enter, stop or scan another student's lab: not through
  the other's state directory (mode 0700), not by joining the other's user
  namespace (the kernel refuses), not by killing the other's lab process;
* after ``lab down`` nothing of any lab is left.

Every packet stays inside the students' own network namespaces.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from portlab.lab import userns
from test_lab_rootless import _learner_python, gone, live, nobody_processes_in

FIRST_UID = 61001
STUDENTS = 4
SCENARIO = """name = "student-{n}"
description = "the same network for every student; only the open port differs"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "server"
address = "10.77.0.2"
tcp = [22, {port}]
"""


class Student:
    """One student: their own uid, home and (default) state directory."""

    def __init__(self, n: int, workdir: Path, python: str, root: Path, tests: Path):
        self.n, self.uid = n, FIRST_UID + n
        self.port = 8000 + n
        self.python, self.root, self.tests = python, root, tests
        self.home = workdir / f"student{n}"
        self.home.mkdir(mode=0o700)
        (self.home / "mine.toml").write_text(SCENARIO.format(n=n, port=self.port))
        for path in (self.home, self.home / "mine.toml"):
            os.chown(path, self.uid, self.uid)
        self.prefix = f"plst{n}"
        # The default a hub's student gets (no XDG_RUNTIME_DIR there): /tmp/portlab-UID/labs.
        self.labs = Path(f"/tmp/portlab-{self.uid}") / "labs"

    def env(self, **extra: str) -> dict:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
        return {**keep, "HOME": str(self.home), "PYTHONPATH": f"{self.root}{os.pathsep}{self.tests}",
                "PORTLAB_DATA": str(self.root / "data"), "PORTLAB_PROGRESS": "off", **extra}

    def run(self, *argv: str, env: dict | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups", *argv],
                              capture_output=True, text=True, env=env or self.env(), cwd=self.home, timeout=timeout)

    def portlab(self, *args: str, **kw) -> subprocess.CompletedProcess:
        return self.run(self.python, "-m", "portlab", *args, **kw)

    def holder(self) -> dict:
        return json.loads((self.labs / f"{self.prefix}.json").read_text())["rootless"]


@pytest.fixture(scope="module")
def students():
    workdir = Path(tempfile.mkdtemp(prefix="portlab-students-"))
    workdir.chmod(0o755)
    python, root, tests = _learner_python(workdir)
    class_ = [Student(n, workdir, python, root, tests) for n in range(1, STUDENTS + 1)]
    try:
        yield class_
    finally:
        for student in class_:
            student.portlab("lab", "down", "--prefix", student.prefix)
            shutil.rmtree(student.labs.parent, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)


@live
def test_each_students_lab_is_their_own(students):
    # All at once, as a class does when the teacher says "go".
    ups: dict[int, subprocess.CompletedProcess] = {}

    def up(student):
        ups[student.n] = student.portlab("lab", "up", str(student.home / "mine.toml"), "--prefix", student.prefix)

    threads = [threading.Thread(target=up, args=(s,)) for s in students]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for student in students:
        assert ups[student.n].returncode == 0, ups[student.n].stderr
    holders = {s.n: s.holder() for s in students}
    try:
        assert len({h["pid"] for h in holders.values()}) == STUDENTS
        for student in students:
            pid = holders[student.n]["pid"]
            assert Path(f"/proc/{pid}").stat().st_uid == student.uid
            assert (student.labs.parent.stat().st_mode & 0o077) == 0      # no one else may look in
        user_namespaces = {os.stat(f"/proc/{h['pid']}/ns/user").st_ino for h in holders.values()}
        assert len(user_namespaces) == STUDENTS

        # Same address, four labs: each student's scan reaches their own server only.
        every = ",".join(str(8000 + n) for n in range(1, STUDENTS + 1))
        for student in students:
            done = student.portlab("scan", "10.77.0.2", "-p", f"22,{every}", "--format", "json")
            assert done.returncode == 0, done.stderr
            states = {p["port"]: p["state"] for p in json.loads(done.stdout)["hosts"][0]["ports"]}
            assert [port for port, state in states.items() if state == "open"] == [22, student.port]

        first, second = students[0], students[1]
        theirs = holders[second.n]
        # 1. Another student's state directory is closed to them: their labs are not in scope.
        peek_env = first.env(PORTLAB_STATE_DIR=str(second.labs))
        peek = first.portlab("lab", "status", env=peek_env)
        assert peek.stdout.strip() == "no lab is running", peek.stdout
        scan = first.portlab("scan", "10.77.0.2", "-p", str(second.port), env=peek_env)
        assert scan.returncode == 3 and "outside the default scope" in scan.stderr, scan.stderr
        # 2. Their own `down` of the other's prefix finds nothing to take down.
        down = first.portlab("lab", "down", "--prefix", second.prefix)
        assert down.stdout.strip() == f"no lab {second.prefix} of yours is running: nothing to take down"
        assert userns.holder_alive(theirs)
        # 3. Joining the other's user namespace (to reach their lab's namespaces): the kernel refuses.
        join = first.run(first.python, "-m", "portlab.lab.userns", "exec", json.dumps(theirs), str(second.labs),
                         "--", "ip", "netns", "list")
        assert join.returncode == 4 and "not reachable (Permission denied)" in join.stderr, join.stderr
        nsenter = first.run("nsenter", f"--user=/proc/{theirs['pid']}/ns/user",
                            f"--net=/proc/{theirs['pid']}/ns/net", "ip", "link")
        assert nsenter.returncode != 0 and ("Operation not permitted" in nsenter.stderr
                                            or "Permission denied" in nsenter.stderr), nsenter.stderr
        # 4. Nor can they stop the other's lab process.
        kill = first.run("kill", "-KILL", str(theirs["pid"]))
        assert kill.returncode != 0 and "Operation not permitted" in kill.stderr
        assert userns.holder_alive(theirs)
        # ...and the other student's lab still answers them as before.
        again = second.portlab("scan", "10.77.0.2", "-p", str(second.port))
        assert again.returncode == 0 and f"{second.port}/tcp open" in again.stdout, again.stdout
    finally:
        downs = {s.n: s.portlab("lab", "down", "--prefix", s.prefix) for s in students}
    for student in students:
        assert downs[student.n].returncode == 0, downs[student.n].stderr
        assert gone(holders[student.n]["pid"])
        assert not (student.labs / f"{student.prefix}.json").exists()
    for inode in user_namespaces:
        assert nobody_processes_in(inode) == []     # every namespace of every lab is freed
