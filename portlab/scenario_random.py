"""Random scenarios, for checking that the simulator and the live lab agree.

:func:`random_scenario` draws a small network from a seed: one to three hosts with
random TCP and UDP services behind random firewalls (every action, every reject
type, sources that do and do not match the scanner), sometimes behind a NAT router
with port forwards.  The same seed always gives the same scenario.  With
``lab_compatible=True`` (the default) it uses only what the live lab can build:
Linux NAT behaviour, and firewall styles that translate to nftables.
:func:`interesting_ports` lists the ports worth scanning so a fidelity check stays
short.  Pure: no I/O.
"""

from __future__ import annotations

import random
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network
from typing import Optional

from .scenario import (NAT_BEHAVIOURS, PORT_ALLOCATIONS, REJECT_TYPES, Firewall, Forward, Host, Interface,
                       Nat, Network, PortSet, Router, Rule, Scanner, Scenario, loads, to_toml)

__all__ = ["random_scenario", "interesting_ports"]

# Well-known ports a learner recognises; random scenarios mix them with high ones.
LOW_PORTS = (21, 22, 23, 25, 53, 80, 110, 123, 135, 139, 143, 161, 443, 445, 993,
             1433, 3306, 3389, 5432, 8080, 8443)
# Ports no rule or service in a random scenario names on purpose, so a scan also
# covers the "nothing here" case (they may still fall in a rule's range).
UNNAMED_PORTS = (1, 7, 1023, 31337, 65535)

SCANNER_ADDRESS = IPv4Address("10.77.0.1")
OUTSIDE = IPv4Network("10.77.0.0/24")
INSIDE = IPv4Network("192.168.77.0/24")


def random_scenario(seed: int, *, lab_compatible: bool = True) -> Scenario:
    """A small random scenario; the same *seed* gives an equal scenario every time.

    ``lab_compatible=False`` also draws NAT behaviours only the simulator models
    (other RFC 4787 mappings, filterings and port allocations, other timeouts).
    """
    rng = random.Random(f"portlab-scenario-{seed}")   # a str seed is stable across Python versions
    with_router = rng.random() < 0.4
    host_count = rng.randint(1, 3)
    scanner_gateway: Optional[IPv4Address] = None
    routers: tuple[Router, ...] = ()
    if with_router:
        networks = (Network("wan", OUTSIDE), Network("lan", INSIDE))
        host_net, host_net_name = INSIDE, "lan"
        gw_out, gw_in = OUTSIDE[254], INSIDE[1]
        scanner_gateway = gw_out
    else:
        networks = (Network("net", OUTSIDE),)
        host_net, host_net_name = OUTSIDE, "net"
    sources = _source_pool(rng)

    hosts = []
    for i in range(host_count):
        address = host_net[10 + i * 10 + rng.randint(0, 5)]
        tcp, udp = _services(rng, rng.randint(0, 5)), _services(rng, rng.randint(0, 3))
        firewall = _firewall(rng, tcp, udp, sources, address) if rng.random() < 0.8 else None
        hosts.append(Host(name=f"h{i + 1}", address=address, network=host_net_name, tcp=tcp, udp=udp,
                          gateway=gw_in if with_router else None, firewall=firewall))

    if with_router:
        router_tcp, router_udp = _services(rng, rng.randint(0, 2)), _services(rng, rng.randint(0, 1))
        router_fw = None
        if rng.random() < 0.5:
            router_fw = _nftables(rng, router_tcp, router_udp, sources, gw_out)
        nat, drop_new = _nat(rng, hosts, set(router_tcp), set(router_udp), lab_compatible)
        if drop_new:
            # The firewall rule a home router adds to its NAT (NAT alone drops nothing).
            router_fw = replace(router_fw or Firewall(), forward_drop_new_from="wan")
        routers = (Router(name="gw", interfaces=(Interface("wan", gw_out), Interface("lan", gw_in)),
                          tcp=router_tcp, udp=router_udp, firewall=router_fw, nat=nat),)

    parts = [f"{host_count} host{'s' if host_count > 1 else ''}"]
    if routers:
        forwards = len(routers[0].nat.forwards)
        parts.append(f"a NAT router with {forwards} forward{'s' if forwards != 1 else ''}")
    scenario = Scenario(
        name=f"random-{seed}"[:24],
        description=f"Random scenario (seed {seed}): {' and '.join(parts)}",
        scanner=Scanner(SCANNER_ADDRESS, "wan" if with_router else "net", scanner_gateway),
        networks=networks, hosts=tuple(hosts), routers=routers)
    # Through the file format and back: this validates the draw with the same rules
    # as a hand-written file and gives the canonical form (sorted ports, Azure's
    # default rules), so loads(to_toml(s)) == s holds for what we return.
    return loads(to_toml(scenario), f"<random scenario {seed}>")


def interesting_ports(scenario: Scenario) -> list[int]:
    """Every port a service, rule or forward names, plus a few that none names.

    Ranges in rules contribute their ends and, when short, every port in them, so a
    scan of this list sees each rule's edge without scanning all 65535 ports.
    """
    ports: set[int] = set()
    for machine in (*scenario.hosts, *scenario.routers):
        ports.update(machine.tcp)
        ports.update(machine.udp)
        if machine.firewall:
            for rule in (*machine.firewall.rules, *machine.firewall.output):
                if rule.ports is not None:
                    ports.update(_edges(rule.ports))
    for router in scenario.routers:
        if router.nat:
            for forward in router.nat.forwards:
                ports.update((forward.port, forward.to_port))
    unnamed = [p for p in UNNAMED_PORTS if p not in ports][:3]
    return sorted(ports | set(unnamed))


def _edges(ports: PortSet) -> set[int]:
    found: set[int] = set()
    for low, high in ports.ranges:
        if high - low < 8:
            found.update(range(low, high + 1))
        else:
            found.update((low, low + 1, (low + high) // 2, high - 1, high))
    return found


def _services(rng: random.Random, count: int) -> tuple[int, ...]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(rng.choice(LOW_PORTS) if rng.random() < 0.6 else rng.randint(1024, 65535))
    return tuple(sorted(ports))


def _source_pool(rng: random.Random) -> list[Optional[IPv4Network]]:
    """Rule sources: some hold the scanner, some do not."""
    return [
        None,                                      # anyone
        IPv4Network(f"{SCANNER_ADDRESS}/32"),      # the scanner itself
        OUTSIDE,                                   # the scanner's network
        IPv4Network("10.77.0.0/25"),               # a half that holds the scanner
        IPv4Network("10.77.0.128/25"),             # the other half
        IPv4Network(f"10.77.0.{rng.randint(200, 250)}/32"),  # an admin that is not the scanner
        IPv4Network("203.0.113.0/24"),             # somewhere else entirely
    ]


def _rule_ports(rng: random.Random, named: list[int]) -> Optional[PortSet]:
    def one() -> int:
        return rng.choice(named) if named and rng.random() < 0.7 else rng.choice(
            (rng.choice(LOW_PORTS), rng.randint(1024, 65535)))

    shape = rng.random()
    if shape < 0.08:
        return None                                # every port
    if shape < 0.65:
        return PortSet.parse(one())
    if shape < 0.82:
        low = min(one(), 65530)
        return PortSet(((low, low + rng.randint(1, 4)),))
    return PortSet.parse([one() for _ in range(rng.randint(2, 3))])


def _firewall(rng: random.Random, tcp, udp, sources, address: IPv4Address) -> Firewall:
    style = rng.random()
    if style < 0.15:
        return _aws(rng, tcp, udp, sources)
    if style < 0.3:
        return _azure(rng, tcp, udp, sources)
    return _nftables(rng, tcp, udp, sources, address)


def _nftables(rng: random.Random, tcp, udp, sources, address: IPv4Address) -> Firewall:
    named = list(tcp) + list(udp)
    rules = []
    for _ in range(rng.randint(1, 6)):
        action = rng.choice(("accept", "drop", "reject", "reject"))   # rejects have eight kinds
        protocol = rng.choice(("tcp", "tcp", "udp", None))
        reject_with = None
        if action == "reject":
            kinds = REJECT_TYPES if protocol == "tcp" else tuple(k for k in REJECT_TYPES if k != "tcp-reset")
            reject_with = rng.choice(kinds)
        destination = None
        if rng.random() < 0.1:
            # A destination that is this machine's address, or one that is not.
            destination = rng.choice((IPv4Network(f"{address}/32"), IPv4Network("10.77.0.99/32")))
        rules.append(Rule(action=action, protocol=protocol, ports=_rule_ports(rng, named),
                          source=rng.choice(sources) if rng.random() < 0.5 else None,
                          destination=destination, reject_with=reject_with))
    stateful = rng.random() < 0.85
    output: tuple[Rule, ...] = ()
    if rng.random() < 0.3:
        # Outbound rules: a C&C block elsewhere; when stateful, also one aimed at the
        # scanner, which the established/related rule must let the replies pass.
        targets = [IPv4Network("203.0.113.66/32")] + ([IPv4Network(f"{SCANNER_ADDRESS}/32")] if stateful else [])
        drawn = []
        for _ in range(rng.randint(1, 2)):
            action = rng.choice(("drop", "reject"))
            drawn.append(Rule(action=action, protocol="tcp", ports=PortSet.parse(rng.choice((4444, 6667, 1337))),
                              destination=rng.choice(targets),
                              reject_with=rng.choice(REJECT_TYPES) if action == "reject" else None))
        output = tuple(drawn)
    return Firewall(style="nftables", policy=rng.choice(("accept", "drop")), rules=tuple(rules),
                    output_policy="accept", output=output, stateful=stateful)


def _aws(rng: random.Random, tcp, udp, sources) -> Firewall:
    named = list(tcp) + list(udp)
    rules = []
    for _ in range(rng.randint(0, 3)):
        protocol = rng.choice(("tcp", "tcp", "udp", None))
        rules.append(Rule("accept", protocol, _rule_ports(rng, named) if protocol else None,
                          source=rng.choice(sources)))
    output = () if rng.random() < 0.2 else (Rule("accept"),)
    return Firewall(style="aws-sg", policy="drop", rules=tuple(rules), output_policy="drop",
                    output=output, stateful=True)


def _azure(rng: random.Random, tcp, udp, sources) -> Firewall:
    named = list(tcp) + list(udp)
    priorities = sorted(rng.sample(range(100, 4097, 10), rng.randint(1, 4)))
    rules = []
    for priority in priorities:
        source = rng.choice([*sources, "Internet", "VirtualNetwork"])
        rules.append(Rule(action=rng.choice(("accept", "drop")), protocol=rng.choice(("tcp", "udp", None)),
                          ports=_rule_ports(rng, named), source=source, priority=priority,
                          name=f"rule{priority}"))
    # to_toml writes only these; loading appends Azure's default rules.
    return Firewall(style="azure-nsg", policy="drop", rules=tuple(rules), output_policy="drop",
                    output=(), stateful=True)


def _nat(rng: random.Random, hosts, router_tcp: set[int], router_udp: set[int],
         lab_compatible: bool) -> tuple[Nat, bool]:
    """The NAT, and whether the router's firewall drops new connections from outside."""
    forwards: list[Forward] = []
    used: set[tuple[str, int]] = set()
    for _ in range(rng.randint(0, 2)):
        host = rng.choice(hosts)
        protocol = rng.choice(("tcp", "tcp", "udp"))
        services = list(host.tcp if protocol == "tcp" else host.udp)
        to_port = rng.choice(services) if services and rng.random() < 0.8 else rng.choice(LOW_PORTS)
        port = to_port if rng.random() < 0.5 else rng.choice((8080, 8443, 2222, rng.randint(1024, 65535)))
        own = router_tcp if protocol == "tcp" else router_udp
        # A forward hides the router's own service on that port; keep them apart so
        # every port has one clear owner.
        if (protocol, port) in used or port in own:
            continue
        used.add((protocol, port))
        forwards.append(Forward(protocol, port, host.address, to_port))
    extra = {}
    if not lab_compatible:
        extra = dict(mapping=rng.choice(NAT_BEHAVIOURS), filtering=rng.choice(NAT_BEHAVIOURS),
                     port_allocation=rng.choice(PORT_ALLOCATIONS),
                     udp_timeout=float(rng.choice((5, 30, 120))), tcp_timeout=float(rng.choice((300, 7440))))
    hairpin = rng.random() < 0.7
    drop_new = rng.random() < 0.8
    return Nat(outside="wan", hairpin=hairpin, forwards=tuple(forwards), **extra), drop_new
