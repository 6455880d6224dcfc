# The portlab course for a class: JupyterHub's configuration.
#
#   make classroom          (or: .venv/bin/jupyterhub -f classroom/jupyterhub_config.py)
#
# Run it as root on the class's server: the hub starts each student's Jupyter server as
# that student's own system user, so students cannot read each other's work.  Settings
# come from environment variables (a teacher changes none of this file):
#
#   PORTLAB_HUB_URL        where students connect            default http://:8000 (every address)
#   PORTLAB_HUB_STATE      the hub's database, secrets, passwords   default build/classroom
#   PORTLAB_TEACHER        the teacher's user name (admin)   default teacher
#   PORTLAB_CLASS_ROSTER   a file of student user names, one a line; without it anyone
#                          who knows the class password may log in under any name
#   PORTLAB_HUB_AUTH       shared (default: one class password, JupyterHub's own
#                          SharedPasswordAuthenticator) | native (own passwords,
#                          jupyterhub-nativeauthenticator) | dummy (tests only)
#   PORTLAB_STUDENT_MEM    memory per student, e.g. 1G (default)
#   PORTLAB_STUDENT_CPU    CPU cores per student, e.g. 1 (default)
#   PORTLAB_HUB_PROXY      the proxy command (default: npm's configurable-http-proxy in
#                          build/classroom-proxy if installed, else the Python one in .venv)
#   PORTLAB_HUB_SERVER_PYTHON   the Python students' servers run (default: this .venv's);
#                          set it when students cannot read this checkout (e.g. it is in /root)
#   PORTLAB_COURSE_SOURCE  the original notebooks (default: this checkout's notebooks/);
#                          must be readable by students for "reset this notebook"
#
# Tests add PORTLAB_HUB_TESTING=1 (allows the dummy authenticator and the same-user
# spawner), PORTLAB_HUB_SPAWNER=same-user, PORTLAB_HUB_HOMES, PORTLAB_HUB_CGROUP and
# PORTLAB_HUB_SERVICE_TOKEN (an API token with the teacher's powers, for scripts).
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub provides it)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
env = os.environ.get
testing = env("PORTLAB_HUB_TESTING") == "1"

state = Path(env("PORTLAB_HUB_STATE") or REPO / "build" / "classroom")
state.mkdir(parents=True, exist_ok=True)
os.chmod(state, 0o700)  # secrets and passwords below: the hub's eyes only


def secret_file(name: str, nbytes: int) -> str:
    """A secret made once and kept in the state folder, so a restart keeps sessions and passwords."""
    path = state / name
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(nbytes))
    return path.read_text().strip()


def free_port() -> int:
    """A port free on loopback now: two hubs on one machine (a test beside a class) never collide."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- where the hub listens, what it keeps -----------------------------------------------
c.JupyterHub.bind_url = env("PORTLAB_HUB_URL") or "http://:8000"
c.JupyterHub.hub_ip = "127.0.0.1"      # the hub's own API: for the proxy and the servers only
c.JupyterHub.hub_port = int(env("PORTLAB_HUB_INTERNAL_PORT") or free_port())
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True    # stopping the hub stops every student's server
c.JupyterHub.cleanup_proxy = True

# The proxy routes each student's browser to their server.  npm's configurable-http-proxy
# is JupyterHub's reference; the PyPI package of the same name is a drop-in written in
# Python (nothing but pip needed).  Its API listens on loopback only.
npm_proxy = REPO / "build" / "classroom-proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
proxy = env("PORTLAB_HUB_PROXY") or (str(npm_proxy) if npm_proxy.exists() else
                                      shutil.which("configurable-http-proxy", path=str(BIN)) or
                                      "configurable-http-proxy")
c.ConfigurableHTTPProxy.command = [proxy]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env('PORTLAB_HUB_PROXY_API_PORT') or free_port()}"
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")
c.ConfigurableHTTPProxy.auth_token = secret_file("proxy_token", 32)

# --- who logs in ------------------------------------------------------------------------
teacher = env("PORTLAB_TEACHER") or "teacher"
c.Authenticator.admin_users = {teacher}
roster = env("PORTLAB_CLASS_ROSTER")
if roster:
    names = {line.split("#")[0].strip() for line in Path(roster).read_text().splitlines()}
    c.Authenticator.allowed_users = {n for n in names if n} | {teacher}
else:
    c.Authenticator.allow_all = True

auth = env("PORTLAB_HUB_AUTH") or "shared"
if auth == "shared":
    # One class password for students, written on the board; the teacher has their own
    # (JupyterHub wants it at least 32 characters).  Both are made once: read them in the state folder.
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = env("PORTLAB_CLASS_PASSWORD") or secret_file("class_password", 6)
    c.SharedPasswordAuthenticator.admin_password = env("PORTLAB_TEACHER_PASSWORD") or secret_file("teacher_password", 32)
elif auth == "native":
    # Students sign up with a password of their own; the teacher approves them at /hub/authorize.
    c.JupyterHub.authenticator_class = "native"
    c.NativeAuthenticator.open_signup = False
    c.NativeAuthenticator.minimum_password_length = 8
elif auth == "dummy" and testing:
    c.JupyterHub.authenticator_class = "dummy"
else:
    raise ValueError(f"PORTLAB_HUB_AUTH={auth!r}: use shared or native (dummy only in tests)")

# --- each student's server ----------------------------------------------------------
spawner = env("PORTLAB_HUB_SPAWNER") or "system-users"
if spawner == "system-users":
    c.JupyterHub.spawner_class = "portlab.classroom.ClassroomSpawner"
    # Students run their server (and kernels, and labs) with a Python they can read.  The
    # hub's own will do when it is installed for everyone; where it sits in a private place
    # (a venv in root's home), PORTLAB_HUB_SERVER_PYTHON names one that students can run.
    server_python = env("PORTLAB_HUB_SERVER_PYTHON")
    c.Spawner.cmd = ([server_python, "-m", "jupyterhub.singleuser"] if server_python
                     else [str(BIN / "jupyterhub-singleuser")])
elif spawner == "same-user" and testing:
    # Tests on a machine where only root can read the interpreter: servers as root but
    # with every capability dropped (what portlab checks), each in a home of its own.
    c.JupyterHub.spawner_class = "portlab.classroom.SameUserClassroomSpawner"
    c.SimpleLocalProcessSpawner.home_dir_template = str(Path(env("PORTLAB_HUB_HOMES") or state / "homes") / "{username}")
    c.Spawner.cmd = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--ambient-caps=-all",
                     str(BIN / "jupyterhub-singleuser"), "--allow-root"]
else:
    raise ValueError(f"PORTLAB_HUB_SPAWNER={spawner!r}: use system-users (same-user only in tests)")

c.Spawner.default_url = "/lab/tree/portlab-course/00-start-here.ipynb"
c.Spawner.notebook_dir = "~"
c.Spawner.mem_limit = env("PORTLAB_STUDENT_MEM") or "1G"
c.Spawner.cpu_limit = float(env("PORTLAB_STUDENT_CPU") or 1)
c.Spawner.args = [
    "--ServerApp.ip=127.0.0.1",  # reached through the proxy only
    # Students need neither Voila (the teacher's demonstration mode) nor the language-server
    # bridge (no language server is installed): leaving them out saves each server ~2 s of CPU at start.
    "--ServerApp.jpserver_extensions=voila.server_extension=False",
    "--ServerApp.jpserver_extensions=jupyter_lsp=False",
    # Kernels talk to their server over Unix sockets in the student's runtime folder, not TCP
    # ports on loopback: no classmate can even connect to them, and thirty kernels starting at
    # once cannot race for the same free port ("Address already in use", seen in the 30-student test).
    "--KernelManager.transport=ipc",
]
# thirty servers starting at once on two cores take a while (each imports JupyterLab: ~5 s of CPU)
c.Spawner.start_timeout = c.Spawner.http_timeout = int(env("PORTLAB_HUB_SPAWN_TIMEOUT") or 180)
c.Spawner.environment = {"MPLBACKEND": "agg"}
if testing and env("PORTLAB_HUB_TEST_ID"):
    # marks every process of a test's hub, so the test can find (and miss) them all
    c.Spawner.environment["PORTLAB_HUB_TEST_ID"] = env("PORTLAB_HUB_TEST_ID")
if env("PORTLAB_HUB_CGROUP"):
    c.ClassroomSpawner.cgroup_parent = env("PORTLAB_HUB_CGROUP")
    c.SameUserClassroomSpawner.cgroup_parent = env("PORTLAB_HUB_CGROUP")

# --- the teacher's view and scripts -----------------------------------------------------
# The admin page (/hub/admin) lists every student, starts and stops their servers and
# opens them; admins may enter a student's server to help.
c.JupyterHub.load_roles = []
token = env("PORTLAB_HUB_SERVICE_TOKEN")
if token:
    c.JupyterHub.services = [{"name": "portlab-teacher", "api_token": token}]
    c.JupyterHub.load_roles.append({
        "name": "portlab-teacher-service", "services": ["portlab-teacher"],
        "scopes": ["admin:users", "admin:servers", "access:servers", "tokens", "list:users", "read:users"],
    })
