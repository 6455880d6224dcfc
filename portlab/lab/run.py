"""Bring a lab up, keep a write-ahead record of it, tear it down.

The state file (``$PORTLAB_STATE_DIR/<prefix>.json``, default ``/run/portlab/labs``)
is written *before* each namespace is created, so whatever exists is on record:
``portlab lab down`` and the next ``up`` can always clean up after a crash.  Its
``networks`` key (read by :mod:`portlab.scope`) is filled in only once the lab is
complete, and the file is removed when the lab goes down.

Teardown never trusts a recorded pid on its own (pids are reused): it stops only
the processes that ``ip netns pids`` finds inside the lab's own namespaces.

The one thing a lab puts in the root namespace is a set of ``unreachable`` guard
routes, one per lab network (see below), recorded and removed like the rest.

Without root (no CAP_NET_ADMIN) the same lab is built inside a user namespace the
user owns, by a lab process that holds it (:mod:`.userns`); its state file, in the
user's own state directory, names that process (``rootless``), and ``down`` stops it.
"""

from __future__ import annotations

import json
import os
import platform
import selectors
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from ..errors import MissingPrivilege, PortlabError
from ..privilege import CAP_NET_ADMIN, has_capability
from . import names, plan as plan_mod

STEP_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 15.0
ICMP_SYSCTLS = ("net.ipv4.icmp_ratelimit", "net.ipv4.icmp_msgs_per_sec", "net.ipv4.icmp_msgs_burst",
                "net.ipv4.icmp_ratemask")


class LabFailed(PortlabError):
    """A command building the lab failed (the lab has been torn down again)."""

    exit_code = 1


def state_dir() -> Path:
    """Root's labs: ``/run/portlab/labs``; a user's: their runtime directory (see scope.state_dir)."""
    from ..scope import state_dir as scope_state_dir
    return scope_state_dir()


def _has_net_admin() -> bool:
    return has_capability(CAP_NET_ADMIN)


def check_privilege() -> str:
    """``"root"`` (CAP_NET_ADMIN here) or ``"rootless"`` (a user namespace will do);
    MissingPrivilege, saying why and what to do, when neither works or ip/nft are missing."""
    if platform.system() != "Linux":
        raise MissingPrivilege(f"the live lab needs Linux network namespaces (this is {platform.system()}); "
                               "use the simulator instead: portlab scan --scenario FILE")
    if not _has_net_admin():
        from . import userns
        # The kernel's settings only (cheap); a refusal they do not explain (seccomp, an
        # LSM) comes back from the lab process as MissingPrivilege with the kernel's words.
        why = userns.kernel_why_not()
        if why:
            raise MissingPrivilege(f"the live lab needs root (or CAP_NET_ADMIN), or unprivileged user namespaces, "
                                   f"and here {why}; or use the simulator: portlab scan --scenario FILE")
        return "rootless"
    import shutil
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            raise MissingPrivilege(f"the live lab needs the {tool!r} command (install {package}); "
                                   "or use the simulator: portlab scan --scenario FILE")
    return "root"


# ---------------------------------------------------------------- state files

def _state_path(prefix: str) -> Path:
    return state_dir() / f"{prefix}.json"


def _write_state(state: dict) -> None:
    path = _state_path(state["prefix"])
    _make_state_dir(path.parent)
    # A dot-name not ending in .json: the scope guard never reads a half-written file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _make_state_dir(directory: Path) -> None:
    """Create the state directory; a user's (under /tmp) must be theirs alone, or labs
    could be planted in it that widen their scope."""
    if os.geteuid() != 0 and not directory.exists():
        directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory.mkdir(mode=0o700 if os.geteuid() != 0 else 0o755, parents=True, exist_ok=True)
    if os.geteuid() != 0 and not os.environ.get("PORTLAB_STATE_DIR"):
        for where in (directory, directory.parent):
            info = where.stat()
            if info.st_uid != os.geteuid() or info.st_mode & 0o022:
                raise LabFailed(f"state directory {where} is not yours alone (owner uid {info.st_uid}, "
                                f"mode {info.st_mode & 0o777:o}); remove it or set PORTLAB_STATE_DIR")


def read_state(prefix: str) -> Optional[dict]:
    try:
        return json.loads(_state_path(prefix).read_text())
    except (OSError, ValueError):
        return None


def _all_states() -> list[dict]:
    from ..scope import lab_records
    return lab_records()


# ---------------------------------------------------------------- commands

def _run(argv, stdin: Optional[str] = None, what: str = "") -> str:
    try:
        proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        raise LabFailed(f"{what or argv[0]}: command {argv[0]!r} not found") from None
    try:
        out, err = proc.communicate(stdin, timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise LabFailed(f"{what or argv[0]}: no answer after {STEP_TIMEOUT_S:g}s ({' '.join(argv)})") from None
    except BaseException:
        # Ctrl-C or SIGTERM in the middle of a step.  subprocess.run would kill the
        # step and return at once, without waiting: an `ip netns add` could then
        # finish making its namespace *after* the teardown had looked, and stay
        # behind.  So let the short step end (or kill it after the step timeout) and
        # reap it before the teardown runs.
        _finish(proc)
        raise
    if proc.returncode != 0:
        err = " ".join(err.split())[:300] or f"exit status {proc.returncode}"
        raise LabFailed(f"{what or ' '.join(argv)}: {err}")
    return out


def _finish(proc: subprocess.Popen) -> None:
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    try:
        proc.wait(timeout=STEP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def existing_netns() -> list[str]:
    try:
        return sorted(p.name for p in Path("/run/netns").iterdir())
    except OSError:
        return []


def _netns_pids(netns: str) -> list[int]:
    try:
        out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [int(p) for p in out.split() if p.isdigit()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is dead for our purpose; reap it.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
        except (OSError, IndexError):
            return False


def _stop_processes(namespaces: list[str]) -> None:
    """SIGTERM what runs inside the lab's namespaces, then SIGKILL what stays."""
    protected = {os.getpid(), os.getppid()}
    pids = [pid for ns in namespaces for pid in _netns_pids(ns) if pid not in protected]
    for sig, grace in ((signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
        live = [pid for pid in pids if _alive(pid)]
        for pid in live:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while live and time.monotonic() < deadline:
            live = [pid for pid in live if _alive(pid)]
            if live:
                time.sleep(0.02)
        if not live:
            return


def teardown(prefix: str) -> list[str]:
    """Remove every namespace (and so every link, ruleset and route) and process of lab *prefix*.

    Works from the state file and, as a second net, from the namespace names the
    prefix owns.  Returns the namespaces it deleted.  Safe to call twice.
    """
    names.check_prefix(prefix)
    state = read_state(prefix) or {}
    holder = state.get("rootless")
    if holder:
        from . import userns
        if not userns.inside(holder):
            # A rootless lab lives in its lab process's namespaces: stop the process,
            # which tears the lab down (or, killed, takes every namespace with it).
            userns.stop(holder)
            _forget(prefix)
            return list(state.get("namespaces", []))
    _wait_for_orphaned_steps(prefix)
    recorded = list(state.get("namespaces", []))
    namespaces = recorded + [ns for ns in existing_netns() if names.owns_netns(prefix, ns) and ns not in recorded]
    present = set(existing_netns())
    namespaces = [ns for ns in namespaces if ns in present]
    _stop_processes(namespaces)
    # Machines before bridges: the reverse of creation order.
    for ns in reversed(namespaces):
        try:
            _run(("ip", "netns", "delete", ns), what=f"delete {ns}")
        except LabFailed:
            if ns in existing_netns():
                raise
    _remove_guard_routes(prefix, state.get("guard_routes", []))
    _forget(prefix)
    return namespaces


def _wait_for_orphaned_steps(prefix: str, timeout: float = 5.0) -> None:
    """A builder killed with SIGKILL leaves its current `ip` step running; that step
    may create a namespace after we have listed them.  Wait for such steps to end."""
    import psutil
    deadline = time.monotonic() + timeout
    for proc in psutil.process_iter(["cmdline"]):
        argv = proc.info.get("cmdline") or []
        if not argv or Path(argv[0]).name != "ip" or "netns" not in argv:
            continue
        if any(names.owns_netns(prefix, arg) for arg in argv):
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except (psutil.Error, psutil.TimeoutExpired):
                pass


def _forget(prefix: str) -> None:
    try:
        _state_path(prefix).unlink()
    except FileNotFoundError:
        pass


def _stale_rootless(state: dict) -> bool:
    """A rootless lab whose lab process is gone (killed): its namespaces went with it."""
    from . import userns
    return bool(state.get("rootless")) and not userns.holder_alive(state["rootless"])


# ---------------------------------------------------------------- root-namespace guard routes
#
# While a lab runs, the scope guard lets scans reach its networks.  A scan started
# in the root namespace (forgetting netns=) would follow the machine's default route
# out into the real network.  So each lab network gets an `unreachable` route in the
# root namespace: such a scan fails at once with "no route to host" and nothing
# leaves.  Each lab's routes carry a metric of its own (labs of one scenario share
# networks), so a lab deletes exactly its own routes and never a real one: type and
# metric are part of the delete request, and the kernel matches both.

GUARD_METRIC_BASE = 40000


def _guard_route_argv(action: str, cidr: str, metric: int) -> tuple[str, ...]:
    return ("ip", "-4", "route", action, "unreachable", cidr, "metric", str(metric))


def _guard_metric(prefix: str) -> int:
    import zlib
    return GUARD_METRIC_BASE + zlib.crc32(prefix.encode()) % 20000


def _add_guard_routes(state: dict, cidrs) -> None:
    """Add the guard routes, each on record before it exists; note any a real route shadows."""
    import ipaddress
    state["guard_routes"], state["guard_shadowed"] = [], []
    for cidr in cidrs:
        metric = _guard_metric(state["prefix"])
        for _ in range(20):
            state["guard_routes"].append([cidr, metric])
            _write_state(state)
            done = subprocess.run(_guard_route_argv("add", cidr, metric), capture_output=True, text=True,
                                  timeout=STEP_TIMEOUT_S)
            if done.returncode == 0:
                break
            state["guard_routes"].pop()
            if "File exists" not in done.stderr:
                raise LabFailed(f"guard route for {cidr}: {' '.join(done.stderr.split())}")
            metric += 1                        # another lab of this network holds that metric
        probe = str(next(ipaddress.ip_network(cidr).hosts()))
        # `ip route get` only asks the routing table; it sends nothing.
        got = subprocess.run(("ip", "-4", "route", "get", probe), capture_output=True, text=True, timeout=10)
        if "unreachable" not in got.stdout and "No route to host" not in got.stderr:
            state["guard_shadowed"].append(cidr)
    _write_state(state)


def _remove_guard_routes(prefix: str, routes) -> None:
    def pairs(routes):
        # A bare CIDR is what the first version of this file recorded (one shared metric).
        return [(r, 4077) if isinstance(r, str) else (r[0], int(r[1])) for r in routes]

    others = {r for st in _all_states() if st.get("prefix") != prefix for r in pairs(st.get("guard_routes", []))}
    for cidr, metric in pairs(routes):
        if (cidr, metric) not in others:
            subprocess.run(_guard_route_argv("del", cidr, metric), capture_output=True, timeout=STEP_TIMEOUT_S)


def _owner_gone(state: dict) -> bool:
    pid = state.get("owner_pid")
    return not state.get("persistent") and (pid is None or not _alive(int(pid)))


def clean_leftovers() -> list[str]:
    """Tear down labs whose builder died: half-built, or a `with Lab` whose process is gone."""
    cleaned = []
    for state in _all_states():
        if state.get("rootless"):
            # Never torn down from outside its lab process; only a dead one's record goes.
            if _stale_rootless(state):
                _forget(state["prefix"])
                cleaned.append(state["prefix"])
            continue
        if state.get("status") != "up" or _owner_gone(state):
            owner = state.get("owner_pid")
            if owner and _alive(int(owner)) and owner != os.getpid() and state.get("status") != "up":
                continue  # still being built by someone else right now
            teardown(state["prefix"])
            cleaned.append(state["prefix"])
    return cleaned


def lab_status() -> list[dict]:
    """Labs on record, whole, each with ``age_s`` and ``alive`` (all its namespaces exist);
    what ``portlab lab status`` shows.  (The scope guard's view is ``scope.running_labs``.)"""
    present = set(existing_netns())
    labs = []
    now = time.time()
    for state in _all_states():
        state = dict(state)
        state["age_s"] = round(now - state.get("started_ts", now), 1)
        if state.get("rootless"):
            if _stale_rootless(state):
                _forget(state["prefix"])       # killed: the kernel freed its namespaces already
                continue
            # Its namespaces are visible only inside its own mount namespace; its process holds them.
            state["alive"] = True
        else:
            state["alive"] = bool(state.get("namespaces")) and all(ns in present for ns in state["namespaces"])
        labs.append(state)
    return labs


def _read_sysctls(netns: str, keys) -> dict[str, str]:
    try:
        out = _run(("ip", "netns", "exec", netns, "sysctl", *keys), what="read sysctls")
    except LabFailed:
        return {}
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition(" = ")
        values[key.strip()] = value.strip()
    return values


# ---------------------------------------------------------------- the lab

class Lab:
    """A scenario running as namespaces.  ``with Lab("web-server") as lab: lab.scan(...)``
    (a Scenario, a scenario file or a shipped scenario's name).

    *persistent* labs (``portlab lab up``) outlive the process that built them;
    others are leftovers as soon as their process is gone.
    """

    def __init__(self, scenario, prefix: Optional[str] = None, *, persistent: bool = False,
                 python: str = sys.executable, verbose=None):
        from ..scenario import resolve
        self.scenario = scenario = resolve(scenario)   # a Scenario, a file, or a shipped name
        self.prefix = names.check_prefix(prefix) if prefix else names.new_prefix()
        self.persistent = persistent
        self.python = python
        self.verbose = verbose          # a callable taking a line, or None
        self.plan = plan_mod.build(scenario, self.prefix)   # refuses what Linux can't build, before anything runs
        self.scanner_netns = self.plan.scanner_netns
        self.state: Optional[dict] = None
        self.rootless: Optional[dict] = None     # the lab process holding a rootless lab
        self.up_s: Optional[float] = None
        self.down_s: Optional[float] = None

    def netns(self, machine: str) -> str:
        """The namespace of a host or router (``"scanner"`` for the scanner)."""
        if machine == "scanner" and machine not in self.plan.machine_netns:
            return self.scanner_netns
        return self.plan.machine_netns[machine]

    # -- up / down

    def up(self) -> "Lab":
        mode = check_privilege()
        if mode == "rootless":
            return self._up_rootless()
        clean_leftovers()
        if read_state(self.prefix) or any(names.owns_netns(self.prefix, ns) for ns in existing_netns()):
            raise LabFailed(f"a lab with prefix {self.prefix!r} already exists (portlab lab down --prefix {self.prefix})")
        t0 = time.monotonic()
        self.state = {
            "prefix": self.prefix, "scenario": self.scenario.name,
            "scenario_path": str(self.scenario.path) if getattr(self.scenario, "path", None) else None,
            "status": "building", "persistent": self.persistent, "owner_pid": os.getpid(),
            "started": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "started_ts": time.time(),
            "namespaces": [], "services": {}, "networks": [],
            "scanner_netns": self.scanner_netns, "machines": dict(self.plan.machine_netns),
            "bridges": dict(self.plan.network_netns),
        }
        if self.rootless:
            self.state["rootless"] = dict(self.rootless)
        try:
            self._build()
        except BaseException:
            # Ctrl-C or a failed step: nothing may stay behind.
            teardown(self.prefix)
            self.state = None
            raise
        self.up_s = time.monotonic() - t0
        return self

    def _up_rootless(self) -> "Lab":
        from . import userns
        clean_leftovers()
        if read_state(self.prefix):
            raise LabFailed(f"a lab with prefix {self.prefix!r} already exists (portlab lab down --prefix {self.prefix})")
        directory = state_dir()
        _make_state_dir(directory)
        t0 = time.monotonic()
        self.state = userns.start(self, str(directory))
        self.rootless = self.state["rootless"]
        self.up_s = time.monotonic() - t0
        return self

    def _build(self) -> None:
        state = self.state
        _write_state(state)
        for step in self.plan.steps:
            if step.creates_netns:
                state["namespaces"].append(step.creates_netns)
                _write_state(state)          # write-ahead: on record before it exists
            if self.verbose:
                self.verbose(step.what)
            _run(step.argv, step.stdin, step.what)
        self._start_services()
        state["sysctls"] = _read_sysctls(self.scanner_netns, ICMP_SYSCTLS)
        if not self.rootless:
            # (A rootless lab's namespaces have no link to the machine's network at all.)
            _add_guard_routes(state, [str(net.cidr) for net in self.scenario.networks])
        # Only now may the scope guard let scans reach the lab's networks.
        state["networks"] = [str(net.cidr) for net in self.scenario.networks]
        state["status"] = "up"
        _write_state(state)

    def _start_services(self) -> None:
        procs = []
        try:
            for service in self.plan.services:
                if self.verbose:
                    self.verbose(f"{service.netns}: services tcp {service.tcp} udp {service.udp}")
                # A rootless lab's daemons die with its lab process, so a SIGKILL of it frees everything.
                from .userns import die_with_parent
                proc = subprocess.Popen(service.argv(self.python), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, start_new_session=True, text=True,
                                        env={**os.environ, "PYTHONPATH": _package_root()},
                                        preexec_fn=die_with_parent if self.rootless else None)
                procs.append((service, proc))
                self.state["services"][service.machine] = proc.pid
                _write_state(self.state)
            deadline = time.monotonic() + READY_TIMEOUT_S
            for service, proc in procs:
                line = _read_line(proc, deadline)
                if line.strip() != "ready":
                    err = proc.stderr.read() if proc.poll() is not None else ""
                    raise LabFailed(f"{service.netns}: service daemon did not start: "
                                    f"{' '.join(err.split())[:300] or 'no ready line in time'}")
        finally:
            # Our ends of the pipes: the daemons never write after "ready".
            for _, proc in procs:
                proc.stdout.close()
                proc.stderr.close()
        self._procs = [proc for _, proc in procs]

    def down(self) -> list[str]:
        t0 = time.monotonic()
        deleted = teardown(self.prefix)
        for proc in getattr(self, "_procs", []):
            try:
                proc.wait(timeout=1)     # reap our children, so no zombie stays
            except subprocess.TimeoutExpired:
                pass
        self._procs = []
        holder_proc = getattr(self, "_holder_proc", None)
        if holder_proc is not None:
            try:
                holder_proc.stdin.close()
            except (OSError, ValueError, AttributeError):
                pass
            holder_proc.wait()
            self._holder_proc = None
        self.state = None
        self.down_s = time.monotonic() - t0
        return deleted

    def __enter__(self) -> "Lab":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    # -- scanning

    def scan(self, targets, ports, scan_type: str = "connect", **kw):
        """Scan from the lab's scanner namespace: ``engine.scan(..., netns=lab.scanner_netns)``."""
        from ..engine import scan
        return scan(targets, ports, scan_type, netns=self.scanner_netns, **kw)   # the engine joins a rootless lab

    def exec_argv(self, machine: str, *argv: str) -> list[str]:
        """``ip netns exec NS ARGV…`` for running a tool (nmap) on a lab machine or the scanner."""
        argv = ["ip", "netns", "exec", self.netns(machine), *argv]
        from . import userns
        if self.rootless and not userns.inside(self.rootless):
            return userns.exec_argv(self.rootless, str(state_dir()), *argv)
        return argv

    def __repr__(self) -> str:
        return f"<Lab {self.scenario.name} prefix={self.prefix} {'up' if self.state else 'down'}>"


def _package_root() -> str:
    # The daemon runs as `python -m portlab.lab.services`; make sure it finds this very package.
    root = str(Path(__file__).resolve().parents[2])
    extra = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + extra if extra else "")


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        remaining = deadline - time.monotonic()
        if remaining > 0 and sel.select(timeout=remaining):
            return proc.stdout.readline()
    return ""
