"""The live lab without root: built in a user namespace the learner owns (portlab.lab.userns).

Every test here runs the learner's side as user nobody (uid 65534) with the full
capability bounding set an ordinary login has, and no capability in effect: CI
runs as root, so the tests drop to nobody in a child process.  Where nobody cannot
read this interpreter (a venv under /root, mode 700), a throwaway venv is made from
a system Python of the same version that everyone can run, with a .pth pointing at
this environment's site-packages.

What is checked: ``portlab lab up home-nat-forward`` as nobody, a SYN scan of the
router from outside (only 8080 open), ``lab down`` leaves nothing; the rootless lab
agrees with the root lab and the simulator port by port (state and reason) for
connect, SYN and UDP; isolation (no way out to the machine's network, root's lab
neither visible nor in scope); SIGKILL of the lab process is cleaned up; the
notebooks' live helpers run as nobody.  Everything sent stays inside the lab.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from netlab import netns_skip_reason
from portlab import scenario as scenario_mod
from portlab.lab import userns
from unprivileged import NOBODY, ROOT, environment_for_everyone

SKIP = netns_skip_reason()
USERNS_WHY = userns.kernel_why_not() if sys.platform.startswith("linux") else "not Linux"


def live(test):
    """Builds labs as nobody (dropping from root, as CI runs): root, Linux, user namespaces."""
    for mark in (pytest.mark.netns, pytest.mark.skipif(SKIP is not None, reason=SKIP or ""),
                 pytest.mark.skipif(USERNS_WHY is not None, reason=f"no rootless lab here: {USERNS_WHY}")):
        test = mark(test)
    return test

TESTS = Path(__file__).resolve().parent


# ---------------------------------------------------------------- running as nobody

def _learner_python(workdir: Path) -> tuple[str, Path, Path]:
    """An interpreter nobody can run that imports what this one imports, and the source
    root and tests folder it reads them from (:func:`unprivileged.environment_for_everyone`)."""
    try:
        python, source = environment_for_everyone(workdir)
    except FileNotFoundError as err:
        pytest.skip(str(err))
    return python, source, (TESTS if source == ROOT else source / "tests")


class Learner:
    """Runs commands as nobody, with a state directory of nobody's own."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.python, self.root, self.tests = _learner_python(workdir)
        self.home = workdir / "home"
        self.home.mkdir()
        self.labs = self.home / "labs"
        os.chown(self.home, NOBODY, NOBODY)

    def env(self) -> dict:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TERM")}
        return {**keep, "HOME": str(self.home), "PYTHONPATH": f"{self.root}{os.pathsep}{self.tests}",
                "PORTLAB_DATA": str(self.root / "data"), "PORTLAB_STATE_DIR": str(self.labs),
                "PORTLAB_PROGRESS": "off", "MPLCONFIGDIR": str(self.home)}

    def argv(self, *argv: str) -> list[str]:
        # Nobody with an ordinary login's bounding set: what a student on their laptop has.
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]

    def portlab(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(self.python, "-m", "portlab", *args), capture_output=True, text=True,
                              env=self.env(), cwd=self.home, timeout=timeout)

    def python_code(self, code: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(self.python, "-c", code), capture_output=True, text=True,
                              env=self.env(), cwd=self.home, timeout=timeout)

    def state(self, prefix: str) -> dict:
        return json.loads((self.labs / f"{prefix}.json").read_text())


@pytest.fixture(scope="module")
def learner():
    workdir = Path(tempfile.mkdtemp(prefix="portlab-rootless-"))
    workdir.chmod(0o755)
    try:
        yield Learner(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def gone(pid: int, timeout: float = 5.0) -> bool:
    """True once *pid* no longer runs (a zombie waiting for its reaper counts as gone)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if userns.start_time(pid) is None:
            return True
        time.sleep(0.05)
    return False


def nobody_processes_in(user_ns_inode: int) -> list[int]:
    """Live processes in that user namespace (a zombie holds no namespace: the kernel
    released them when it exited; it only waits for its parent to read its status)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and userns.start_time(int(proc.name)) is not None:
            try:
                if os.stat(proc / "ns" / "user").st_ino == user_ns_inode:
                    pids.append(int(proc.name))
            except OSError:
                pass
    return pids


# ---------------------------------------------------------------- up, SYN scan, down

@live
def test_cli_up_syn_scan_down_leaves_nothing(learner):
    up = learner.portlab("lab", "up", "home-nat-forward", "--prefix", "plrlcli")
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("lab plrlcli up: scenario home-nat-forward, 7 namespaces")
    assert "rootless: held by lab process" in up.stdout
    try:
        state = learner.state("plrlcli")
        holder = state["rootless"]
        assert (learner.labs / "plrlcli.json").stat().st_uid == NOBODY
        assert Path(f"/proc/{holder['pid']}").stat().st_uid == NOBODY
        assert "guard_routes" not in state          # nothing was put in the machine's namespace
        user_ns = os.stat(f"/proc/{holder['pid']}/ns/user").st_ino
        assert user_ns != os.stat("/proc/self/ns/user").st_ino
        # The lab's namespaces live in the lab process's private /run/netns, not the machine's.
        assert not any(name.startswith("plrlcli") for name in os.listdir("/run/netns")) \
            if os.path.isdir("/run/netns") else True

        status = learner.portlab("lab", "status")
        assert status.stdout.split()[:3] == ["plrlcli", "home-nat-forward", "up"], status.stdout
        assert "rootless: lab process" in status.stdout

        syn = learner.portlab("scan", "10.77.0.2", "-p", "1-1024,8080", "-s", "syn", "--format", "json", "-T5")
        assert syn.returncode == 0, syn.stderr
        result = json.loads(syn.stdout)
        assert result["scan_type"] == "syn" and result["transport"] == "raw"
        from portlab.results import ScanResult
        ports = {p.port: str(p.state) for h in ScanResult.from_json(syn.stdout).hosts for p in h.ports}
        assert len(ports) == 1025
        assert [port for port, st in ports.items() if st == "open"] == [8080]
        assert set(ports.values()) == {"open", "filtered"}
    finally:
        down = learner.portlab("lab", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.startswith("lab plrlcli down: 7 namespaces removed")
    assert not (learner.labs / "plrlcli.json").exists()
    assert gone(holder["pid"])
    assert all(gone(pid) for pid in state["services"].values())
    assert nobody_processes_in(user_ns) == []        # so the kernel has freed every namespace
    assert learner.portlab("lab", "status").stdout.strip() == "no lab is running"


# ---------------------------------------------------------------- SIGKILL

@live
def test_sigkill_of_the_lab_process_is_cleaned(learner):
    up = learner.portlab("lab", "up", "web-server", "--prefix", "plrlkill")
    assert up.returncode == 0, up.stderr
    state = learner.state("plrlkill")
    holder = state["rootless"]
    user_ns = os.stat(f"/proc/{holder['pid']}/ns/user").st_ino
    assert state["services"] and all(userns.start_time(pid) for pid in state["services"].values())
    os.kill(holder["pid"], signal.SIGKILL)
    assert gone(holder["pid"])
    # Its service daemons die with it (PR_SET_PDEATHSIG), so nothing holds a namespace.
    assert all(gone(pid) for pid in state["services"].values())
    assert nobody_processes_in(user_ns) == []
    # The next status sees a dead lab process and removes the stale record.
    assert (learner.labs / "plrlkill.json").exists()
    status = learner.portlab("lab", "status")
    assert status.stdout.strip() == "no lab is running", status.stdout
    assert not (learner.labs / "plrlkill.json").exists()
    # ...and the scope no longer holds its networks.
    refused = learner.portlab("scan", "10.77.0.2", "-p", "80")
    assert refused.returncode == 3 and "outside the default scope" in refused.stderr
    # The same prefix builds again, and goes down cleanly.
    again = learner.portlab("lab", "up", "web-server", "--prefix", "plrlkill")
    assert again.returncode == 0, again.stderr
    down = learner.portlab("lab", "down", "--prefix", "plrlkill")
    assert down.returncode == 0 and not (learner.labs / "plrlkill.json").exists()


# ---------------------------------------------------------------- isolation

@live
def test_no_way_out_and_roots_lab_is_not_visible(learner, tmp_path, monkeypatch):
    from portlab.lab.run import Lab, existing_netns
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path / "root-labs"))
    s = scenario_mod.load(scenario_mod.shipped()["single-host"])
    with Lab(s) as root_lab:
        # Root's lab: not in nobody's scope (nobody reads only their own labs) nor listed.
        refused = learner.portlab("scan", "10.77.0.2", "-p", "22")
        assert refused.returncode == 3 and "outside the default scope" in refused.stderr, refused.stderr
        assert learner.portlab("lab", "status").stdout.strip() == "no lab is running"

        up = learner.portlab("lab", "up", "single-host", "--prefix", "plrliso")
        assert up.returncode == 0, up.stderr
        try:
            holder = learner.state("plrliso")["rootless"]
            run_in = lambda *argv: learner.python_code(   # noqa: E731
                "import sys; from portlab.lab.userns import main; "
                f"sys.exit(main(['exec', {json.dumps(json.dumps(holder))}, {str(learner.labs)!r}, '--', *{list(argv)!r}]))")
            # Inside: only its own namespaces; root's lab (same scenario, same addresses) is invisible.
            listed = run_in("ip", "netns", "list")
            assert listed.returncode == 0, listed.stderr
            names = {line.split()[0] for line in listed.stdout.splitlines()}
            assert names and all(n.startswith("plrliso") for n in names)
            assert not names & set(root_lab.plan.namespaces)
            # The namespace the lab hangs off has a loopback and nothing else: no link, no route out.
            own_net = f"--net=/proc/{holder['pid']}/ns/net"
            links = run_in("nsenter", own_net, "ip", "-o", "link", "show")
            assert [line.split(":")[1].strip() for line in links.stdout.splitlines()] == ["lo"], links.stderr
            assert run_in("nsenter", own_net, "ip", "-4", "route", "show").stdout.strip() == ""
            # Every lab namespace's links are the lab's own (loopback, veth, bridge).
            for ns in names:
                kinds = run_in("ip", "-n", ns, "-o", "-d", "link", "show").stdout
                for line in kinds.splitlines():
                    name = line.split(":")[1].strip().split("@")[0]
                    assert name == "lo" or " veth " in line or " bridge " in line, line
            # And it cannot reach into the machine's own network namespace (asks the kernel only;
            # a refused link creation sends nothing).
            escape = run_in("nsenter", own_net, "ip", "link", "add", "plesc0", "type", "veth", "peer",
                            "name", "plesc1", "netns", "1")
            assert escape.returncode != 0 and "Operation not permitted" in escape.stderr, escape.stderr
            # A scan of 10.77.0.2 by nobody goes to nobody's own lab (its ports), root's lab is untouched.
            mine = learner.portlab("scan", "10.77.0.2", "-p", "22,81", "--format", "json")
            assert mine.returncode == 0, mine.stderr
            assert {p["port"]: p["state"] for p in json.loads(mine.stdout)["hosts"][0]["ports"]} == \
                {22: "open", 81: "closed"}
            # Root sees neither the rootless lab's namespaces nor its state (it is in nobody's directory).
            assert not any(ns.startswith("plrliso") for ns in existing_netns())
            from portlab.scope import running_labs
            assert [lab.prefix for lab in running_labs()] == [root_lab.prefix]
        finally:
            down = learner.portlab("lab", "down", "--prefix", "plrliso")
        assert down.returncode == 0, down.stderr


# ---------------------------------------------------------------- same results

FIDELITY_SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from test_fidelity import live_and_sim
from portlab import scenario as scenario_mod
from portlab.course.machine import machine
m = machine()
assert m.allows("live-lab") and m.rootless, m.why_not
s = scenario_mod.load(scenario_mod.shipped()[{name!r}])
out = {{}}
for scan_type in ("connect", "syn", "udp"):
    live, sim, labs = live_and_sim(s, scan_type)
    out[scan_type] = {{f"{{a}}:{{p}}": [str(r.state), r.reason] for (a, p), r in live.items()}}
print(json.dumps(out))
"""


# Two shipped scenarios by default (one host with every firewall action; NAT with a forward);
# PORTLAB_ROOTLESS_FIDELITY=all runs every shipped scenario (about 40 s each).
FIDELITY_SCENARIOS = (sorted(scenario_mod.shipped()) if os.environ.get("PORTLAB_ROOTLESS_FIDELITY") == "all"
                      else ["single-host", "home-nat-forward"])


@live
@pytest.mark.slow
@pytest.mark.parametrize("name", FIDELITY_SCENARIOS)
def test_rootless_lab_agrees_with_root_lab_and_simulator(learner, name, tmp_path, monkeypatch):
    from test_fidelity import live_and_sim
    done = learner.python_code(FIDELITY_SCRIPT.format(tests=str(learner.tests), name=name))
    assert done.returncode == 0, done.stderr[-2000:]
    rootless = json.loads(done.stdout.strip().splitlines()[-1])
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path / "labs"))
    s = scenario_mod.load(scenario_mod.shipped()[name])
    problems = []
    for scan_type in ("connect", "syn", "udp"):
        root_live, sim, _ = live_and_sim(s, scan_type)
        as_list = lambda ports: {f"{a}:{p}": [str(r.state), r.reason] for (a, p), r in ports.items()}  # noqa: E731
        root_ports, sim_ports, mine = as_list(root_live), as_list(sim), rootless[scan_type]
        assert set(mine) == set(root_ports) == set(sim_ports) and mine
        for key in sorted(mine):
            if not mine[key] == root_ports[key] == sim_ports[key]:
                problems.append(f"{name} {scan_type} {key}: rootless {mine[key]}, root {root_ports[key]}, "
                                f"sim {sim_ports[key]}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the notebooks' live cells

@live
def test_notebook_live_helpers_run_as_nobody(learner):
    code = """
from portlab.course.machine import live
from portlab.course.lessons import nb00, nb07
assert live("live-lab")
port = nb00.port_81_in_the_lab()
print(port.state, port.reason)
print(nb07.summary(nb07.live_forward_scan()))
"""
    done = learner.python_code(code)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.strip().splitlines()[:2]
    assert first == "closed conn-refused"
    assert "8080" in second
    assert not list(learner.labs.glob("*.json"))       # the `with Lab` blocks left nothing on record


# ---------------------------------------------------------------- where it cannot work (no lab built)

@pytest.mark.parametrize("path, value, says", [
    ("/proc/sys/kernel/unprivileged_userns_clone", "0", "kernel.unprivileged_userns_clone=0"),
    ("/proc/sys/user/max_user_namespaces", "0", "user.max_user_namespaces=0"),
    ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1", "kernel.apparmor_restrict_unprivileged_userns=1"),
])
def test_each_kernel_setting_that_forbids_it_is_named_with_its_fix(monkeypatch, path, value, says):
    real = userns._read
    monkeypatch.setattr(userns, "_read", lambda p: value if p == path else real(p))
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    why = userns.kernel_why_not()
    assert why is not None and says in why and "sudo sysctl -w" in why
    assert len(why.splitlines()) == 1


def test_without_the_capabilities_in_the_bounding_set_it_says_so(tmp_path):
    if not sys.platform.startswith("linux") or not shutil.which("setpriv"):
        pytest.skip("Linux with setpriv only")
    done = subprocess.run(["setpriv", "--bounding-set=-all", "--inh-caps=-all", sys.executable, "-c",
                           "from portlab.lab.userns import kernel_why_not; print(kernel_why_not())"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "bounding set excludes CAP_NET_ADMIN/CAP_SYS_ADMIN" in done.stdout, done.stderr


def test_a_users_labs_live_in_their_own_directory(monkeypatch, tmp_path):
    from portlab import scope
    monkeypatch.delenv("PORTLAB_STATE_DIR", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1234)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert scope.state_dir() == Path("/tmp/portlab-1234/labs")
    runtime = tmp_path / "run-user"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert scope.state_dir() == Path("/tmp/portlab-1234/labs")    # a runtime directory not theirs is not used
    if os.getuid() == 0:
        os.chown(runtime, 1234, 1234)
        assert scope.state_dir() == runtime / "portlab" / "labs"


def test_a_dead_lab_process_leaves_no_lab_in_scope_and_its_record_is_removed(monkeypatch, tmp_path):
    from portlab import scope
    from portlab.lab import run
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = {"prefix": "pldead", "scanner_netns": "pldead.scanner", "networks": ["10.77.0.0/24"],
              "status": "up", "namespaces": ["pldead.scanner"],
              "rootless": {"pid": dead.pid, "start": 1, "uid": os.getuid()}}
    (tmp_path / "pldead.json").write_text(json.dumps(record))
    assert scope.running_labs() == []              # its networks are out of scope at once
    assert (tmp_path / "pldead.json").exists()     # (the scope guard only reads)
    assert run.lab_status() == []                # status removes the stale record
    assert not (tmp_path / "pldead.json").exists()
    # A live lab process keeps its lab in scope: this very process stands in for one.
    me = {"pid": os.getpid(), "start": userns.start_time(os.getpid()), "uid": os.getuid()}
    (tmp_path / "plme.json").write_text(json.dumps({**record, "prefix": "plme", "rootless": me}))
    assert [lab.prefix for lab in scope.running_labs()] == ["plme"]
    assert scope.running_labs()[0].holder == me
