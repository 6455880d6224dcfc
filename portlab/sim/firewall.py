"""Firewall decisions for the three styles a scenario can use.  Pure: no I/O.

All three arrive from :mod:`portlab.scenario` as one shape, an ordered rule list
plus a default policy per direction, so one evaluator serves them:

* **nftables** -- rules in order, first match wins, then the chain's policy.
  ``stateful`` puts ``ct state established,related accept`` first in both chains;
  that part is decided by the caller (:mod:`portlab.sim.network`), which knows
  whether a packet belongs to a tracked flow.  Here only *new* packets are judged.
* **aws-sg** -- allow rules only, their union: every rule accepts, so the order
  cannot change the result; whatever no rule allows is dropped.  Stateful.
* **azure-nsg** -- rules sorted by priority with Azure's defaults appended, first
  match wins, ``allow`` / ``deny`` (deny = drop).  Stateful.  The service tag
  ``VirtualNetwork`` is taken to be the machine's own network(s); in Azure it also
  covers peered virtual networks and on-premises ranges, which a scenario does not
  have.  ``Internet`` is every address outside the machine's own networks, the
  reading :func:`portlab.scenario.match_address` and the live lab share (a scanner
  on another scenario network reaches an Azure VM the way the Internet does).

For speed (a full-range scan asks 65535 questions), rules are compiled once:
port sets become sorted ``(lo, hi)`` tuples and CIDRs become integer
``(network, mask)`` pairs.  :meth:`CompiledFirewall.decide` also returns the port
range around the asked port for which the answer cannot change, so a caller can
answer a whole range of ports from one evaluation.
"""

from __future__ import annotations

import bisect
import ipaddress
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Optional, Sequence

from .kernel import ICMP_CODE_NAMES, ICMP_PORT_UNREACH, REJECT_CODES

INBOUND = "in"
OUTBOUND = "out"

ACCEPT = "accept"
DROP = "drop"
REJECT = "reject"


class Action(NamedTuple):
    """A firewall's decision on one packet.

    *icmp_code* is set for ICMP rejects; a ``reject with tcp reset`` has
    ``kind="reject"`` and ``icmp_code=None``.  *rule* says which rule decided
    (``"rules[2]"``, ``"policy"``) for traces and teaching.
    """

    kind: str
    icmp_code: Optional[int] = None
    rule: str = "policy"

    @property
    def is_reset(self) -> bool:
        return self.kind == REJECT and self.icmp_code is None

    def describe(self) -> str:
        if self.kind != REJECT:
            return f"{self.kind} ({self.rule})"
        how = "tcp-reset" if self.icmp_code is None else _code_name(self.icmp_code)
        return f"reject with {how} ({self.rule})"


def _code_name(code: int) -> str:
    return ICMP_CODE_NAMES.get(code, str(code))


ALL_PORTS = (0, 65535)


class AddressMatch(NamedTuple):
    """Integer networks to test an address against; *negate* turns "in any" into "in none"."""

    nets: tuple[tuple[int, int], ...]
    negate: bool = False

    def __call__(self, address: int) -> bool:
        inside = any(address & mask == net for net, mask in self.nets)
        return inside != self.negate


def _as_int_net(network: ipaddress.IPv4Network) -> tuple[int, int]:
    return int(network.network_address), int(network.netmask)


def compile_address(value, own_networks: Sequence[ipaddress.IPv4Network]) -> Optional[AddressMatch]:
    """A rule's source/destination as an :class:`AddressMatch`; ``None`` means any address."""
    if value is None:
        return None
    if isinstance(value, str):
        tag = value.strip()
        if tag in ("*", "any", "Any", ""):
            return None
        if tag == "VirtualNetwork":
            return AddressMatch(tuple(_as_int_net(n) for n in own_networks))
        if tag == "Internet":
            return AddressMatch(tuple(_as_int_net(n) for n in own_networks), negate=True)
        value = ipaddress.ip_network(tag, strict=False)
    if isinstance(value, (ipaddress.IPv4Address,)):
        value = ipaddress.ip_network(value)
    return AddressMatch((_as_int_net(value),))


def _port_ranges(ports) -> Optional[tuple[tuple[int, int], ...]]:
    if ports is None:
        return None
    ranges = getattr(ports, "ranges", None)
    if ranges is None:  # a plain iterable of ints (tests, hand-built rules)
        ranges = tuple((p, p) for p in sorted(set(ports)))
    return tuple(sorted((int(a), int(b)) for a, b in ranges))


@dataclass(frozen=True)
class CompiledRule:
    action: Action
    protocol: Optional[str]
    ports: Optional[tuple[tuple[int, int], ...]]
    starts: Optional[tuple[int, ...]]     # the range starts, for bisect
    source: Optional[AddressMatch]
    destination: Optional[AddressMatch]

    def port_window(self, port: int) -> tuple[bool, int, int]:
        """Does *port* match, and the widest range around it with the same answer."""
        if self.ports is None:
            return True, ALL_PORTS[0], ALL_PORTS[1]
        i = bisect.bisect_right(self.starts, port) - 1
        if i >= 0:
            lo, hi = self.ports[i]
            if port <= hi:
                return True, lo, hi
            gap_lo = hi + 1
        else:
            gap_lo = ALL_PORTS[0]
        gap_hi = self.ports[i + 1][0] - 1 if i + 1 < len(self.ports) else ALL_PORTS[1]
        return False, gap_lo, gap_hi


def compile_rule(rule, index: int, own_networks) -> CompiledRule:
    action_name = (rule.action or "").lower()
    if action_name in ("allow",):
        action_name = ACCEPT
    if action_name in ("deny",):
        action_name = DROP
    if action_name == REJECT:
        with_ = getattr(rule, "reject_with", None) or "port-unreachable"
        if with_ not in REJECT_CODES:
            raise ValueError(f"unknown reject type {with_!r}")
        action = Action(REJECT, REJECT_CODES[with_], f"rules[{index}]")
    elif action_name in (ACCEPT, DROP):
        action = Action(action_name, None, f"rules[{index}]")
    else:
        raise ValueError(f"unknown firewall action {rule.action!r}")
    name = getattr(rule, "name", None)
    if name:
        action = action._replace(rule=f"rules[{index}] {name}")
    protocol = rule.protocol if rule.protocol not in (None, "*", "all", "any") else None
    ports = _port_ranges(rule.ports)
    return CompiledRule(
        action=action,
        protocol=protocol,
        ports=ports,
        starts=tuple(a for a, _ in ports) if ports is not None else None,
        source=compile_address(getattr(rule, "source", None), own_networks),
        destination=compile_address(getattr(rule, "destination", None), own_networks),
    )


class Decision(NamedTuple):
    """Which rule of a chain decided a packet: its *index* in the chain's rules
    (``None`` when no rule matched and the policy decided), the *action*, and the
    port range ``[lo, hi]`` around the asked port with the same answer."""

    action: Action
    index: Optional[int]
    lo: int
    hi: int


class CompiledChain:
    """One direction's rules and policy, ready to judge packets quickly."""

    def __init__(self, rules: Sequence[CompiledRule], policy: str) -> None:
        self.rules = tuple(rules)
        self.policy = Action(DROP if policy in ("drop", "deny") else ACCEPT, None, "policy")

    def decide(self, protocol: str, src: int, dst: int, dport: Optional[int]) -> tuple[Action, int, int]:
        """The action for a new packet, and the port range ``[lo, hi]`` around *dport*
        in which any port would get the same action from the same sender.

        *protocol* is ``"tcp"``, ``"udp"`` or ``"icmp"``; an ICMP packet (no ports)
        matches only rules that name neither a protocol nor ports.
        """
        decision = self.decision(protocol, src, dst, dport)
        return decision.action, decision.lo, decision.hi

    def decision(self, protocol: str, src: int, dst: int, dport: Optional[int]) -> "Decision":
        """:meth:`decide` with the position of the deciding rule (``None``: the policy).

        The one place a chain is evaluated: the simulator's verdicts and the course's
        "which rule decided" charts both come from here.
        """
        lo, hi = ALL_PORTS
        for index, rule in enumerate(self.rules):
            if rule.protocol is not None and rule.protocol != protocol:
                continue
            if rule.source is not None and not rule.source(src):
                continue
            if rule.destination is not None and not rule.destination(dst):
                continue
            if rule.ports is not None:
                if dport is None:
                    continue
                hit, rlo, rhi = rule.port_window(dport)
                lo, hi = max(lo, rlo), min(hi, rhi)
                if not hit:
                    continue
            action = rule.action
            if action.kind == REJECT and action.icmp_code is None and protocol != "tcp":
                # A TCP reset cannot answer UDP; nft refuses such a rule, the scenario
                # loader too.  Should one slip through, answer as plain reject does.
                action = action._replace(icmp_code=ICMP_PORT_UNREACH)
            return Decision(action, index, lo, hi)
        return Decision(self.policy, None, lo, hi)


class CompiledFirewall:
    """A machine's firewall: inbound and outbound chains plus whether it tracks state."""

    def __init__(self, firewall, own_networks: Iterable[ipaddress.IPv4Network] = ()) -> None:
        own = tuple(own_networks)
        self.style = getattr(firewall, "style", "nftables")
        self.stateful = bool(getattr(firewall, "stateful", True))
        self.inbound = CompiledChain(
            [compile_rule(r, i, own) for i, r in enumerate(firewall.rules)],
            firewall.policy)
        self.outbound = CompiledChain(
            [compile_rule(r, i, own) for i, r in enumerate(getattr(firewall, "output", ()))],
            getattr(firewall, "output_policy", "accept"))
        self.source = firewall

    def chain(self, direction: str) -> CompiledChain:
        return self.inbound if direction == INBOUND else self.outbound

    def rows(self) -> list[dict[str, object]]:
        """The rules as a notebook shows them: one row a rule, each chain ending in its policy."""
        rows: list[dict[str, object]] = []
        for direction, rules, policy, peer in (
                ("in", self.source.rules, self.source.policy, "source"),
                ("out", getattr(self.source, "output", ()), getattr(self.source, "output_policy", "accept"),
                 "destination")):
            if self.stateful:
                rows.append({"chain": direction, "order": "-", "action": "accept", "protocol": "any",
                             "ports": "any", "peer": "ct state established,related", "name": "stateful"})
            for i, rule in enumerate(rules):
                action = rule.action if rule.action != "reject" else f"reject with {rule.reject_with or 'port-unreachable'}"
                rows.append({"chain": direction, "order": rule.priority if rule.priority is not None else i,
                             "action": action, "protocol": rule.protocol or "any",
                             "ports": str(rule.ports) if rule.ports is not None else "any",
                             "peer": str(getattr(rule, peer) or "any"), "name": rule.name or ""})
            rows.append({"chain": direction, "order": "policy", "action": policy, "protocol": "any",
                         "ports": "any", "peer": "any", "name": "default"})
        return rows

    def to_dataframe(self):
        import pandas as pd
        return pd.DataFrame(self.rows(), columns=["chain", "order", "action", "protocol", "ports", "peer", "name"])


class _OpenFirewall:
    """No firewall at all: every chain accepts (what a machine without ``firewall`` has)."""

    stateful = False
    style = "none"

    def __init__(self) -> None:
        self.inbound = self.outbound = CompiledChain((), "accept")

    def chain(self, direction: str) -> CompiledChain:
        return self.inbound

    def rows(self) -> list[dict[str, object]]:
        return []

    def to_dataframe(self):
        import pandas as pd
        return pd.DataFrame([], columns=["chain", "order", "action", "protocol", "ports", "peer", "name"])


OPEN = _OpenFirewall()


def compile_firewall(firewall, own_networks=()):
    """A :class:`CompiledFirewall`, or :data:`OPEN` when *firewall* is ``None``.

    *own_networks* are the CIDRs the machine sits on (Azure's ``VirtualNetwork``)."""
    if firewall is None:
        return OPEN
    return CompiledFirewall(firewall, own_networks)


def deciding_rule(firewall, protocol: str, port: Optional[int], source, destination,
                  *, direction: str = INBOUND, own_networks=()) -> Decision:
    """Which rule of *firewall* (a :class:`portlab.scenario.Firewall`, a compiled one, or
    ``None`` for no firewall) decides a new *protocol* packet from *source* to
    *destination*:*port*, in *direction*; see :class:`Decision`.

    For an AWS security group or an Azure NSG the index counts in the normalised rule
    list (an NSG's rules sorted by priority, Azure's defaults appended), the list
    ``firewall.rules`` holds.  Only *new* packets are judged here: a stateful firewall
    lets replies to tracked flows through before any rule (:mod:`portlab.sim.network`).
    """
    compiled = firewall if isinstance(firewall, (CompiledFirewall, _OpenFirewall)) else \
        compile_firewall(firewall, own_networks)
    return compiled.chain(direction).decision(protocol, ip_int(source), ip_int(destination), port)


def ip_int(address) -> int:
    """An address (``str`` or ``IPv4Address``) as the integer the compiled rules compare."""
    if isinstance(address, int):
        return address
    return int(ipaddress.IPv4Address(str(address)))
