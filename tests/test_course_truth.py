"""What the course states, held against the code and the kernel (issue 22, section 1).

Each test pins one claim a notebook teaches: the RFC 6335 range names; who may bind a
port below 1024 on Linux (a real bind, as nobody, in a network namespace of the
test's own); a SYN scan's RST clearing the target's half-open entry (real packets
in a network namespace of the test's own); Azure's default outbound rules in the
simulator; the conntrack timeout notebook 05 names; one meaning of LIVE everywhere;
one name for 10.77.0.20 in notebook 05.  The namespaces are made with ``unshare``
and die with the process: nothing is left behind, nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from portlab.course.lessons import nb05, nb06
from portlab.course.machine import LIVE_LAB_NEEDS, live
from portlab.ranges import DYNAMIC, RANGES
from portlab.sim import conntrack
from portlab.sim.experiments import outbound_attempt
from unprivileged import NOBODY, _others_can_reach

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def markdown(name: str) -> str:
    """A notebook's prose, its line breaks folded to spaces."""
    nb = json.loads((NOTEBOOKS / name).read_text())
    text = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    return re.sub(r"[ \t]*\n(?!\n)[ \t]*", " ", text)


def code(name: str) -> str:
    nb = json.loads((NOTEBOOKS / name).read_text())
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


# ---------------------------------------------------------------- 01: the ranges

def test_notebook_01_names_the_ranges_as_rfc6335_does():
    text = markdown("01-ports-and-ranges.ipynb")
    for rng in RANGES:
        assert f"**{rng.rfc6335_name} ({rng.lo}-{rng.hi})**" in text
    # IANA's older label is named as such, never as the RFC's name; "ephemeral" is an alias, not an old name.
    assert re.search(rf"IANA's port list called this range the \*{DYNAMIC.older_name}\* before RFC 6335", text)
    assert "IANA's old name" not in text and "Dynamic and/or private ports (" not in text


def _python_for_nobody() -> str:
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3"):
        path = Path(candidate)
        if path.exists() and _others_can_reach(path):
            return str(path.resolve())
    pytest.skip("no Python here that user nobody can run")


BIND = ("import socket, sys\ns = socket.socket()\ntry:\n    s.bind(('127.0.0.1', int(sys.argv[1])))\n"
        "    print('bound')\nexcept PermissionError:\n    print('refused')\n")


@pytest.mark.netns
@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("unshare")
                    or not shutil.which("setpriv"), reason="needs Linux, root, unshare and setpriv")
def test_who_may_bind_below_1024_on_linux():
    """Notebook 01: root or CAP_NET_BIND_SERVICE, or a lowered ip_unprivileged_port_start."""
    python = _python_for_nobody()
    nobody = f"setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups"
    plain = f'{nobody} --inh-caps=-all --ambient-caps=-all {python} -c "$BIND"'
    capable = f'{nobody} --inh-caps=+net_bind_service --ambient-caps=+net_bind_service {python} -c "$BIND"'
    script = (f"ip link set lo up; cat /proc/sys/net/ipv4/ip_unprivileged_port_start; {plain} 80; {capable} 80; "
              f"sysctl -qw net.ipv4.ip_unprivileged_port_start=80; {plain} 80; {plain} 79")
    # A network namespace of the test's own (unshare -n): the sysctl is per namespace and
    # dies with it, so the machine's own setting is never touched.
    done = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "BIND": BIND}, cwd="/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1024", "refused", "bound", "bound", "refused"]


# ---------------------------------------------------------------- 03: the half-open entry

HALF_OPEN = textwrap.dedent('''
    import socket, time
    from portlab.packets import PROTO_TCP, RST, SYN, build_ipv4, build_tcp
    HERE, PEER = "10.200.0.1", "10.200.0.2"
    server = socket.socket(); server.bind((HERE, 0)); server.listen(8)
    port = server.getsockname()[1]
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    def send(flags, seq):
        raw.sendto(build_ipv4(PEER, HERE, PROTO_TCP, build_tcp(PEER, HERE, 40000, port, seq=seq, flags=flags)),
                   (HERE, 0))
    def half_open():   # entries in state SYN_RECV (03) on the listening port
        rows = [line.split() for line in open("/proc/net/tcp").read().splitlines()[1:]]
        return sum(1 for r in rows if int(r[1].split(":")[1], 16) == port and r[3] == "03")
    send(SYN, 1000); time.sleep(0.3); after_syn = half_open()
    time.sleep(1.0); a_second_later = half_open()
    send(RST, 1001); time.sleep(0.3); after_rst = half_open()
    print(after_syn, a_second_later, after_rst)
''')


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("unshare") or not shutil.which("ip"),
                    reason="needs Linux, unshare and ip")
def test_a_syn_scans_rst_removes_the_targets_half_open_entry():
    """Notebook 03: the target keeps a SYN_RECV entry while it waits for the ACK; the RST
    (sequence number = the SYN's + 1, as a scanner's kernel sends it) removes it at once.

    In a user and network namespace of the test's own: the target's address sits on
    loopback, and the peer's address is routed into loopback too, where no host has it,
    so the SYN/ACK goes nowhere and nobody answers it but the test."""
    setup = ("ip link set lo up && ip addr add 10.200.0.1/32 dev lo && ip route add 10.200.0.2/32 dev lo && "
             f"exec {sys.executable} -c \"$0\"")
    done = subprocess.run(["unshare", "-rn", "sh", "-c", setup, HALF_OPEN], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if done.returncode != 0 and "unshare" in done.stderr:
        pytest.skip(f"no user namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1", "0"]


# ---------------------------------------------------------------- 05: one name, one timeout

def test_notebook_05_gives_10_77_0_20_one_name():
    text = markdown("05-firewalls.ipynb")
    mentions = [m.start() for m in re.finditer(r"10\.77\.0\.20", text)]
    assert mentions and all("app server" in text[i - 15:i] for i in mentions)
    # The update server is 198.51.100.7 wherever it appears (sections 4 and 6).
    assert "10.77.0.20" not in code("05-firewalls.ipynb") and code("05-firewalls.ipynb").count("198.51.100.7") >= 3


def test_notebook_05_states_the_conntrack_timeout_the_simulator_keeps():
    """Notebook 05: hosts and routers keep an established TCP flow 432000 s, as Linux does;
    a router's NAT row lives as long as the conntrack entry it is on Linux."""
    from portlab.sim.network import SimNetwork
    text = markdown("05-firewalls.ipynb")
    assert conntrack.TCP_ESTABLISHED_TIMEOUT == 432000.0
    router = SimNetwork(nb05.with_internet("web-server")).machine("edge")
    assert router.nat.timeouts["tcp"] == conntrack.TCP_ESTABLISHED_TIMEOUT
    assert "432000 s" in text and "net.netfilter.nf_conntrack_tcp_timeout_established" in text
    assert "2 hours and 4 minutes" in text and "RFC 5382" in text
    assert "docs/design.md" in text and "design notes" not in text


# ---------------------------------------------------------------- 06: cloud defaults

def test_an_nsg_holds_azures_three_outbound_defaults():
    rules = nb06.nsg_rules("cloud-nsg", direction="outbound")
    assert list(zip(rules["priority"], rules["name"], rules["action"])) == [
        (65000, "AllowVnetOutBound", "allow"), (65001, "AllowInternetOutBound", "allow"),
        (65500, "DenyAllOutBound", "deny")]
    assert list(rules["destination"]) == ["VirtualNetwork", "Internet", "*"]
    inbound = nb06.nsg_rules("cloud-nsg")
    assert list(inbound["name"][-3:]) == ["AllowVnetInBound", "AllowAzureLoadBalancerInBound", "DenyAllInBound"]


def test_the_outbound_defaults_let_a_cc_call_out_until_a_rule_of_ones_own_stops_it():
    open_net = nb06.online("cloud-nsg")
    call = outbound_attempt(open_net, "vm", "203.0.113.66", 4444)
    assert call.allowed and "AllowInternetOutBound" in call.rule
    neighbour = outbound_attempt(open_net, "vm", "10.77.10.1", 22)
    assert "AllowVnetOutBound" in neighbour.rule
    locked = nb06.online(nb06.with_outbound([
        {"priority": 100, "name": "AllowUpdates", "action": "allow", "protocol": "tcp", "ports": "443",
         "destination": "198.51.100.7"},
        {"priority": 4000, "name": "DenyInternetOut", "action": "deny", "destination": "Internet"}]))
    blocked = outbound_attempt(locked, "vm", "203.0.113.66", 443)
    assert blocked.outcome == "dropped" and "DenyInternetOut" in blocked.rule
    assert outbound_attempt(locked, "vm", "198.51.100.7", 443).allowed
    # Azure's defaults still follow the rules written.
    assert list(nb06.nsg_rules(locked, direction="outbound")["name"][-3:]) == [
        "AllowVnetOutBound", "AllowInternetOutBound", "DenyAllOutBound"]


def test_notebook_06_teaches_the_defaults_as_they_are():
    text = markdown("06-cloud-firewalls.ipynb")
    for name in ("AllowVnetOutBound", "AllowInternetOutBound", "DenyAllOutBound"):
        assert name in text
    assert "peered VNets" in text and "ExpressRoute" in text            # VirtualNetwork is wider than the VNet
    assert "*default* security group" in text and "member of the same group" in text


def test_bad_direction_and_missing_router_are_one_line():
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match="^direction 'sideways': expected inbound or outbound$"):
        nb06.nsg_rules(direction="sideways")
    with pytest.raises(BadInput, match="has no router 'core'"):
        nb06.online(router="core")


# ---------------------------------------------------------------- LIVE, one meaning

OWN_WITH_LIVE = ("00-start-here.ipynb", "03-scan-types.ipynb", "05-firewalls.ipynb", "10-capstone.ipynb")


@pytest.mark.parametrize("name", OWN_WITH_LIVE)
def test_live_is_said_one_way(name):
    text = markdown(name)
    assert LIVE_LAB_NEEDS in text
    # No sentence ties LIVE to root alone.
    for sentence in re.split(r"(?<=[.:;)])\s", text):
        if "LIVE" in sentence and re.search(r"\broot\b", sentence):
            assert "user namespace" in sentence or "tcpdump" in sentence, sentence


def test_the_readme_says_it_the_same_way():
    text = re.sub(r"\s*\n\s*", " ", (ROOT / "README.md").read_text())
    assert LIVE_LAB_NEEDS in text


def test_a_live_cell_with_a_reason_of_its_own_skips_and_says_it(capsys):
    assert live("live-loopback", why_not="the experiment needs tcpdump") is False
    said = capsys.readouterr().out
    assert said.startswith("LIVE cell skipped: the experiment needs tcpdump.") and said.count("\n") == 1
    assert live("live-loopback") is True and capsys.readouterr().out == ""
