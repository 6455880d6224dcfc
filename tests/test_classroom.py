"""The course on JupyterHub for a class (classroom/jupyterhub_config.py, portlab/classroom.py).

The first tests check the pieces: a student's copy of the course (fresh on the first
login, untouched on the next), the reset that keeps the student's work aside, the
control group that caps a student, and the configuration with each authenticator.

``test_class_of_thirty`` (marker ``hub``) runs the real thing on loopback: a hub from
the repository's configuration file, thirty students created through its REST API,
thirty servers spawned, every student running notebook 02 in their own kernel at the
same time (cells sent over the kernel's websocket through the proxy, as JupyterLab
sends them), and then checks that one student cannot reach another's server, that a
restart keeps a student's work, that reset works from a student's kernel, and that
stopping the hub leaves no process, port or control group behind.  Figures (spawn
time, memory per student, notebook run times) go to build/test-output/classroom.json.

The students are real system users (useradd, removed afterwards), each server running
as its student, as on a class's server.  Where this interpreter sits in root's 0700
home (this project's CI), students could not read it, so the servers run a Python made
for everyone from the same packages (``unprivileged.environment_for_everyone``: hard
links, no copy).  Three students then bring up a live lab of their own at the same
time from their kernels (rootless: user namespaces they own), scan it, and find a
classmate's lab out of reach; stopping the hub takes every lab down.  Only where
system users cannot be made (no useradd) does every server run as root with every
capability dropped (``SameUserClassroomSpawner``), and the live part is skipped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from portlab import classroom
from portlab.classroom import StudentCgroup, course_notebooks, install_course, reset_notebook

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "classroom" / "jupyterhub_config.py"
BIN = Path(sys.executable).parent
STUDENTS = int(os.environ.get("PORTLAB_HUB_STUDENTS", "30"))
SPAWNING_AT_ONCE = 10   # how many servers start together: a class logs in over a few minutes, not in one second
SPAWN_TIMEOUT = 600
NOTEBOOK = "02-scanning-and-ethics.ipynb"
OUTPUT = ROOT / "build" / "test-output" / "classroom.json"

sys.path.insert(0, str(Path(__file__).parent))
from unprivileged import environment_for_everyone  # noqa: E402
from test_lab_students import SCENARIO as LAB_SCENARIO  # noqa: E402  (the same network for every student)


# --- a student's copy of the course -----------------------------------------------------

def test_first_login_copies_the_course_and_the_next_keeps_the_students_work(tmp_path):
    home = tmp_path / "alice"
    copied = install_course(home)
    names = [p.name for p in course_notebooks()]
    assert copied == names and NOTEBOOK in names
    mine = home / "portlab-course" / NOTEBOOK
    mine.write_text("alice's own work")
    (home / "portlab-course" / "00-start-here.ipynb").unlink()  # lost one comes back
    assert install_course(home) == ["00-start-here.ipynb"]
    assert mine.read_text() == "alice's own work"


def test_reset_puts_the_original_back_and_keeps_the_students_copy(tmp_path):
    install_course(tmp_path)
    mine = tmp_path / "portlab-course" / NOTEBOOK
    mine.write_text("first try")
    moved = reset_notebook("02", home=tmp_path)
    assert mine.read_bytes() == (classroom.course_source() / NOTEBOOK).read_bytes()
    assert moved.parent.name == "before-reset" and moved.read_text() == "first try"
    mine.write_text("second try")
    again = reset_notebook(NOTEBOOK, home=tmp_path)
    assert again != moved and again.read_text() == "second try" and moved.exists()
    with pytest.raises(ValueError, match="no course notebook"):
        reset_notebook("99-nothing", home=tmp_path)


def test_reset_from_the_command_line(tmp_path):
    install_course(tmp_path)
    (tmp_path / "portlab-course" / NOTEBOOK).write_text("mine")
    out = subprocess.run([sys.executable, "-m", "portlab.classroom", "reset", "02", "--home", str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    assert "the original is back" in out and "before-reset" in out
    bad = subprocess.run([sys.executable, "-m", "portlab.classroom", "reset", "nope", "--home", str(tmp_path)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "no course notebook" in bad.stderr and "Traceback" not in bad.stderr


def _cgroups_writable() -> bool:
    return os.geteuid() == 0 and StudentCgroup("portlab-probe", "x").dirs != {}


@pytest.mark.skipif(not _cgroups_writable(), reason="needs root and a cgroup filesystem")
def test_a_students_control_group_caps_memory_and_cpu_and_goes_away(tmp_path):
    group = StudentCgroup(f"portlab-test-{uuid.uuid4().hex[:8]}", "student-alice")
    if not group.create(512 * 2**20, 0.5):
        pytest.skip("control groups cannot be written here")
    try:
        assert group.limits() == {"memory": 512 * 2**20, "cpu": 0.5}
        child = subprocess.Popen(["sleep", "60"], preexec_fn=group.join)
        assert child.pid in group.pids()
        group.kill_all()
        assert child.wait(5) == -signal.SIGKILL and not group.pids()
    finally:
        group.remove()
    assert not group.exists() and not any(d.parent.exists() for d in group.dirs.values())


# --- the configuration file ---------------------------------------------------------------

def _load_config(tmp_path, **settings):
    pytest.importorskip("jupyterhub")  # the classroom extra (pip install -e '.[classroom]')
    from traitlets.config.loader import PyFileConfigLoader
    env = {"PORTLAB_HUB_STATE": str(tmp_path / "state"), **settings}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        return PyFileConfigLoader(CONFIG.name, str(CONFIG.parent)).load_config()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def test_config_for_a_class_shared_password_and_roster(tmp_path):
    roster = tmp_path / "roster.txt"
    roster.write_text("alice\nbob  # second row\n\n")
    cfg = _load_config(tmp_path, PORTLAB_CLASS_ROSTER=str(roster))
    assert cfg.JupyterHub.authenticator_class == "shared-password"
    assert cfg.Authenticator.allowed_users == {"alice", "bob", "teacher"}
    assert cfg.Authenticator.admin_users == {"teacher"}
    assert len(cfg.SharedPasswordAuthenticator.admin_password) >= 32
    assert cfg.JupyterHub.spawner_class == "portlab.classroom.ClassroomSpawner"
    # the passwords are made once and kept: a restart does not change them
    again = _load_config(tmp_path, PORTLAB_CLASS_ROSTER=str(roster))
    assert again.SharedPasswordAuthenticator.user_password == cfg.SharedPasswordAuthenticator.user_password
    assert (tmp_path / "state").stat().st_mode & 0o077 == 0
    from jupyterhub.auth import Authenticator
    from jupyterhub.spawner import Spawner
    from traitlets import import_item
    assert issubclass(import_item(cfg.JupyterHub.spawner_class), Spawner)
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
    assert issubclass(SharedPasswordAuthenticator, Authenticator)


def test_config_refuses_the_test_only_settings_outside_tests(tmp_path):
    with pytest.raises(ValueError, match="dummy only in tests"):
        _load_config(tmp_path, PORTLAB_HUB_AUTH="dummy")
    with pytest.raises(ValueError, match="same-user only in tests"):
        _load_config(tmp_path, PORTLAB_HUB_SPAWNER="same-user")
    native = _load_config(tmp_path, PORTLAB_HUB_AUTH="native")
    assert native.JupyterHub.authenticator_class == "native"


# --- the hub, for real ---------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _marked_processes(test_id: str):
    """Every process whose environment carries this test's mark (hub, proxy, servers, kernels)."""
    import psutil
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("PORTLAB_HUB_TEST_ID") == test_id:
                found.append(proc)
        except (psutil.Error, OSError):
            pass
    return found


class Hub:
    """One JupyterHub from the repository's configuration, on 127.0.0.1, and an API client."""

    def __init__(self, workdir: Path, system_users: bool, server_python: str | None = None,
                 source: Path | None = None):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(32)
        self.test_id = uuid.uuid4().hex[:12]
        self.cgroup = f"portlab-test-{self.test_id}"
        self.state = workdir / "state"
        # short: a kernel's Unix sockets live under HOME/.local/share/jupyter/runtime, and a
        # socket's path may not exceed 107 bytes (pytest's tmp_path is too deep for that)
        self.homes = Path(tempfile.mkdtemp(prefix="plh"))
        self.log_path = workdir / "hub.log"
        self.env = {
            **os.environ,
            "PORTLAB_HUB_TESTING": "1", "PORTLAB_HUB_TEST_ID": self.test_id,
            "PORTLAB_HUB_URL": self.url, "PORTLAB_HUB_STATE": str(self.state),
            "PORTLAB_HUB_HOMES": str(self.homes), "PORTLAB_HUB_CGROUP": self.cgroup,
            "PORTLAB_HUB_AUTH": "dummy",
            "PORTLAB_HUB_SPAWNER": "system-users" if system_users else "same-user",
            "PORTLAB_HUB_SERVICE_TOKEN": self.token,
            "PORTLAB_STUDENT_MEM": "1G", "PORTLAB_STUDENT_CPU": "1",
            # a busy machine (a test suite beside) can take minutes; the test's own deadline is SPAWN_TIMEOUT
            "PORTLAB_HUB_SPAWN_TIMEOUT": str(SPAWN_TIMEOUT),
        }
        if server_python:
            self.env["PORTLAB_HUB_SERVER_PYTHON"] = server_python
            self.env["PORTLAB_COURSE_SOURCE"] = str(source / "notebooks")
        self.proc = None

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([str(BIN / "jupyterhub"), "-f", str(CONFIG)], cwd=self.state.parent,
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the hub stops every server, then the proxy
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc:
            self.log.close()

    def tail(self, n=60) -> str:
        try:
            return "\n".join(self.log_path.read_text().splitlines()[-n:])
        except OSError:
            return ""

    # REST API --------------------------------------------------------------------------
    async def api(self, method, path, body=None, token=None):
        from tornado.httpclient import AsyncHTTPClient, HTTPClientError
        client = AsyncHTTPClient()
        try:
            resp = await client.fetch(
                self.url + path, method=method, raise_error=True, request_timeout=120,
                headers={"Authorization": f"token {token or self.token}"},
                body=None if body is None and method in ("GET", "DELETE") else json.dumps(body or {}),
                allow_nonstandard_methods=True, follow_redirects=False)
        except HTTPClientError as err:
            return err.code, None
        return resp.code, (json.loads(resp.body) if resp.body else None)

    async def wait_up(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("the hub exited:\n" + self.tail())
            try:
                code, _ = await self.api("GET", "/hub/api/")
                if code == 200:
                    return
            except OSError:
                pass
            await asyncio.sleep(0.5)
        raise AssertionError("the hub did not answer:\n" + self.tail())

    async def wait_ready(self, name, timeout=SPAWN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code, user = await self.api("GET", f"/hub/api/users/{name}")
            server = (user or {}).get("servers", {}).get("")
            if server and server.get("ready"):
                return
            await asyncio.sleep(0.5)
        raise AssertionError(f"{name}'s server never became ready:\n" + self.tail())


async def run_notebook(hub: Hub, name: str, path: str, keep_kernel=False, extra_code=(), cells=True):
    """Run every code cell of *path* (in the student's course folder) in a new kernel of
    their server, over its websocket through the proxy.  Returns (seconds, errors, kernel id, outputs)."""
    import nbformat
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    nb = nbformat.read(ROOT / "notebooks" / Path(path).name, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "code" and cells] + list(extra_code)
    code, kernel = await hub.api("POST", f"/user/{name}/api/kernels",
                                 {"name": "python3", "path": f"portlab-course/{Path(path).name}"})
    assert code == 201, (name, code)
    ws_url = hub.url.replace("http", "ws") + f"/user/{name}/api/kernels/{kernel['id']}/channels"
    ws = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {hub.token}"},
                                             connect_timeout=300, request_timeout=300),
                                 max_message_size=64 * 2**20)
    session = uuid.uuid4().hex
    errors, outputs = [], []
    started = time.monotonic()
    try:
        for source in cells:
            msg_id = uuid.uuid4().hex
            await ws.write_message(json.dumps({
                "header": {"msg_id": msg_id, "session": session, "username": name, "version": "5.3",
                           "msg_type": "execute_request",
                           "date": datetime.datetime.now(datetime.timezone.utc).isoformat()},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": source, "silent": False, "store_history": True,
                            "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
            replied = idle = False
            while not (replied and idle):
                raw = await asyncio.wait_for(ws.read_message(), 300)
                assert raw is not None, f"{name}: the kernel's websocket closed"
                if isinstance(raw, bytes):
                    continue  # binary frames carry widget buffers
                msg = json.loads(raw)
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "execute_reply":
                    replied = True
                    if msg["content"]["status"] != "ok":
                        errors.append((source[:60], msg["content"].get("ename"), msg["content"].get("evalue")))
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
                elif kind == "stream":
                    outputs.append(msg["content"]["text"])
            if errors:
                break
    finally:
        ws.close()
    seconds = time.monotonic() - started
    if not keep_kernel:
        await hub.api("DELETE", f"/user/{name}/api/kernels/{kernel['id']}")
    return seconds, errors, kernel["id"], "".join(outputs)


async def admin_page(hub: Hub, name: str) -> int:
    """Log in through the hub's login form as *name* (the test's dummy authenticator
    takes any password), then open the admin page as a browser would: its status code."""
    from http.cookies import SimpleCookie
    from urllib.parse import urlencode
    from tornado.httpclient import AsyncHTTPClient, HTTPClientError

    client, jar = AsyncHTTPClient(), SimpleCookie()

    async def fetch(path, **kw):
        headers = {"Cookie": "; ".join(f"{k}={v.value}" for k, v in jar.items())}
        try:
            resp = await client.fetch(hub.url + path, headers=headers, follow_redirects=False, **kw)
        except HTTPClientError as err:
            resp = err.response
            if resp is None:
                raise
        for value in resp.headers.get_list("Set-Cookie"):
            jar.load(value)
        return resp

    await fetch("/hub/login")
    body = urlencode({"username": name, "password": "any", "_xsrf": jar["_xsrf"].value})
    login = await fetch("/hub/login", method="POST", body=body)
    assert login.code == 302, login.code
    return (await fetch("/hub/admin")).code


def _memory_per_student(test_id: str, names) -> dict:
    """RSS and PSS (MiB) of each student's server plus its kernels."""
    per = {n: {"rss": 0.0, "pss": 0.0, "processes": 0} for n in names}
    for proc in _marked_processes(test_id):
        try:
            user = proc.environ().get("JUPYTERHUB_USER")
            if user in per:
                info = proc.memory_full_info()
                per[user]["rss"] += info.rss / 2**20
                per[user]["pss"] += getattr(info, "pss", info.rss) / 2**20
                per[user]["processes"] += 1
        except Exception:
            pass
    return per


def _listening_ports(procs) -> set[int]:
    ports = set()
    for proc in procs:
        try:
            for conn in proc.net_connections(kind="inet"):
                if conn.status == "LISTEN":
                    ports.add(conn.laddr.port)
        except Exception:
            pass
    return ports


def _refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def students():
    """Names for this run; real system users wherever useradd is there (as root)."""
    prefix = "plk" + uuid.uuid4().hex[:5]
    names = [f"{prefix}s{i:02d}" for i in range(1, STUDENTS + 1)]
    system_users = os.geteuid() == 0 and shutil.which("useradd") is not None
    made = []
    try:
        if system_users:
            for n in names:
                subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", n], check=True)
                made.append(n)
        yield names, system_users
    finally:
        import pwd
        for n in made:
            uid = pwd.getpwnam(n).pw_uid
            subprocess.run(["userdel", "--remove", n], capture_output=True)
            shutil.rmtree(f"/tmp/portlab-{uid}", ignore_errors=True)     # a live lab's (empty) state folder
        if made:
            left = [n for n in made if n in {p.pw_name for p in pwd.getpwall()}]
            assert not left, f"system users left behind: {left}"


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the hub starts each student's server as another user: root only")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_class_of_thirty(tmp_path, students):
    pytest.importorskip("jupyterhub")
    names, system_users = students
    server_python = None
    if system_users:
        server_python, source = environment_for_everyone(Path(tempfile.mkdtemp(prefix="plhenv")))
    hub = Hub(tmp_path, system_users, server_python, source if server_python else None)
    figures = {"students": len(names), "mode": "system users" if system_users else
               "same user, no capabilities", "proxy": None}
    hub.start()
    try:
        # In a thread of its own: a session that ran the browser tests first has Playwright's
        # event loop running in this thread, and asyncio.run() refuses to nest.
        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            figures.update(worker.submit(asyncio.run, _class(hub, names)).result())
        before = _marked_processes(hub.test_id)
        ports = _listening_ports(before) | {hub.port}
        figures["proxy"] = next((" ".join(p.cmdline()[:2]) for p in before
                                 if "configurable-http-proxy" in " ".join(p.cmdline())), None)
    finally:
        hub.stop()
        homes_left = hub.homes
        OUTPUT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hub.log_path, OUTPUT.with_name("classroom-hub.log"))  # for a failure's post-mortem
        if server_python and server_python != sys.executable:
            shutil.rmtree(Path(server_python).parents[2], ignore_errors=True)
    # everything is gone after the hub stops: processes, ports, control groups
    time.sleep(1)
    left = [(p.pid, p.name()) for p in _marked_processes(hub.test_id)]
    assert not left, f"processes left after the hub stopped: {left}"
    assert all(_gone(pid, timeout=5) for pid in figures.get("lab_processes", [])), "a lab outlived the hub"
    assert len(ports) > len(names), ports  # proxy, hub, every server (the check below would pass on none)
    assert all(_refused(p) for p in ports), [p for p in ports if not _refused(p)]
    cg = StudentCgroup(hub.cgroup, f"student-{names[0]}")
    assert not cg.exists() and not any(d.parent.exists() for d in cg.dirs.values())
    # the students' work stays (it is theirs); the test's own files go with tmp_path
    homes = [Path(f"/home/{n}") if system_users else hub.homes / n for n in names]
    assert all((h / "portlab-course" / NOTEBOOK).exists() for h in homes)
    shutil.rmtree(homes_left)
    figures["left_after_stop"] = {"processes": 0, "listening_ports": 0, "cgroups": 0}
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures, indent=2))


async def _class(hub: Hub, names) -> dict:
    from tornado.httpclient import AsyncHTTPClient
    AsyncHTTPClient.configure(None, max_clients=2 * len(names) + 8)
    await hub.wait_up()
    figures = {}

    # students created through the REST API, then every server at once
    code, created = await hub.api("POST", "/hub/api/users", {"usernames": names})
    assert code == 201 and sorted(u["name"] for u in created) == sorted(names)
    started = time.monotonic()
    gate = asyncio.Semaphore(SPAWNING_AT_ONCE)

    async def spawn(name):
        async with gate:
            code, _ = await hub.api("POST", f"/hub/api/users/{name}/server")
            assert code in (201, 202), (name, code)
            await hub.wait_ready(name)
    await asyncio.gather(*(spawn(n) for n in names))
    figures["spawn_all_s"] = round(time.monotonic() - started, 1)

    # the limits are on each student, enforced by the kernel
    group = StudentCgroup(hub.cgroup, f"student-{names[0]}")
    if group.exists():
        figures["limits"] = group.limits()
        assert figures["limits"]["memory"] == 2**30 and figures["limits"]["cpu"] == 1.0
        assert group.pids(), "the student's server is not in their control group"

    # one student alone first: the run time without load
    alone, errors, _, _ = await run_notebook(hub, names[0], NOTEBOOK)
    assert not errors, errors
    figures["notebook_alone_s"] = round(alone, 1)

    # then the whole class at once, each in their own kernel
    runs = await asyncio.gather(*(run_notebook(hub, n, NOTEBOOK, keep_kernel=True) for n in names))
    failed = {n: r[1] for n, r in zip(names, runs) if r[1]}
    assert not failed, failed
    times = sorted(r[0] for r in runs)
    figures["notebook_under_load_s"] = {"median": round(statistics.median(times), 1),
                                        "max": round(times[-1], 1), "min": round(times[0], 1)}
    memory = _memory_per_student(hub.test_id, names)
    assert all(m["processes"] >= 2 for m in memory.values()), memory  # a server and its kernel
    rss = [m["rss"] for m in memory.values()]
    pss = [m["pss"] for m in memory.values()]
    figures["memory_per_student_mib"] = {"rss_median": round(statistics.median(rss)),
                                         "rss_max": round(max(rss)),
                                         "pss_median": round(statistics.median(pss)),
                                         "pss_total_all_students": round(sum(pss))}
    # in each kernel the learner has no capabilities, so the LIVE cells skipped
    await asyncio.gather(*(hub.api("DELETE", f"/user/{n}/api/kernels/{r[2]}") for n, r in zip(names, runs)))

    # one student's token opens their own server, not a classmate's
    a, b = names[0], names[1]
    code, tok = await hub.api("POST", f"/hub/api/users/{a}/tokens", {"note": "test", "expires_in": 600})
    assert code == 201
    assert (await hub.api("GET", f"/user/{a}/api/status", token=tok["token"]))[0] == 200
    assert (await hub.api("GET", f"/user/{b}/api/status", token=tok["token"]))[0] in (403, 404)
    assert (await hub.api("GET", f"/hub/api/users/{b}", token=tok["token"]))[0] in (403, 404)

    # the teacher (an admin) sees the whole class and may open a student's server
    code, tok = await hub.api("POST", "/hub/api/users/teacher/tokens", {"note": "test", "expires_in": 600})
    assert code == 201, code
    code, users = await hub.api("GET", "/hub/api/users", token=tok["token"])
    assert code == 200 and {n for n in names} <= {u["name"] for u in users}
    assert all(u["servers"][""]["ready"] for u in users if u["name"] in names)
    assert await admin_page(hub, "teacher") == 200
    assert await admin_page(hub, a) == 403  # a student logged in is refused the teacher's page
    assert (await hub.api("GET", f"/user/{b}/api/status", token=tok["token"]))[0] == 200

    # live labs: a few students each bring up their own at once, from their kernels
    system_users = hub.env["PORTLAB_HUB_SPAWNER"] == "system-users"
    live_ok = system_users and _userns_why_not() is None
    labs = {}
    if live_ok:
        labs = await _live_labs(hub, names[:LIVE_STUDENTS])
        figures["live_labs"] = {"at_once": len(labs), "up_s": sorted(lab["up_s"] for lab in labs.values())}

    # a restart keeps the student's work; reset from their own kernel puts the original back
    home = Path(f"/home/{a}") if system_users else hub.homes / a
    mine = home / "portlab-course" / NOTEBOOK
    original = mine.read_bytes()
    work = json.loads(original)
    work["cells"][0]["source"] = "# my notes\n" + "".join(work["cells"][0]["source"])
    mine.write_text(json.dumps(work))
    edited = mine.read_bytes()
    assert (await hub.api("DELETE", f"/hub/api/users/{a}/server"))[0] in (202, 204)
    for _ in range(120):
        code, user = await hub.api("GET", f"/hub/api/users/{a}")
        if not user["servers"]:
            break
        await asyncio.sleep(0.5)
    if labs:
        # the server stopped: the student's lab went with it (its lab process, its namespaces)
        assert _gone(labs[a]["pid"]), "a student's lab outlived their server"
    assert (await hub.api("POST", f"/hub/api/users/{a}/server"))[0] in (201, 202)
    await hub.wait_ready(a)
    assert mine.read_bytes() == edited
    _, errors, _, out = await run_notebook(
        hub, a, NOTEBOOK, cells=False, extra_code=[
            "from portlab.classroom import reset_notebook\n"
            f"print('moved to', reset_notebook('{NOTEBOOK}'))\n"
            "from portlab.course.machine import machine\nprint('live-lab allowed:', machine().allows('live-lab'))"])
    assert not errors, errors
    assert mine.read_bytes() == original and "before-reset" in out
    assert f"live-lab allowed: {live_ok}" in out
    assert list((home / "portlab-course" / "before-reset").iterdir())[0].read_bytes() == edited
    figures["lab_processes"] = [lab["pid"] for name, lab in labs.items() if name != a]
    return figures


LIVE_STUDENTS = 3
LIVE_CELL = """
import json, time
from portlab import scenario
from portlab.lab.run import Lab
from portlab.scope import state_dir
t0 = time.monotonic()
lab = Lab(scenario.loads({toml!r}, "mine.toml"), {prefix!r}).up()
up_s = time.monotonic() - t0
found = lab.scan("10.77.0.2", "22,8001-8003")
print("LAB " + json.dumps({{"open": found.open_ports(), "pid": lab.rootless["pid"], "holder": lab.rootless,
                           "up_s": round(up_s, 2), "state_dir": str(state_dir())}}))
"""
REACH_CELL = """
import json, os, subprocess, sys
import portlab
from portlab.errors import ScopeRefused
os.environ["PORTLAB_STATE_DIR"] = {state_dir!r}          # a classmate's labs
try:
    portlab.scan("10.77.0.2", "{port}")
    print("REACH scan reached")
except ScopeRefused:
    print("REACH scan refused")
finally:
    del os.environ["PORTLAB_STATE_DIR"]
join = subprocess.run([sys.executable, "-m", "portlab.lab.userns", "exec", {holder!r}, {state_dir!r}, "--",
                       "ip", "netns", "list"], capture_output=True, text=True)
print("REACH join", join.returncode, join.stderr.strip()[-120:])
"""


def _userns_why_not():
    from portlab.lab import userns
    return userns.kernel_why_not()


def _gone(pid: int, timeout: float = 30) -> bool:
    import psutil
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


async def _live_labs(hub: Hub, names) -> dict:
    """Each student brings up a lab of their own (same addresses for all, one open port
    each) at the same moment, scans it, and then the first tries to reach the second's."""
    async def one(i, name):
        code = LIVE_CELL.format(toml=LAB_SCENARIO.format(n=i, port=8000 + i), prefix=f"plhub{i}")
        _, errors, _, out = await run_notebook(hub, name, NOTEBOOK, cells=False, extra_code=[code], keep_kernel=True)
        assert not errors, (name, errors)
        line = next(l for l in out.splitlines() if l.startswith("LAB "))
        return name, json.loads(line[4:])
    labs = dict(await asyncio.gather(*(one(i, n) for i, n in enumerate(names, 1))))
    for i, name in enumerate(names, 1):
        assert labs[name]["open"] == [22, 8000 + i], (name, labs[name])   # their own server, no one else's
    assert len({lab["pid"] for lab in labs.values()}) == len(names)
    first, second = names[0], names[1]
    theirs = labs[second]
    code = REACH_CELL.format(state_dir=theirs["state_dir"], port=8002, holder=json.dumps(theirs["holder"]))
    _, errors, _, out = await run_notebook(hub, first, NOTEBOOK, cells=False, extra_code=[code])
    assert not errors, errors
    assert "REACH scan refused" in out, out
    assert "REACH join 4" in out and "not reachable" in out, out
    assert _gone(theirs["pid"], timeout=0.1) is False      # the classmate's lab still runs
    return labs


# --- a shared machine's loopback: a student's scan leaves the hub and classmates alone ---------

HUB_SCAN_CELL = """
import json, subprocess, sys
done = subprocess.run([sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p-", "--format", "json", "-q"],
                      capture_output=True, text=True, timeout=600)
from portlab.results import ScanResult
result = ScanResult.from_json(done.stdout) if done.returncode == 0 else None
print("HUBSCAN " + json.dumps({"rc": done.returncode, "stderr": done.stderr,
                               "open": result.open_ports() if result else [],
                               "scanned": sum(result.counts().values()) if result else 0}))
"""


@pytest.mark.hub
@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0, reason="the hub starts each student's server as another user: root only")
@pytest.mark.skipif(shutil.which("setpriv") is None or shutil.which("useradd") is None,
                    reason="needs setpriv and useradd: the students must be real users, told apart by uid")
def test_a_students_full_range_loopback_scan_reports_no_port_of_the_hub_or_a_classmate(tmp_path):
    """Two students on the hub; the first scans all of loopback with the command line from
    their kernel.  None of the hub's ports (proxy, hub API) nor the classmate's server is in
    the result, the one line on stderr says they were left out, and the student's own
    server is found open (the scan did run)."""
    pytest.importorskip("jupyterhub")
    import pwd
    prefix = "plk" + uuid.uuid4().hex[:5]
    names = [f"{prefix}s01", f"{prefix}s02"]
    made = []
    server_python = None
    hub = None
    try:
        for n in names:
            subprocess.run(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", n], check=True)
            made.append(n)
        server_python, source = environment_for_everyone(Path(tempfile.mkdtemp(prefix="plhenv")))
        hub = Hub(tmp_path, True, server_python, source)
        hub.start()

        async def scan_from_the_first_student():
            await hub.wait_up()
            code, _ = await hub.api("POST", "/hub/api/users", {"usernames": names})
            assert code == 201, code
            for n in names:
                assert (await hub.api("POST", f"/hub/api/users/{n}/server"))[0] in (201, 202)
            for n in names:
                await hub.wait_ready(n)
            _, errors, _, out = await run_notebook(hub, names[0], NOTEBOOK, cells=False, extra_code=[HUB_SCAN_CELL],
                                                   keep_kernel=True)
            assert not errors, errors
            return json.loads(next(l for l in out.splitlines() if l.startswith("HUBSCAN "))[8:])

        with concurrent.futures.ThreadPoolExecutor(1) as worker:
            scan = worker.submit(asyncio.run, scan_from_the_first_student()).result()
        mine_uid = pwd.getpwnam(names[0]).pw_uid
        everyone = _marked_processes(hub.test_id)
        own = _listening_ports([p for p in everyone if p.uids().real == mine_uid])
        others = (_listening_ports([p for p in everyone if p.uids().real != mine_uid]) | {hub.port}) - own
    finally:
        if hub is not None:
            hub.stop()
        if server_python and server_python != sys.executable:
            shutil.rmtree(Path(server_python).parents[2], ignore_errors=True)
        for n in made:
            uid = pwd.getpwnam(n).pw_uid
            subprocess.run(["userdel", "--remove", n], capture_output=True)
            shutil.rmtree(f"/tmp/portlab-{uid}", ignore_errors=True)
        if hub is not None:
            shutil.rmtree(hub.homes, ignore_errors=True)
    assert scan["rc"] == 0, scan["stderr"]
    assert others, "the hub and the classmate listen somewhere (the check below would pass on none)"
    assert not set(scan["open"]) & others, (scan["open"], others)      # none of theirs reported
    line = scan["stderr"].strip()
    assert len(line.splitlines()) == 1 and "(JupyterHub) and were not scanned" in line, line
    assert all(str(p) in line for p in sorted(others)[:12]), (line, others)
    assert own & set(scan["open"]), (own, scan["open"])                # the student's own server: found
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.with_name("classroom-loopback-scan.json").write_text(json.dumps(
        {"open_reported": scan["open"], "ports_scanned": scan["scanned"], "hub_and_classmate_ports": sorted(others),
         "students_own_ports": sorted(own), "line": line}, indent=2))
