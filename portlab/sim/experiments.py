"""What-if experiments for the course, on the simulated network.

* :func:`outbound_attempt` -- a machine inside tries to reach an address (say a
  command-and-control server) past its own outbound rules: allowed, dropped (the
  program waits until ``connect()`` times out) or rejected (the errno it gets).
* :func:`nat_exposure` -- scan a NAT router's outside address before and after a
  change (a port forward): what the outside world can now reach.
* :func:`nat_table_after` -- the NAT table after some inside machines opened
  connections, for a notebook to show as a DataFrame.
"""

from __future__ import annotations

import errno as _errno
import ipaddress
import random
from dataclasses import dataclass, replace
from typing import Iterable, Optional, Sequence

from ..errors import BadInput
from . import kernel
from .kernel import ICMP, LOCAL_ERROR, RST, SYN_ACK, UDP_REPLY
from .nat import NatTable
from .network import NO_NEIGHBOUR, Answer, SimNetwork, load_scenario

#: How long Linux's connect() waits for a SYN that is never answered:
#: tcp_syn_retries = 6, so 1 + 2 + 4 + 8 + 16 + 32 s between tries, then 64 s more.
CONNECT_TIMEOUT_S = 127.0
#: Linux's default ephemeral port range (net.ipv4.ip_local_port_range).
EPHEMERAL = (32768, 60999)


@dataclass(frozen=True)
class OutboundResult:
    """The fate of one outbound attempt.

    *outcome* is ``"allowed"`` (connected / answered), ``"dropped"`` (nothing came
    back: a TCP ``connect()`` times out after ``waited_s``) or ``"rejected"`` (the
    call failed at once with *errno*).  *rule* is the decision of the sending
    machine's own output chain, when it has a firewall.  *trace* is the walk, hop by hop.
    """

    host: str
    destination: str
    port: int
    protocol: str
    outcome: str
    errno: Optional[int]
    waited_s: float
    rule: Optional[str]
    trace: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.outcome == "allowed"

    @property
    def errno_name(self) -> Optional[str]:
        return _errno.errorcode.get(self.errno) if self.errno is not None else None

    def __str__(self) -> str:
        what = f"{self.host} -> {self.destination}:{self.port}/{self.protocol}: {self.outcome}"
        if self.outcome == "rejected":
            what += f" ({self.errno_name}: {_errno_text(self.errno)})"
        elif self.outcome == "dropped":
            what += f" (no answer; gives up after {self.waited_s:g} s)"
        if self.rule:
            what += f"; {self.host}'s output chain: {self.rule}"
        return what


def _errno_text(err: Optional[int]) -> str:
    import os
    return os.strerror(err) if err is not None else ""


def _address(net: SimNetwork, value) -> str:
    """A machine name or an address, as an address string."""
    text = str(value)
    if text in net.machines:
        return str(ipaddress.IPv4Address(next(iter(net.machines[text].addresses))))
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise BadInput(f"destination {text!r}: expected an IPv4 address or a machine of scenario "
                       f"{net.scenario.name} ({', '.join(net.machines)})") from None


def _protocol(protocol: str) -> str:
    if protocol not in ("tcp", "udp"):
        raise BadInput(f"protocol {protocol!r}: expected tcp or udp")
    return protocol


def _port(port) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise BadInput(f"port {port!r}: expected a whole number 1-65535")
    return port


def outcome_of(answer: Answer, protocol: str) -> tuple[str, Optional[int], float]:
    """``(outcome, errno, seconds waited)`` for what a program's socket call would see."""
    kind = answer.kind
    if kind in (SYN_ACK, UDP_REPLY):
        return "allowed", None, 0.0
    if kind == RST:
        return "rejected", _errno.ECONNREFUSED, 0.0
    if kind == ICMP:
        return "rejected", kernel.connect_errno(answer.icmp_code), 0.0
    if kind == LOCAL_ERROR:
        return "rejected", answer.errno, 0.0
    if kind == NO_NEIGHBOUR:
        return "rejected", _errno.EHOSTUNREACH, 3.0
    return "dropped", None, CONNECT_TIMEOUT_S if protocol == "tcp" else 0.0


def outbound_attempt(scenario, host: str, dest, port: int, protocol: str = "tcp", *,
                     seed: int = 0) -> OutboundResult:
    """Machine *host* of *scenario* (a Scenario, a file or a shipped name) tries to reach
    *dest*:*port*; see :class:`OutboundResult`.

    A destination outside every scenario network is "the Internet": if the packet
    gets out, the remote accepts (so a rule is the only thing that can stop it).
    """
    net = SimNetwork(load_scenario(scenario), seed=seed)
    machine = net.machine(host)
    destination = _address(net, dest)
    protocol = _protocol(protocol)
    sport = random.Random(seed).randint(*EPHEMERAL)
    answer = net.send(machine.name, destination, _port(port), protocol, sport=sport, record=True)
    outcome, err, waited = outcome_of(answer, protocol)
    prefix = f"{machine.name} output: "
    rule = next((line[len(prefix):] for line in answer.path if line.startswith(prefix)), None)
    return OutboundResult(machine.name, destination, port, protocol, outcome, err, waited, rule, answer.path)


# --- NAT ------------------------------------------------------------------------------

def _nat_router(scenario):
    routers = [r for r in scenario.routers if r.nat is not None]
    if len(routers) != 1:
        raise BadInput(f"scenario {scenario.name} has {len(routers)} NAT routers (expected exactly one)")
    return routers[0]


def _as_forward(value):
    from ..scenario import Forward
    if isinstance(value, Forward):
        return value
    if isinstance(value, dict):
        protocol, port, to = value.get("protocol", "tcp"), value["port"], value["to"]
    else:
        protocol, port, to = value
    address, _, to_port = str(to).partition(":")
    return Forward(protocol, int(port), ipaddress.IPv4Address(address), int(to_port or port))


def with_forwards(scenario, forwards: Iterable) -> object:
    """*scenario* with *forwards* added to its NAT router: ``("tcp", 8080, "192.168.77.20:80")``,
    ``{"protocol": "tcp", "port": 8080, "to": "192.168.77.20:80"}`` or :class:`~portlab.scenario.Forward`."""
    router = _nat_router(scenario)
    nat = replace(router.nat, forwards=tuple(router.nat.forwards) + tuple(_as_forward(f) for f in forwards))
    routers = tuple(replace(r, nat=nat) if r is router else r for r in scenario.routers)
    return replace(scenario, routers=routers)


def _exposure_ports(*scenarios) -> list[int]:
    """1-1024 (the system ports), plus the NAT router's own services and the outside
    ports its forwards open: every port of the outside address that could answer.
    (The inside machines' services are not ports of that address.)"""
    ports = set(range(1, 1025))
    for scenario in scenarios:
        router = _nat_router(scenario)
        ports.update(router.tcp)
        ports.update(router.udp)
        ports.update(f.port for f in router.nat.forwards)
    return sorted(ports)


def nat_exposure(scenario_before, scenario_after=None, *, forwards: Optional[Sequence] = None,
                 ports=None, scan_type: str = "syn", everything: bool = False):
    """Scan the NAT router's outside address from the scanner, before and after a change.

    Give the changed scenario as *scenario_after*, or the *forwards* to add.  *ports*
    defaults to 1-1024 plus the router's own service ports and its forwards' outside
    ports, in both scenarios (for the home-nat pair: 1-1024 and 8080, 1025 ports).
    Returns a DataFrame, one row a port: ``port, protocol, before, before_reason,
    after, after_reason, changed, leads_to`` (the inside address:port a forward
    sends it to), with only the ports that changed or are open on either side
    unless *everything*.
    """
    import pandas as pd

    from ..engine import scan

    before = load_scenario(scenario_before)
    if scenario_after is None:
        if forwards is None:
            raise BadInput("nat_exposure: give scenario_after or forwards=[...] (expected one of them)")
        after = with_forwards(before, forwards)
    else:
        after = load_scenario(scenario_after)
    router = _nat_router(after)
    outside = str(router.interface(router.nat.outside).address)
    port_list = list(ports) if ports is not None else _exposure_ports(before, after)
    results = {}
    for label, scenario in (("before", before), ("after", after)):
        result = scan(outside, port_list, scan_type, scenario=scenario, keep_trace=False, randomize=False)
        results[label] = {p.port: p for p in result.hosts[0].ports}
    protocol = "udp" if scan_type == "udp" else "tcp"
    leads = {f.port: f"{f.to_address}:{f.to_port}" for f in router.nat.forwards if f.protocol == protocol}
    rows = []
    for port in sorted(results["before"]):
        b, a = results["before"][port], results["after"][port]
        changed = (b.state, b.reason) != (a.state, a.reason)
        if not (everything or changed or "open" in (str(b.state), str(a.state))):
            continue
        rows.append({"target": outside, "port": port, "protocol": protocol,
                     "before": str(b.state), "before_reason": b.reason,
                     "after": str(a.state), "after_reason": a.reason,
                     "changed": changed, "leads_to": leads.get(port)})
    columns = ["target", "port", "protocol", "before", "before_reason", "after", "after_reason",
               "changed", "leads_to"]
    return pd.DataFrame(rows, columns=columns)


def nat_table_after(scenario, connections: Sequence[tuple], *, interval: float = 1.0,
                    seed: int = 0, router: Optional[str] = None) -> NatTable:
    """The NAT table after inside machines open *connections*, one every *interval*
    seconds of virtual time.

    Each connection is ``(inside_host, remote, port, protocol)`` or with a fifth item,
    the source port (else an ephemeral port drawn from Linux's range with *seed*).
    *remote* is an address or a machine name.  Returns the router's
    :class:`~portlab.sim.nat.NatTable` (``entries()``, ``to_dataframe()``); its
    network (with the clock) is ``table.network``.
    """
    net = SimNetwork(load_scenario(scenario), seed=seed)
    rng = random.Random(seed)
    table = net.nat_table(router)
    for i, connection in enumerate(connections):
        if len(connection) not in (4, 5):
            raise BadInput(f"connections[{i}]: {connection!r} (expected (inside_host, remote, port, protocol)"
                           " or with a source port as fifth item)")
        host, remote, port, protocol = connection[:4]
        sport = connection[4] if len(connection) == 5 else rng.randint(*EPHEMERAL)
        if i:
            net.clock.advance(interval)
        net.send(host, _address(net, remote), _port(port), _protocol(protocol), sport=_port(sport), record=True)
    table.network = net  # type: ignore[attr-defined]
    return table
