"""Scenario firewalls and NAT as nftables ruleset text.  Pure: text in, text out.

One ``inet`` table per machine, named ``portlab``, with ``input`` and ``output``
base chains (and, on a router whose firewall has ``forward_drop_new_from``, a
``forward`` chain); a NAT router also gets an ``ip portlab_nat`` table, which
translates and filters nothing.
AWS security groups and Azure NSGs arrive from :mod:`portlab.scenario` already
as ordered rule lists with a default policy (allow-union + drop; priority-ordered
accept/drop with the defaults appended), so they translate rule by rule like
native nftables rules.

Azure service tags are resolved against the machine's own networks:
``VirtualNetwork`` is those networks, ``Internet`` everything else,
``AzureLoadBalancer`` matches nothing in a scenario (no load balancer exists).
"""

from __future__ import annotations

import ipaddress
from typing import Iterable, Optional, Sequence

from ..errors import BadInput

TABLE = "portlab"
NAT_TABLE = "portlab_nat"

# nftables' names for the ICMP destination-unreachable codes a reject can send.
ICMP_REJECT_TYPES = {
    "port-unreachable": "port-unreachable",
    "host-unreachable": "host-unreachable",
    "admin-prohibited": "admin-prohibited",
    "net-unreachable": "net-unreachable",
    "host-prohibited": "host-prohibited",
    "net-prohibited": "net-prohibited",
    "prot-unreachable": "prot-unreachable",
}

# The only NAT Linux builds; other RFC 4787 behaviours exist only in the simulator.
LINUX_NAT = {
    "mapping": "endpoint-independent",
    "filtering": "address-and-port-dependent",
    "port_allocation": "preserve",
}

_ANY_TAGS = {"*", "any", "Any"}
_NOTHING_TAGS = {"AzureLoadBalancer"}


class _MatchesNothing(Exception):
    """A rule whose address matches no packet in a scenario: leave it out."""


def _ports(ports) -> str:
    """A PortSet as an nft expression: ``22`` or ``{ 22, 80, 9000-9010 }``."""
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in ports.ranges]
    return parts[0] if len(parts) == 1 else "{ " + ", ".join(parts) + " }"


def _nets(nets: Sequence[ipaddress.IPv4Network]) -> str:
    parts = [str(n) for n in nets]
    return parts[0] if len(parts) == 1 else "{ " + ", ".join(parts) + " }"


def _address(field: str, value, own: Sequence[ipaddress.IPv4Network], where: str) -> str:
    """``ip saddr …`` for a rule's source/destination (CIDR or Azure tag); '' = any."""
    if value is None:
        return ""
    if isinstance(value, str):
        if value in _ANY_TAGS:
            return ""
        if value in _NOTHING_TAGS:
            raise _MatchesNothing
        if value == "VirtualNetwork":
            return f"ip {field} {_nets(own)}" if own else ""
        if value == "Internet":
            if not own:
                return ""
            return f"ip {field} != {_nets(own)}"
        try:
            value = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise BadInput(f"{where}: service tag {value!r} cannot be built in the live lab "
                           "(expected a CIDR, '*', VirtualNetwork, Internet or AzureLoadBalancer)") from None
    return f"ip {field} {value}"


def rule_text(rule, own: Sequence[ipaddress.IPv4Network] = (), where: str = "rule") -> Optional[str]:
    """One scenario Rule as one nft rule line, or None if it can match nothing."""
    words: list[str] = []
    try:
        for field, value in (("saddr", rule.source), ("daddr", rule.destination)):
            text = _address(field, value, own, where)
            if text:
                words.append(text)
    except _MatchesNothing:
        return None
    protocol = rule.protocol
    if protocol not in (None, "tcp", "udp"):
        raise BadInput(f"{where}: protocol {protocol!r} (expected tcp, udp or any)")
    if rule.ports is not None:
        if protocol is None:
            # Both protocols; `th` is the transport header whichever it is.
            words.append(f"meta l4proto {{ tcp, udp }} th dport {_ports(rule.ports)}")
        else:
            words.append(f"{protocol} dport {_ports(rule.ports)}")
    elif protocol is not None:
        words.append(f"meta l4proto {protocol}")
    action = rule.action
    if action in ("accept", "drop"):
        words.append(action)
    elif action == "reject":
        kind = rule.reject_with or "port-unreachable"
        if kind == "tcp-reset":
            if protocol != "tcp":
                # A RST only answers TCP; nft would refuse the rule without a tcp match.
                raise BadInput(f"{where}: reject with tcp-reset needs protocol = \"tcp\"")
            words.append("reject with tcp reset")
        elif kind == "port-unreachable":
            # Plain `reject` is what the design table measured: icmp port-unreachable.
            words.append("reject")
        elif kind in ICMP_REJECT_TYPES:
            words.append(f"reject with icmp type {ICMP_REJECT_TYPES[kind]}")
        else:
            raise BadInput(f"{where}: reject with {kind!r} (expected one of "
                           f"{', '.join(['tcp-reset', *ICMP_REJECT_TYPES])})")
    else:
        raise BadInput(f"{where}: action {action!r} (expected accept, drop or reject)")
    return " ".join(words)


def _policy(value: str, where: str) -> str:
    if value not in ("accept", "drop"):
        raise BadInput(f"{where}: policy {value!r} (expected accept or drop)")
    return value


def _chain(name: str, hook: str, policy: str, stateful: bool, rules: Iterable, own, where: str) -> list[str]:
    lines = [f"\tchain {name} {{",
             f"\t\ttype filter hook {hook} priority filter; policy {_policy(policy, where)};"]
    if stateful:
        # Replies to flows this machine allowed pass before any rule is asked.
        lines.append("\t\tct state established,related accept")
    for i, rule in enumerate(rules):
        text = rule_text(rule, own, f"{where}.{name}[{i}]")
        if text is not None:
            lines.append(f"\t\t{text}")
    lines.append("\t}")
    return lines


def forward_lines(firewall, ifnames: Optional[dict[str, str]] = None, where: str = "firewall") -> list[str]:
    """The rules of a router's forward chain: its firewall's ``forward_drop_new_from``.

    A new connection arriving on that network's interface and passing through the
    router is dropped, unless the NAT's prerouting DNAT'ed it (a port forward: the
    owner opened that door on purpose).  Replies and the rest of connections the inside
    opened are ``ct state established``, so they pass.  *ifnames* maps the router's
    network names to its interface names.
    """
    network = getattr(firewall, "forward_drop_new_from", None)
    if network is None:
        return []
    ifname = (ifnames or {}).get(network)
    if ifname is None:
        raise BadInput(f"{where}.forward_drop_new_from: {network!r} is not one of the router's networks")
    return [f'iifname "{ifname}" ct state new ct status dnat accept',
            f'iifname "{ifname}" ct state new drop']


def firewall_ruleset(firewall, own: Sequence[ipaddress.IPv4Network] = (), where: str = "firewall",
                     ifnames: Optional[dict[str, str]] = None) -> str:
    """The ``inet portlab`` table for a machine's firewall (None = accept everything).

    *own* are the machine's networks (to resolve Azure's VirtualNetwork / Internet).
    *ifnames* (a router: network name -> interface name) places the firewall's
    ``forward_drop_new_from`` rule in a forward chain (:func:`forward_lines`).
    """
    if firewall is None:
        return ""
    lines = [f"table inet {TABLE} {{"]
    lines += _chain("input", "input", firewall.policy, firewall.stateful, firewall.rules, own, where)
    lines += _chain("output", "output", firewall.output_policy, firewall.stateful, firewall.output, own, where)
    forward = forward_lines(firewall, ifnames, where)
    if forward:
        lines.append("\tchain forward {")
        lines.append("\t\ttype filter hook forward priority filter; policy accept;")
        lines += [f"\t\t{line}" for line in forward]
        lines.append("\t}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def check_nat(nat, where: str = "nat") -> None:
    """Refuse NAT behaviours Linux cannot build (the simulator alone models them)."""
    for key, linux in LINUX_NAT.items():
        value = getattr(nat, key)
        if value != linux:
            raise BadInput(f"{where}.{key}: {value!r} cannot be built in the live lab "
                           f"(Linux NAT is {key} = {linux!r}; use the simulator for this one)")


def nat_ruleset(nat, outside_if: str, outside_addr: ipaddress.IPv4Address,
                inside: Sequence[tuple[str, ipaddress.IPv4Network]], where: str = "nat") -> str:
    """The ``ip portlab_nat`` table text: translation only, no filtering.

    *inside* is (interface, network) for each of the router's other interfaces.
    Masquerade on the outside interface; a DNAT per forward (from the outside,
    and from the inside too when hairpin is on, plus a masquerade so the hairpin
    reply comes back through the router).  Whether new connections from outside may
    pass through is the router's firewall (:func:`forward_lines`), not NAT.
    """
    check_nat(nat, where)
    pre: list[str] = []
    post: list[str] = [f'oifname "{outside_if}" masquerade']
    for i, fwd in enumerate(nat.forwards):
        if fwd.protocol not in ("tcp", "udp"):
            raise BadInput(f"{where}.forwards[{i}]: protocol {fwd.protocol!r} (expected tcp or udp)")
        target = f"{fwd.to_address}:{fwd.to_port}"
        match = f"ip daddr {outside_addr} {fwd.protocol} dport {fwd.port}"
        if nat.hairpin:
            pre.append(f"{match} dnat to {target}")
            for ifname, net in inside:
                if fwd.to_address in net:
                    # The inside client would get the reply straight from the server
                    # and drop it; masquerading makes the reply return via the router.
                    post.insert(0, f'oifname "{ifname}" ip saddr {net} ip daddr {fwd.to_address} '
                                   f'{fwd.protocol} dport {fwd.to_port} ct status dnat masquerade')
        else:
            pre.append(f'iifname "{outside_if}" {match} dnat to {target}')
    lines = [f"table ip {NAT_TABLE} {{",
             "\tchain prerouting {",
             "\t\ttype nat hook prerouting priority dstnat; policy accept;"]
    lines += [f"\t\t{line}" for line in pre]
    lines += ["\t}", "\tchain postrouting {",
              "\t\ttype nat hook postrouting priority srcnat; policy accept;"]
    lines += [f"\t\t{line}" for line in post]
    lines += ["\t}", "}"]
    return "\n".join(lines) + "\n"
