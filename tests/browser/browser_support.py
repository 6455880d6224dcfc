"""Helpers for the browser tests: the servers we start, Chromium, a learner's environment.

What a learner sees: JupyterLab (and Voilà) driven by a real headless Chromium.

One JupyterLab server and one browser for the whole session.  The server's root
is a temporary COPY of ``notebooks/``, so running the course here never writes
outputs into the repository; the learner's progress file lives there too.  The
kernel runs the way a learner's does, without root's capabilities (where the
tests run as root), so LIVE cells print why they skip instead of building labs.

Chromium is Debian's (``/usr/bin/chromium``, apt package ``chromium``), driven by
Python Playwright; nothing is downloaded at run time.  Where it cannot be had,
every test here is skipped with the reason.  The browser may only talk to
loopback: any other request is aborted before it leaves.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "build" / "test-output" / "browser"
CHROMIUM = os.environ.get("PORTLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

sys.path.insert(0, str(ROOT / "tests"))
from unprivileged import learner_argv  # noqa: E402


def chromium_skip_reason() -> Optional[str]:
    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"no Chromium at {CHROMIUM} (Debian/Ubuntu: apt-get install chromium; .ci/run installs it)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python Playwright is not installed (pip install -e '.[test]')"
    return None


def course_notebooks() -> list[Path]:
    """The numbered course notebooks, in course order (new ones are covered as they land)."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]-*.ipynb"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_only(route) -> None:
    """Playwright route handler: requests to loopback go on, anything else is aborted."""
    host = urllib.parse.urlsplit(route.request.url).hostname or ""
    if host in ("127.0.0.1", "localhost", "::1") or host.startswith("127."):
        route.continue_()
    else:
        route.abort()


class Server:
    """A Jupyter server (JupyterLab or Voilà) we started, with its token and URL."""

    def __init__(self, proc: subprocess.Popen, port: int, token: str, root: Path, log: Path, home: Path):
        self.proc, self.port, self.token, self.root, self.log, self.home = proc, port, token, root, log, home
        self.base = f"http://127.0.0.1:{port}"

    def url(self, path: str, **query) -> str:
        query = {**query, "token": self.token} if self.token else query
        return f"{self.base}{path}?{urllib.parse.urlencode(query)}"

    def api(self, method: str, path: str, body=None, timeout: float = 30):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}",
                                              "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def wait_until_up(self, path: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url(path), timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"server did not answer on {self.base}{path} in {timeout}s:\n{self.log.read_text()[-3000:]}")

    def shutdown_kernels(self) -> None:
        try:
            for session in self.api("GET", "/api/sessions"):
                self.api("DELETE", f"/api/sessions/{session['id']}")
            for kernel in self.api("GET", "/api/kernels"):
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
        except (urllib.error.URLError, OSError, ValueError):   # Voilà has no such API
            pass

    def stop(self) -> None:
        """Kernels first, then the server, whatever state it is in; then anything still
        running that it started (kernels run in their own sessions, so they are found by
        the learner's HOME in their environment, which only our processes carry)."""
        if self.proc.poll() is None:
            self.shutdown_kernels()
            try:
                self.api("POST", "/api/shutdown", timeout=5)
                self.proc.wait(timeout=15)
            except (urllib.error.URLError, OSError, ValueError, subprocess.TimeoutExpired):
                pass
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in started_by_us(self.home):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def started_by_us(home: Path) -> list[int]:
    """Processes whose environment has HOME=*home*: the server's children (a fresh temp dir)."""
    marker = f"HOME={home}".encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def learner_env(home: Path) -> dict:
    """The environment of a learner's server and kernels: everything of theirs under *home*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "PYTEST", "PORTLAB"))}
    env.update(HOME=str(home), MPLCONFIGDIR=str(home / "mpl"), IPYTHONDIR=str(home / "ipython"),
               JUPYTER_CONFIG_DIR=str(home / "jupyter-config"), JUPYTER_RUNTIME_DIR=str(home / "jupyter-runtime"),
               PORTLAB_PROGRESS=str(home / "progress.json"), PYTHONDONTWRITEBYTECODE="1")
    return env


def start_server(argv: list[str], home: Path, port: int, token: str, up_path: str, cwd: Path) -> Server:
    log = home / f"server-{port}.log"
    env = learner_env(home)
    with open(log, "wb") as out:
        proc = subprocess.Popen(learner_argv(argv), cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)   # Ctrl-C in pytest is not theirs
    server = Server(proc, port, token, cwd, log, home)
    try:
        server.wait_until_up(up_path)
    except Exception:
        server.stop()
        raise
    return server


def learner_home(tmp: Path) -> Path:
    home = tmp / "home"
    home.mkdir()
    # The server may run as user nobody (see tests/unprivileged.py): it must write here.
    for d in (tmp, home):
        d.chmod(0o777)
    return home


def write_settings(settings: Path) -> None:
    """User settings a test run wants: every cell in the page (no windowing, so the checks and
    screenshots see the whole notebook), and no news or update checks (nothing leaves loopback)."""
    files = {
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                            "checkForUpdates": False},
        "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": "JupyterLab Light"},
    }
    for name, value in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


