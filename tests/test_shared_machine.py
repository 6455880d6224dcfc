"""Nothing touched that the learner does not own: a shared machine's loopback, for real.

A "classmate" runs a small TCP and UDP service as another user (a throwaway uid, with
``setpriv``), listening on loopback ports a careless scan would hit: one below 100 (in
the 1-100 sweep of notebook 04 and nmap's top 100), one where a hub might listen (8000
and up) and one the OS picks.  It counts every connection it accepts and every
datagram it receives.  Then:

* a learner (no capabilities, :func:`unprivileged.learner_argv`) scans all of
  loopback with the command line and with the Python API: the classmate's ports are
  left out before any packet is sent, one line on stderr says which and why, and the
  classmate accepted nothing;
* root is not narrowed (it runs the machine): its scan of the classmate's port is
  counted, which also proves the counter counts;
* every notebook, 00 to 10, runs top to bottom with nbval, as a learner and as root,
  and the classmate accepts nothing (``slow``);
* the private network namespace the notebooks scan in (:mod:`portlab.privatenet`)
  is private, hands back results and errors, and leaves no process behind, on
  success, on an error and on Ctrl-C (these tests need no root: run them as a
  learner too).

Everything with the classmate runs on a machine of the test's own, a network
namespace that the classmate, the learner and root share (:class:`Machine`), and
needs root to set up.

Figures (connections accepted, scan times, ports narrowed) go to
``build/test-output/shared-machine.json``.
"""

from __future__ import annotations

import functools
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from unprivileged import _others_can_reach, learner_argv  # noqa: E402

from portlab import privatenet, shared  # noqa: E402
from portlab.results import ScanResult  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "build" / "test-output" / "shared-machine.json"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[01][0-9]-*.ipynb"))

CLASSMATE = r"""
import json, selectors, signal, socket, sys
sel = selectors.DefaultSelector()
tcp, udp = {}, {}
for spec in sys.argv[1:]:
    kind, port = spec.split(":")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", int(port)))
    if kind == "tcp":
        s.listen(512)
    s.setblocking(False)
    sel.register(s, selectors.EVENT_READ, kind)
    (tcp if kind == "tcp" else udp)[s.getsockname()[1]] = 0
print("ready " + json.dumps({"tcp": sorted(tcp), "udp": sorted(udp)}), flush=True)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
while not stop:
    for key, _ in sel.select(0.1):
        port = key.fileobj.getsockname()[1]
        try:
            if key.data == "tcp":
                key.fileobj.accept()[0].close()
                tcp[port] += 1
            else:
                key.fileobj.recvfrom(2048)
                udp[port] += 1
        except OSError:
            pass
print("count " + json.dumps({"tcp": tcp, "udp": udp}), flush=True)
"""

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: /proc/net and network namespaces"),
    pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)"),
]


def _record(key: str, value) -> None:
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    figures = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    figures[key] = value
    OUTPUT.write_text(json.dumps(figures, indent=2) + "\n")


def _python_for_everyone() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        if os.path.exists(candidate) and _others_can_reach(Path(candidate)):
            return candidate
    pytest.skip("no Python that another user may run")


def _throwaway_uid() -> int:
    """A uid no account has, in the range of people's accounts (it makes the machine shared)."""
    taken = {p.pw_uid for p in pwd.getpwall()}
    uid = max(shared.uid_min(), 42420)
    while uid in taken or uid == shared.NOBODY:
        uid += 1
    return uid


HOLDER = ("import sys, time\nfrom portlab import privatenet as p\nfrom portlab.lab import userns\n"
          "userns.die_with_parent()\np._unshare()\np._loopback_up()\nprint('ready', flush=True)\n"
          "sys.stdin.read()\n")


class Machine:
    """A machine of the test's own: a network namespace whose loopback the classmate,
    the learner and root share, as users share a real machine's.  On a busy machine
    (CI beside other jobs, several people's tests) another root process's full-range
    scan of the real loopback would reach a classmate there and be counted against us."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
        if self.proc.stdout.readline().strip() != "ready":
            self.close()
            pytest.skip("no network namespace for the test's machine")

    def argv(self, argv: list[str]) -> list[str]:
        """*argv* run on this machine (in its network namespace; nothing else changes)."""
        return ["nsenter", f"--net=/proc/{self.proc.pid}/ns/net", "--", *argv]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()       # end of input: the holder ends, and the namespace with it
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def machine():
    from portlab.privilege import CAP_SYS_ADMIN, has_capability
    if os.geteuid() != 0 or not has_capability(CAP_SYS_ADMIN):
        pytest.skip("the classmate runs as another user on a machine of the test's own: root sets them up")
    if shutil.which("nsenter") is None:
        pytest.skip("needs nsenter (util-linux)")
    box = Machine()
    try:
        yield box
    finally:
        box.close()


class Classmate:
    """Another user's services on the machine's loopback, counting what reaches them."""

    def __init__(self, machine: Machine, specs: list[str]):
        self.uid = _throwaway_uid()
        argv = machine.argv(["setpriv", f"--reuid={self.uid}", f"--regid={self.uid}", "--clear-groups",
                             "--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service",
                             _python_for_everyone(), "-c", CLASSMATE, *specs])
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/")
        line = self.proc.stdout.readline()
        if not line.startswith("ready "):
            self.proc.kill()
            raise AssertionError(f"the classmate did not start: {line}{self.proc.stderr.read()}")
        ports = json.loads(line[6:])
        self.tcp, self.udp = ports["tcp"], ports["udp"]

    def counts(self) -> dict:
        """Stop the classmate; what reached it ({"tcp": {port: n}, "udp": {...}})."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=30)
        line = next((l for l in out.splitlines() if l.startswith("count ")), None)
        assert line, f"the classmate gave no count: {out}{err}"
        got = json.loads(line[6:])
        return {kind: {int(p): n for p, n in got[kind].items()} for kind in got}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def classmate(machine):
    # The machine is the test's own, so these are free: one port in notebook 04's 1-100 sweep
    # and nmap's top 100, one where a hub listens, one the OS picks; UDP on the first.
    mate = Classmate(machine, ["tcp:79", "tcp:8000", "tcp:0", "udp:79"])
    try:
        yield mate
    finally:
        mate.stop()


def _learner_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN", "PORTLAB_SHARED", privatenet.OFF_VARIABLE)}
    return {**env, "PYTHONPATH": str(ROOT), "PORTLAB_STATE_DIR": "/nonexistent-portlab-test-labs", **extra}


def _all_ports(text: str) -> set[int]:
    result = ScanResult.from_json(text)
    return {p.port for _, p in result.ports()}


# ---------------------------------------------------------------- the command line and the API

def _as_learner(machine: Machine, argv: list[str], timeout: float = 300, **env) -> subprocess.CompletedProcess:
    return subprocess.run(machine.argv(learner_argv(argv)), capture_output=True, text=True, timeout=timeout,
                          env=_learner_env(**env))


def _as_root(machine: Machine, argv: list[str], timeout: float = 300, **env) -> subprocess.CompletedProcess:
    return subprocess.run(machine.argv(argv), capture_output=True, text=True, timeout=timeout, env=_learner_env(**env))


def test_a_learners_full_range_loopback_scan_leaves_the_classmate_alone(machine, classmate):
    t0 = time.monotonic()
    proc = _as_learner(machine, [sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p-", "--format", "json", "-q"])
    seconds = time.monotonic() - t0
    counts = classmate.counts()
    assert proc.returncode == 0, proc.stderr
    scanned = _all_ports(proc.stdout)
    assert scanned == set(range(1, 65536)) - set(classmate.tcp)     # every other port, none of theirs
    lines = proc.stderr.strip().splitlines()
    assert lines == [f"portlab: 3 loopback ports belong to other users on this shared machine (other users "
                     f"listen on its loopback: uid {classmate.uid}) and were not scanned: "
                     + ", ".join(map(str, sorted(classmate.tcp)))], proc.stderr
    assert sum(counts["tcp"].values()) == 0, counts      # not one connection reached the classmate
    _record("cli_learner_full_range", {"connections_accepted": counts["tcp"], "scan_s": round(seconds, 2),
                                       "ports_scanned": len(scanned), "ports_narrowed": sorted(classmate.tcp),
                                       "line": lines[0]})


def test_the_python_api_narrows_too_and_udp_leaves_the_classmates_socket_alone(machine, classmate):
    code = (
        "import json, portlab\n"
        f"tcp = portlab.scan('127.0.0.1', '1-100,8000-8100,{classmate.tcp[2]}', keep_trace=False)\n"
        f"udp = portlab.scan('127.0.0.1', '{classmate.udp[0]},1-20', 'udp', keep_trace=False, timing=5)\n"
        "print(json.dumps([sorted(p.port for _, p in r.ports()) for r in (tcp, udp)]))\n")
    proc = _as_learner(machine, [sys.executable, "-c", code])
    counts = classmate.counts()
    assert proc.returncode == 0, proc.stderr
    tcp_ports, udp_ports = json.loads(proc.stdout)
    assert set(tcp_ports) == (set(range(1, 101)) | set(range(8000, 8101)) | {classmate.tcp[2]}) - set(classmate.tcp)
    assert set(udp_ports) == set(range(1, 21)) - {classmate.udp[0]}
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 2 and all(l.startswith("portlab: ") and "not scanned" in l for l in lines), proc.stderr
    assert lines[1].endswith(f"not scanned: {classmate.udp[0]}") and "1 loopback port belongs" in lines[1]
    assert sum(counts["tcp"].values()) == 0 and sum(counts["udp"].values()) == 0, counts


def test_on_a_hub_the_environment_alone_makes_the_machine_shared(machine, classmate):
    """JUPYTERHUB_USER set: shared whoever listens; a scan of nobody's ports says nothing."""
    hub = {"JUPYTERHUB_USER": "alice"}
    proc = _as_learner(machine, [sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p", f"20000,{classmate.tcp[1]}"],
                       **hub)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == (f"portlab: 1 loopback port belongs to other users on this shared machine "
                                   f"(JupyterHub) and was not scanned: {classmate.tcp[1]}")
    assert "20000/tcp closed" in proc.stdout and f"{classmate.tcp[1]}/tcp" not in proc.stdout
    quiet = _as_learner(machine, [sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p", "20000"], **hub)
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    assert sum(classmate.counts()["tcp"].values()) == 0


def test_the_scan_panel_says_what_it_left_out(machine, classmate):
    code = ("import json\nfrom portlab.course.widgets.scanpanel import ScanPanel\n"
            f"panel = ScanPanel(mode='live-loopback', ports='1-100,{classmate.tcp[1]}')\nresult = panel.do_run()\n"
            "print(json.dumps({'message': panel.message.value, 'ports': sorted(p.port for _, p in result.ports())}))")
    proc = _as_learner(machine, [sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    assert shown["ports"] == [p for p in range(1, 101) if p != classmate.tcp[0]]
    assert shown["message"].endswith(f"<br>Note: 2 loopback ports belong to other users on this shared machine "
                                     f"(other users listen on its loopback: uid {classmate.uid}) and were not "
                                     f"scanned: {classmate.tcp[0]}, {classmate.tcp[1]}.")
    assert "portlab:" not in proc.stderr                 # the panel shows the line; nothing else prints it
    assert sum(classmate.counts()["tcp"].values()) == 0


def test_root_is_not_narrowed_and_the_classmate_counts_what_reaches_it(machine, classmate):
    ports = ",".join(map(str, classmate.tcp))
    proc = _as_root(machine, [sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p", ports])
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert all(f"{p}/tcp" in proc.stdout for p in classmate.tcp), proc.stdout
    counts = classmate.counts()
    assert all(counts["tcp"][p] >= 1 for p in classmate.tcp), counts


def test_the_listeners_are_read_with_their_owners(machine, classmate):
    code = ("import json\nfrom portlab import shared\n"
            "print(json.dumps([[l.protocol, l.port, l.uid] for kind in ('tcp', 'udp') for l in shared.listeners(kind)]))\n"
            "print(shared.shared_reason(shared.listeners('tcp')))")
    proc = _as_root(machine, [sys.executable, "-c", code])
    assert proc.returncode == 0, proc.stderr
    found, reason = proc.stdout.splitlines()
    assert sorted(map(tuple, json.loads(found))) == sorted(
        [("tcp", p, classmate.uid) for p in classmate.tcp] + [("udp", p, classmate.uid) for p in classmate.udp])
    assert reason == f"other users listen on its loopback: uid {classmate.uid}"


# ---------------------------------------------------------------- every notebook, as a learner and as root

@pytest.mark.slow
@pytest.mark.parametrize("who", ["learner", "root"])
def test_every_notebook_run_top_to_bottom_touches_no_classmate(machine, classmate, who, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(home, 0o777)
    argv = [sys.executable, "-m", "pytest", "--nbval-lax", "--nbval-sanitize-with", "tests/nbval-sanitize.cfg",
            "-q", "-p", "no:cacheprovider", *[str(p.relative_to(ROOT)) for p in NOTEBOOKS]]
    env = _learner_env(HOME=str(home), PORTLAB_PROGRESS="off", MPLCONFIGDIR=str(home / "mpl"))
    if who == "learner":
        argv = learner_argv(argv)
    t0 = time.monotonic()
    proc = subprocess.run(machine.argv(argv), capture_output=True, text=True, timeout=540, cwd=ROOT, env=env)
    seconds = time.monotonic() - t0
    counts = classmate.counts()
    tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
    _record(f"notebooks_as_{who}", {"notebooks": len(NOTEBOOKS), "seconds": round(seconds, 1),
                                    "connections_accepted": counts["tcp"], "datagrams_received": counts["udp"],
                                    "nbval": tail.splitlines()[-1] if tail else proc.stderr[-200:]})
    assert sum(counts["tcp"].values()) == 0 and sum(counts["udp"].values()) == 0, counts
    assert proc.returncode == 0, tail


# ---------------------------------------------------------------- the private network namespace

def _children() -> list[int]:
    import psutil
    return [c.pid for c in psutil.Process().children(recursive=True)]


def test_the_private_namespace_is_private_and_hands_back_the_result():
    assert privatenet.why_not() is None
    before = _children()
    mine = os.readlink("/proc/self/ns/net")
    theirs = privatenet.run(functools.partial(os.readlink, "/proc/self/ns/net"))
    assert theirs.startswith("net:[") and theirs != mine
    assert privatenet.run(socket.if_nameindex) == [(1, "lo")]
    pid = privatenet.run(os.getpid)
    assert _children() == before and not Path(f"/proc/{pid}").exists()     # reaped, nothing left


def test_an_error_inside_comes_back_as_itself_and_the_child_is_reaped():
    before = _children()
    with pytest.raises(ValueError, match="invalid literal"):
        privatenet.run(functools.partial(int, "not a number"))
    assert _children() == before


def test_ctrl_c_in_the_caller_ends_the_child():
    import psutil
    code = ("import time, portlab.privatenet as p\n"
            "try:\n    p.run(time.sleep, 120)\nexcept KeyboardInterrupt:\n    print('interrupted', flush=True)\n")
    caller = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        inside = []
        while not inside and time.monotonic() < deadline:
            inside = [c for c in psutil.Process(caller.pid).children() if "portlab.privatenet" in " ".join(c.cmdline())]
            time.sleep(0.05)
        assert inside, "the private namespace's process never started"
        time.sleep(0.5)                      # let it enter the namespace and start sleeping
        caller.send_signal(signal.SIGINT)
        out, _ = caller.communicate(timeout=30)
        assert "interrupted" in out
        assert not psutil.pid_exists(inside[0].pid) or inside[0].status() == psutil.STATUS_ZOMBIE
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait()


def test_a_learner_gets_a_private_namespace_too():
    code = "import portlab.privatenet as p, socket\nprint(p.why_not(), p.run(socket.if_nameindex))"
    proc = subprocess.run(learner_argv([sys.executable, "-c", code]), capture_output=True, text=True,
                          timeout=60, env=_learner_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "None [(1, 'lo')]"


def test_switched_off_the_fallback_says_why_and_touches_only_its_own_port(machine, classmate):
    code = ("import json\nfrom portlab.course.lessons import nb09\nh = nb09.loopback_hunt()\n"
            "print(json.dumps({'where': h['where'], 'open': h['open'], 'port': h['port'], 'scanned': h['scanned']}))")
    proc = _as_learner(machine, [sys.executable, "-c", code], PORTLAB_PRIVATE_NET="off")
    assert proc.returncode == 0, proc.stderr
    hunt = json.loads(proc.stdout)
    assert hunt["where"].startswith("No private network namespace here (PORTLAB_PRIVATE_NET=off is set)")
    assert hunt["open"] == [hunt["port"]] and hunt["scanned"] == 1
    assert sum(classmate.counts()["tcp"].values()) == 0
