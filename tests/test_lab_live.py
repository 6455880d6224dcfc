"""The live lab for real: namespaces, bridges, nftables, NAT and services, up and down.

Root only (CI runs as root); skipped with the reason otherwise.  Every lab here
lives in namespaces it created, on scenario addresses with no route out.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from netlab import netns_skip_reason
from unprivileged import learner_argv
from portlab import scenario as scenario_mod
from portlab.errors import MissingPrivilege
from portlab.lab import names, run
from portlab.lab.run import Lab, LabFailed

SKIP = netns_skip_reason()
pytestmark = [pytest.mark.netns, pytest.mark.skipif(SKIP is not None, reason=SKIP or "")]

SHIPPED = scenario_mod.shipped()


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    """Each test's labs on record in its own directory (the scope guard reads the same variable)."""
    directory = tmp_path / "labs"
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(directory))
    return directory


def netns_list() -> set[str]:
    return set(run.existing_netns())


def fresh_prefix(stem: str) -> str:
    """A prefix no earlier run can have used: what a killed test run left behind
    must not make the next run fail with "already exists"."""
    return stem + uuid.uuid4().hex[:4]


def owned(prefix: str) -> set[str]:
    """The namespaces lab *prefix* has now.  (Other people's labs may come and go
    while a test runs, so tests look only at their own prefix.)"""
    return {ns for ns in netns_list() if names.owns_netns(prefix, ns)}


def root_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def guard_routes() -> set[tuple[str, int]]:
    """(cidr, metric) of the unreachable routes in the root namespace."""
    out = subprocess.run(["ip", "-4", "route", "show", "type", "unreachable"], capture_output=True, text=True).stdout
    found = set()
    for line in out.split("\n"):
        words = line.split()
        if "metric" in words:
            found.add((words[0] if words[0] != "unreachable" else words[1], int(words[words.index("metric") + 1])))
    return found


def load(name: str):
    return scenario_mod.load(SHIPPED[name])


def ports_of(result) -> dict[int, tuple[str, str]]:
    return {p.port: (str(p.state), p.reason) for h in result.hosts for p in h.ports}


# ---------------------------------------------------------------- up and down

def test_up_and_down_leave_nothing(state_dir):
    before_links = root_links()
    lab = Lab(load("home-nat-forward"))
    assert owned(lab.prefix) == set()
    lab.up()
    try:
        state = json.loads((state_dir / f"{lab.prefix}.json").read_text())
        made = set(state["namespaces"])
        assert made == set(lab.plan.namespaces) and made <= netns_list()
        assert state["status"] == "up" and state["networks"] == ["10.77.0.0/24", "192.168.77.0/24"]
        assert set(state["services"]) == {"laptop", "nas", "printer", "router"}
        pids = list(state["services"].values())
        assert all(run._alive(pid) for pid in pids)
        assert root_links() <= before_links, "the lab must not add links to the root namespace"
        # No route leaves the lab: every namespace's routes point at lab networks only.
        lab_nets = [n.cidr for n in lab.scenario.networks]
        for ns in made:
            routes = subprocess.run(["ip", "-n", ns, "-4", "route"], capture_output=True, text=True).stdout
            for line in routes.splitlines():
                via = line.split(" via ")[1].split()[0] if " via " in line else None
                dest = line.split()[0]
                assert dest == "default" and via or dest != "default", line
                if via:
                    assert any(__import__("ipaddress").ip_address(via) in net for net in lab_nets), (ns, line)
        assert state["sysctls"]["net.ipv4.icmp_ratelimit"] == "1000"     # kernel defaults kept, and on record
        # A scan forgetting netns= must not leave the machine: the root namespace has an
        # unreachable route per lab network (checked with `ip route get`, which sends nothing).
        guards = {tuple(r) for r in state["guard_routes"]}
        assert {c for c, _ in guards} == {"10.77.0.0/24", "192.168.77.0/24"}
        assert guards <= guard_routes()
        if not state["guard_shadowed"]:
            got = subprocess.run(["ip", "-4", "route", "get", "10.77.0.2"], capture_output=True, text=True)
            assert got.returncode != 0 and "No route to host" in got.stderr
    finally:
        lab.down()
    assert owned(lab.prefix) == set()
    assert root_links() <= before_links
    assert not guards & guard_routes(), "the lab's guard routes must go with it"
    assert not (state_dir / f"{lab.prefix}.json").exists()
    time.sleep(0.1)
    assert not any(run._alive(pid) for pid in pids), "service daemons must be stopped"


def test_context_manager_and_scan_from_the_scanner_namespace():
    with Lab(load("single-host")) as lab:
        assert lab.scanner_netns == names.scanner_netns(lab.prefix)
        result = lab.scan("10.77.0.2", [22, 80, 81, 9000, 9002], "connect", timing=4)
    assert ports_of(result) == {22: ("open", "syn-ack"), 80: ("open", "syn-ack"), 81: ("closed", "conn-refused"),
                                9000: ("filtered", "no-response"), 9002: ("closed", "conn-refused")}


def test_ctrl_c_during_up_leaves_nothing(state_dir):
    count = []

    def interrupt(line: str) -> None:
        count.append(line)
        if len(count) == 12:          # part-way: namespaces made, links half done
            raise KeyboardInterrupt

    lab = Lab(load("home-nat"), verbose=interrupt)
    with pytest.raises(KeyboardInterrupt):
        lab.up()
    assert len(count) == 12
    assert owned(lab.prefix) == set()
    assert list(state_dir.glob("*.json")) == []


def test_failed_service_tears_down_with_one_line(state_dir):
    lab = Lab(load("single-host"), python="/nonexistent/python")
    with pytest.raises(LabFailed) as err:
        lab.up()
    assert "service daemon did not start" in str(err.value) and "\n" not in str(err.value)
    assert owned(lab.prefix) == set()
    assert list(state_dir.glob("*.json")) == []


def test_leftovers_of_a_crashed_up_are_cleaned(state_dir):
    # A builder that died half-way: its state file (write-ahead) and one namespace remain.
    prefix = fresh_prefix("plcr")
    ns = names.machine_netns(prefix, "web")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / f"{prefix}.json").write_text(json.dumps(
        {"prefix": prefix, "status": "building", "owner_pid": dead.pid, "namespaces": [ns], "networks": []}))
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        assert [lab["prefix"] for lab in run.lab_status()] == [prefix]
        with Lab(load("ssh-2222")):
            assert ns not in netns_list()
            assert not (state_dir / f"{prefix}.json").exists()
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def test_two_labs_of_one_scenario_coexist():
    s = load("ssh-2222")
    with Lab(s) as a, Lab(s) as b:
        assert a.prefix != b.prefix
        ra = a.scan("10.77.0.10", [2222, 22], "connect", timing=4)
        rb = b.scan("10.77.0.10", [2222, 22], "connect", timing=4)
    assert ports_of(ra) == ports_of(rb) == {2222: ("open", "syn-ack"), 22: ("closed", "conn-refused")}


def test_nat_port_forward_hairpin_and_inbound_block():
    with Lab(load("home-nat-forward")) as lab:
        outside = lab.scan("10.77.0.2", [8080, 80], "connect", timing=4)
        inside = lab.scan("192.168.77.20", [80, 445], "connect", timing=4)
        # From the laptop inside: the NAS directly, and through the router's outside address (hairpin).
        from portlab.engine import scan
        laptop = scan(["192.168.77.20", "10.77.0.2"], [80, 8080], "connect", timing=4, netns=lab.netns("laptop"))
    assert ports_of(outside) == {8080: ("open", "syn-ack"), 80: ("filtered", "no-response")}
    assert ports_of(inside) == {80: ("filtered", "no-response"), 445: ("filtered", "no-response")}
    by_host = {h.address: {p.port: str(p.state) for p in h.ports} for h in laptop.hosts}
    assert by_host["192.168.77.20"][80] == "open"
    assert by_host["10.77.0.2"][8080] == "open"                 # hairpin NAT
    assert by_host["10.77.0.2"][80] == "open"                   # the router's admin page, from inside


def test_udp_scan_of_every_router_address_at_once():
    """The kernel's ICMP bucket belongs to the sending machine (inetpeer keyed by the
    scanner's address), so a router's addresses share one: the UDP scan must pace them
    as one, or some closed ports come out open|filtered."""
    s = load("capstone")
    router = s.machine("core")
    addresses = [str(i.address) for i in router.interfaces]
    ports = [7, 9, 137, 161, 1000, 1001, 1002, 1003]
    with Lab(s) as lab:
        result = lab.scan(addresses, ports, "udp", timing=4, keep_trace=False)
    states = {(h.address, p.port): str(p.state) for h in result.hosts for p in h.ports}
    assert states == {(a, p): ("open" if p == 161 else "closed") for a in addresses for p in ports}


# The measured table (docs/design.md, section 4), reproduced by nmap 7.93 in the lab.  ICMP errors are
# rate-limited per peer (a burst of 6, then 1/s), so each group below holds at most 5
# ICMP-answered ports and runs in a fresh lab (a fresh namespace has a full bucket).
MEASURED = {
    "-sT": {9000: ("filtered", "no-response"), 9001: ("closed", "conn-refused"), 9002: ("closed", "conn-refused"),
            9003: ("filtered", "host-unreach"), 9004: ("filtered", "host-unreach"),
            9005: ("filtered", "net-unreach"), 9006: ("filtered", "host-unreach"),
            9007: ("filtered", "net-unreach"), 9008: ("filtered", "proto-unreach"),
            22: ("open", "syn-ack"), 81: ("closed", "conn-refused")},
    "-sS": {9000: ("filtered", "no-response"), 9001: ("filtered", "port-unreach"), 9002: ("closed", "reset"),
            9003: ("filtered", "host-unreach"), 9004: ("filtered", "admin-prohibited"),
            9005: ("filtered", "net-unreach"), 9006: ("filtered", "host-prohibited"),
            9007: ("filtered", "net-prohibited"), 9008: ("filtered", "proto-unreach"),
            22: ("open", "syn-ack"), 81: ("closed", "reset")},
    "-sU": {9000: ("open|filtered", "no-response"), 9001: ("closed", "port-unreach"),
            9003: ("filtered", "host-unreach"), 9004: ("filtered", "admin-prohibited"),
            9005: ("filtered", "net-unreach"), 9006: ("filtered", "host-prohibited"),
            9007: ("filtered", "net-prohibited"), 9008: ("filtered", "proto-unreach"),
            53: ("open", "udp-response"), 81: ("closed", "port-unreach")},
}
GROUPS = ([22, 81, 9000, 9001, 9002, 9003, 9004, 53], [9005, 9006, 9007, 9008])


@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
@pytest.mark.parametrize("flag", sorted(MEASURED))
def test_nmap_in_the_lab_shows_the_measured_table(flag, tmp_path):
    from portlab import results
    s = load("single-host")
    expected = MEASURED[flag]
    seen: dict[int, tuple[str, str]] = {}
    for group in GROUPS:
        ports = [p for p in group if p in expected]
        out = tmp_path / f"{flag}-{ports[0]}.xml"
        with Lab(s) as lab:
            subprocess.run(lab.exec_argv("scanner", "nmap", "-n", "-Pn", flag, "--reason", "-T4", "-p",
                                         ",".join(map(str, ports)), "-oX", str(out), "10.77.0.2"),
                           check=True, capture_output=True, timeout=120)
        seen.update(ports_of(results.load(out)))
    assert seen == expected


# ---------------------------------------------------------------- the command line

def portlab_cli(*args: str, env=None, user: bool = False) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "portlab", *args]
    if user:
        # Without capabilities (as nobody where the checkout allows): what a student without sudo gets.
        argv = learner_argv(argv)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {}), "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def test_cli_up_status_down(state_dir):
    prefix = fresh_prefix("plcli")
    assert owned(prefix) == set()
    up = portlab_cli("lab", "up", "web-server", "--prefix", prefix)
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith(f"lab {prefix} up: scenario web-server, 4 namespaces")
    try:
        status = portlab_cli("lab", "status")
        assert status.returncode == 0
        first = status.stdout.splitlines()[0].split()
        assert first[:3] == [prefix, "web-server", "up"] and "10.77.0.0/24" in status.stdout
        assert "icmp_ratelimit=1000" in status.stdout
        as_json = json.loads(portlab_cli("lab", "status", "--format", "json").stdout)
        assert [lab["prefix"] for lab in as_json] == [prefix] and as_json[0]["alive"] is True
        # The lab outlives the command that built it (persistent), services included.
        with Lab(load("ssh-2222")) as other:     # a second lab must not be cleaned as a leftover
            pass
        assert (state_dir / f"{prefix}.json").exists()
        again = portlab_cli("lab", "up", "web-server", "--prefix", prefix)
        assert again.returncode == 1 and "already exists" in again.stderr
    finally:
        down = portlab_cli("lab", "down")
    assert down.returncode == 0, down.stderr
    assert down.stdout.startswith(f"lab {prefix} down: 4 namespaces removed")
    assert owned(prefix) == set()
    assert portlab_cli("lab", "status").stdout.strip() == "no lab is running"


@pytest.mark.parametrize("args, code, message", [
    (("lab", "up", "no-such-scenario"), 2, "scenario 'no-such-scenario': no such scenario file"),
    (("lab", "up", "single-host", "--prefix", "Bad-Prefix"), 2, "lab prefix 'Bad-Prefix'"),
])
def test_cli_bad_input_is_one_line(args, code, message):
    done = portlab_cli(*args)
    assert done.returncode == code
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_cli_refuses_a_nat_linux_cannot_build(tmp_path, state_dir):
    text = SHIPPED["home-nat"].read_text().replace('outside = "internet"', 'outside = "internet"\nmapping = "address-dependent"')
    path = tmp_path / "odd-nat.toml"
    path.write_text(text)
    done = portlab_cli("lab", "up", str(path))
    assert done.returncode == 2
    assert "odd-nat.toml: routers[0].nat.mapping: 'address-dependent' cannot be built in the live lab" in done.stderr
    assert done.stdout == "" and not list(state_dir.glob("*.json"))   # refused before anything was built


def test_cli_without_privilege_exits_4(tmp_path):
    done = portlab_cli("lab", "up", "single-host", user=True, env={"PORTLAB_STATE_DIR": str(tmp_path)})
    assert done.returncode == 4, done.stderr
    assert "needs root (or CAP_NET_ADMIN)" in done.stderr and "simulator" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_privilege_in_python(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(run, "_has_net_admin", lambda: False)
    # ...and no user namespace either (tests/test_lab_rootless.py covers the rootless lab).
    from portlab.lab import userns
    monkeypatch.setattr(userns, "kernel_why_not", lambda: "user namespaces are off (user.max_user_namespaces=0)")
    with pytest.raises(MissingPrivilege, match="max_user_namespaces=0"):
        Lab(load("single-host")).up()


def test_cli_record_writes_a_lossless_recording(tmp_path):
    from portlab import results
    out = tmp_path / "recordings"
    done = portlab_cli("record", "ssh-2222", "--out", str(out), "--no-nmap")
    assert done.returncode == 0, done.stderr
    folder = out / "ssh-2222"
    assert done.stdout.strip() == f"recorded ssh-2222 -> {folder}"
    assert sorted(p.name for p in folder.iterdir()) == ["connect.json", "meta.json", "syn.json", "udp.json"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["kernel"] == os.uname().release and meta["nmap"] is None
    syn = results.load(folder / "syn.json")
    ports = {p.port: str(p.state) for h in syn.hosts for p in h.ports}
    assert len(ports) == len(meta["scans"]["syn"]["ports"].split(","))
    assert ports[2222] == "open" and ports[22] == "closed" and ports[80] == "open"
    udp = results.load(folder / "udp.json")
    assert {str(p.state) for h in udp.hosts for p in h.ports} == {"closed"}   # no UDP services, no UDP firewall
    assert not list(tmp_path.glob("recordings/.*")), "no partial directory stays behind"


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGTERM"])
def test_a_lab_up_killed_midway_is_cleaned_by_the_next_down(sig, state_dir):
    """Kill `portlab lab up` while it builds: SIGTERM cleans up at once (as Ctrl-C);
    after SIGKILL nothing could run, so the next `down` finds the write-ahead record
    and removes what was built: namespaces, service processes, guard routes, the file."""
    import signal

    prefix = fresh_prefix(f"plk{sig[-4].lower()}")
    routes_before = guard_routes()
    proc = subprocess.Popen([sys.executable, "-m", "portlab", "lab", "up", "capstone", "--prefix", prefix, "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    try:
        # Wait until part of the lab exists, then kill the builder.
        for _ in range(400):
            if len(owned(prefix)) >= 6:
                break
            time.sleep(0.01)
        proc.send_signal(getattr(signal, sig))
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    if sig == "SIGTERM":
        assert proc.returncode == 130
        assert owned(prefix) == set() and not list(state_dir.glob("*.json"))
    # Whatever runs inside the half-built lab (service daemons) must be gone after down.
    inside = {pid for ns in owned(prefix) for pid in subprocess.run(
        ["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()}
    down = portlab_cli("lab", "down", "--prefix", prefix)
    assert down.returncode in (0, 1), down.stderr
    assert owned(prefix) == set()
    assert not list(state_dir.glob("*.json"))
    assert guard_routes() <= routes_before
    assert not [pid for pid in inside if Path(f"/proc/{pid}").exists()]
