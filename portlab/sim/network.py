"""A simulated network built from a scenario: machines, links, routing, NAT, and the walk
of one packet and its answer.

:meth:`SimNetwork.send` follows a first packet (a TCP SYN or a UDP datagram) from
its sender to whoever answers, and the answer back, the way Linux machines would
treat it:

1. the sender's output chain (a drop there: ``connect()`` retries until it times
   out, ``sendto()`` fails with EPERM at once; a reject: the sender's own kernel
   gets the ICMP error or RST);
2. routing, hop by hop: a directly connected network, else the gateway.  A sender
   with no route fails at once with ENETUNREACH (``connect()`` and ``sendto()``
   report it synchronously; nothing is sent).  A router with no route answers
   ICMP net-unreachable; an address nobody holds on a link gets no answer from
   the sender's own link (ARP fails; ``connect()`` ends in EHOSTUNREACH after about
   3 s) or ICMP host-unreachable from the last router;
3. a router: NAT and firewall are two things, as on Linux.  NAT translates: packets
   leaving by the outside interface are masqueraded, packets to the outside address
   are translated by a static forward or a live mapping (as its filtering allows),
   and anything else addressed to the router is simply not translated: it is for the
   router itself (its input chain, its services: nothing listening answers RST or
   ICMP port-unreachable).  NAT drops nothing.  A packet passing *through* the
   router meets its firewall's forward path: with ``forward_drop_new_from`` a new
   connection arriving from that network is dropped unless a port forward DNAT'ed
   it (the live lab's ``iifname ... ct state new drop``); without it the router
   routes it on like any router.  Destinations outside every scenario network are
   "the Internet" beyond a NAT router's outside interface, modelled as a server
   that accepts on every port;
4. the receiver's input chain, then its stack (:func:`portlab.sim.kernel.stack_answer`);
5. the answer back: the receiver's output chain (passed as established/related
   when the firewall is stateful), NAT translated back, and the sender's input chain
   (again: stateful passes it, a stateless chain judges it by its rules).

The answer is the *true* one: ICMP rate limits do not turn it into silence here;
they cost time and retries, which the sim transport accounts for.
Each answer also carries the port range around the asked port for which it is
the same, so a full-range scan is answered a range at a time.
"""

from __future__ import annotations

import bisect
import errno as _errno
import ipaddress
from dataclasses import dataclass, replace
from itertools import repeat
from typing import Optional, Sequence

from . import kernel
from .clock import VirtualClock
from .conntrack import ConntrackTable, FlowKey
from .firewall import ACCEPT, DROP, OPEN, compile_firewall, ip_int
from .kernel import ICMP, LOCAL_ERROR, RST, SILENCE, SYN_ACK, UDP_REPLY, IcmpRateLimiter
from .nat import NatTable

#: Answer kind: the sender's own link had no machine with that address (ARP failed).
NO_NEIGHBOUR = "no-neighbour"

#: The source port scans use.  nmap also keeps one source port for a raw scan; the
#: simulator uses it for connect scans too, which only a port-dependent NAT filter
#: could notice (and that drops unsolicited inbound whatever the source port).
SCAN_SOURCE_PORT = 40001

_ALL = (0, 65535)


def _addr(value: int) -> str:
    return str(ipaddress.IPv4Address(value))


@dataclass(frozen=True)
class Answer:
    """What came back for one first packet, and why.

    *kind* is one of :mod:`portlab.sim.kernel`'s ``SYN_ACK``, ``RST``, ``ICMP``,
    ``UDP_REPLY``, ``SILENCE``, ``LOCAL_ERROR`` or :data:`NO_NEIGHBOUR`.
    *responder* is the address the answer comes from as the sender sees it.
    *limiter* is ``(machine name, peer address)`` for an ICMP error subject to that
    machine's rate limit.  *path* tells the story, one step a line.
    """

    kind: str
    icmp_code: Optional[int] = None
    errno: Optional[int] = None
    responder: Optional[str] = None
    limiter: Optional[tuple[str, str]] = None
    path: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == ICMP:
            return f"ICMP 3/{self.icmp_code} {kernel.ICMP_CODE_NAMES.get(self.icmp_code, '')} from {self.responder}"
        if self.kind == LOCAL_ERROR:
            return f"local error {_errno.errorcode.get(self.errno, self.errno)}"
        if self.kind in (SYN_ACK, RST, UDP_REPLY):
            return f"{self.kind.upper() if self.kind != SYN_ACK else 'SYN/ACK'} from {self.responder}"
        return "no answer"


class SimMachine:
    """A scanner, host or router as the simulator needs it: integers and sets."""

    def __init__(self, name: str, kind: str, interfaces: dict[str, int], tcp=(), udp=(),
                 firewall=OPEN, gateway: Optional[int] = None) -> None:
        self.name = name
        self.kind = kind                      # "scanner" | "host" | "router"
        self.interfaces = dict(interfaces)    # network name -> address
        self.addresses = {a: n for n, a in self.interfaces.items()}
        self.tcp = frozenset(tcp)
        self.udp = frozenset(udp)
        self._tcp_sorted = sorted(self.tcp)
        self._udp_sorted = sorted(self.udp)
        self.firewall = firewall
        self.gateway = gateway
        self.nat: Optional[NatTable] = None
        self.nat_outside: Optional[str] = None
        self.nat_address: Optional[int] = None
        #: A router firewall's forward rule: new connections from this network are dropped.
        self.forward_drop_new_from: Optional[str] = None
        self.conntrack = ConntrackTable()
        self.icmp = IcmpRateLimiter()

    def service_window(self, protocol: str, port: int) -> tuple[int, int]:
        """The port range around *port* where the listening state is the same."""
        ports = self._tcp_sorted if protocol == "tcp" else self._udp_sorted
        i = bisect.bisect_left(ports, port)
        if i < len(ports) and ports[i] == port:
            return port, port
        lo = ports[i - 1] + 1 if i > 0 else _ALL[0]
        hi = ports[i] - 1 if i < len(ports) else _ALL[1]
        return lo, hi

    def __repr__(self) -> str:
        addrs = ", ".join(f"{n}={_addr(a)}" for n, a in self.interfaces.items())
        return f"SimMachine({self.name}, {self.kind}, {addrs})"


class _Walk:
    """Book-keeping of one packet's walk: the port window and the story."""

    __slots__ = ("lo", "hi", "translated", "path")

    def __init__(self) -> None:
        self.lo, self.hi = _ALL
        self.translated = False
        self.path: list[str] = []

    def narrow(self, lo: int, hi: int) -> None:
        # Once the destination port was rewritten (DNAT), the window was already
        # pinned to the one original port; later windows are about another port.
        if not self.translated:
            if lo > self.lo:
                self.lo = lo
            if hi < self.hi:
                self.hi = hi

    def pin(self, port: int) -> None:
        self.narrow(port, port)
        self.translated = True


class SimNetwork:
    """The machines of a scenario, wired up, with one virtual clock.

    ``send(...)`` walks one packet; ``scan_answer(...)`` is its cached form for the
    scanner.  ``nat_table(router)``, ``firewall(machine)`` and ``machines`` are
    there to be looked at in a notebook.
    """

    def __init__(self, scenario, *, seed: int = 0, clock: Optional[VirtualClock] = None) -> None:
        self.scenario = scenario
        self.clock = clock or VirtualClock()
        self.seed = seed
        self.networks: list[tuple[str, int, int]] = []   # (name, network int, mask int)
        self.cidrs: dict[str, ipaddress.IPv4Network] = {}
        for net in scenario.networks:
            self.networks.append((net.name, int(net.cidr.network_address), int(net.cidr.netmask)))
            self.cidrs[net.name] = net.cidr
        self._net_by_name = {name: (net, mask) for name, net, mask in self.networks}
        self.machines: dict[str, SimMachine] = {}
        self.by_address: dict[int, SimMachine] = {}

        scanner = scenario.scanner
        self._add(SimMachine("scanner", "scanner", {scanner.network: int(scanner.address)},
                             firewall=compile_firewall(scanner.firewall, (self.cidrs[scanner.network],)),
                             gateway=int(scanner.gateway) if scanner.gateway else None))
        for host in scenario.hosts:
            own = (self.cidrs[host.network],)
            self._add(SimMachine(host.name, "host", {host.network: int(host.address)}, host.tcp, host.udp,
                                 compile_firewall(host.firewall, own),
                                 int(host.gateway) if host.gateway else None))
        for i, router in enumerate(scenario.routers):
            own = tuple(self.cidrs[iface.network] for iface in router.interfaces)
            machine = SimMachine(router.name, "router",
                                 {iface.network: int(iface.address) for iface in router.interfaces},
                                 router.tcp, router.udp, compile_firewall(router.firewall, own))
            if router.firewall is not None:
                machine.forward_drop_new_from = router.firewall.forward_drop_new_from
            if router.nat is not None:
                outside = machine.interfaces[router.nat.outside]
                machine.nat = NatTable.from_nat(router.nat, _addr(outside), seed=seed + i)
                machine.nat_outside = router.nat.outside
                machine.nat_address = outside
            self._add(machine)
        self.scanner = self.machines["scanner"]
        self._cache: dict[tuple, tuple[list[int], list[int], list[Answer]]] = {}
        self._cache_version: tuple = ()

    def _add(self, machine: SimMachine) -> None:
        self.machines[machine.name] = machine
        for address in machine.addresses:
            self.by_address[address] = machine

    # -- looking things up

    def network_of(self, address: int) -> Optional[str]:
        for name, net, mask in self.networks:
            if address & mask == net:
                return name
        return None

    def machine(self, name: str) -> SimMachine:
        try:
            return self.machines[name]
        except KeyError:
            from ..errors import BadInput
            raise BadInput(f"scenario {self.scenario.name}: no machine named {name!r} "
                           f"(expected one of {', '.join(self.machines)})") from None

    def nat_table(self, router: Optional[str] = None) -> NatTable:
        """The NAT table of *router* (or of the only NAT router)."""
        nats = [m for m in self.machines.values() if m.nat is not None]
        if router is not None:
            machine = self.machine(router)
            if machine.nat is None:
                from ..errors import BadInput
                raise BadInput(f"machine {router!r} does no NAT (expected one of "
                               f"{', '.join(m.name for m in nats) or 'none'})")
            return machine.nat
        if len(nats) != 1:
            from ..errors import BadInput
            raise BadInput(f"scenario {self.scenario.name} has {len(nats)} NAT routers "
                           "(expected exactly one, or name the router)")
        return nats[0].nat

    def firewall(self, name: str):
        return self.machine(name).firewall

    def to_dataframe(self):
        """The machines, one row each: name, kind, addresses, services, firewall, NAT."""
        import pandas as pd
        rows = []
        for m in self.machines.values():
            rows.append({
                "name": m.name, "kind": m.kind,
                "addresses": ", ".join(f"{_addr(a)} ({n})" for n, a in m.interfaces.items()),
                "tcp": ",".join(map(str, sorted(m.tcp))), "udp": ",".join(map(str, sorted(m.udp))),
                "gateway": _addr(m.gateway) if m.gateway is not None else "",
                "firewall": getattr(m.firewall, "style", "none") if m.firewall is not OPEN else "none",
                "nat": (f"{m.nat.mapping} mapping, {m.nat.filtering} filtering, "
                        f"{len(m.nat.forwards)} forward(s)") if m.nat is not None else "",
            })
        return pd.DataFrame(rows)

    def cidr_strings(self) -> list[str]:
        return [str(c) for c in self.cidrs.values()]

    def expire(self) -> None:
        """Let NAT mappings idle past their timeout go (call after moving the clock)."""
        for machine in self.machines.values():
            if machine.nat is not None:
                machine.nat.expire(self.clock.now)

    # -- routing

    def _route(self, machine: SimMachine, dst: int) -> tuple[str, Optional[SimMachine], Optional[str]]:
        """``(how, next machine, network)``: how is "link", "internet" or "none"."""
        for name in machine.interfaces:
            net, mask = self._net_by_name[name]
            if dst & mask == net:
                neighbour = self.by_address.get(dst)
                if neighbour is not None and name not in neighbour.interfaces:
                    neighbour = None
                return "link", neighbour, name
        if machine.nat is not None and self.network_of(dst) is None:
            return "internet", None, machine.nat_outside
        if machine.gateway is not None:
            gateway = self.by_address.get(machine.gateway)
            net_name = self.network_of(machine.gateway)
            if gateway is not None and net_name in machine.interfaces:
                return "link", gateway, net_name
        return "none", None, None

    # -- the walk

    def send(self, sender: str, dst, dport: int, protocol: str = "tcp", *, sport: Optional[int] = None,
             record: bool = False) -> Answer:
        """Walk one first packet from machine *sender* to *dst*:*dport* and back.

        With *record*, the walk leaves what real machines would keep: conntrack
        flows on stateful machines and NAT sessions on routers (for experiments).
        """
        machine = self.machine(sender)
        src = next(iter(machine.addresses))
        answer, _, _ = self._walk(machine, src, sport or SCAN_SOURCE_PORT, ip_int(dst), dport,
                                  protocol, self.clock.now, record)
        return answer

    def _walk(self, sender: SimMachine, src: int, sport: int, dst: int, dport: int, proto: str,
              now: float, record: bool) -> tuple[Answer, int, int]:
        walk = _Walk()
        path = walk.path
        fw = sender.firewall
        path.append(f"{sender.name}: {proto.upper()} {_addr(src)}:{sport} > {_addr(dst)}:{dport}")

        # 1. the sender's own output chain
        if fw is not OPEN:
            action, lo, hi = fw.outbound.decide(proto, src, dst, dport)
            walk.narrow(lo, hi)
            path.append(f"{sender.name} output: {action.describe()}")
            if action.kind == DROP:
                # A program's sendto() is told EPERM; a scanner counts the probe as sent
                # and unanswered (nmap does; so do portlab's transports), so to a scan it
                # is silence.
                if proto == "udp" and sender.kind != "scanner":
                    return self._done(walk, Answer(LOCAL_ERROR, errno=_errno.EPERM))
                return self._done(walk, Answer(SILENCE))
            if action.kind != ACCEPT:
                if action.icmp_code is None:
                    return self._done(walk, Answer(RST, responder=_addr(src)))
                # The error is for the sender itself: over loopback, never rate-limited.
                return self._done(walk, Answer(ICMP, action.icmp_code, responder=_addr(src)))
            if record and fw.stateful:
                sender.conntrack.track(FlowKey(proto, _addr(src), sport, _addr(dst), dport), now)

        # 2. hop by hop
        cur = sender
        p_src, p_sport, p_dst, p_dport = src, sport, dst, dport
        arrived: Optional[str] = None
        reverse: list[tuple] = []         # NAT steps to undo on the way back
        answer: Optional[Answer] = None
        for _ in range(32):               # a TTL: scenario routing cannot loop, but be sure
            how, nxt, out_net = self._route(cur, p_dst)
            if how == "none":
                if cur is sender:
                    path.append(f"{cur.name}: no route to {_addr(p_dst)}")
                    return self._done(walk, Answer(LOCAL_ERROR, errno=_errno.ENETUNREACH))
                path.append(f"{cur.name}: no route to {_addr(p_dst)}, answers ICMP net-unreachable")
                answer = self._icmp_from(cur, arrived, kernel.ICMP_NET_UNREACH, p_src)
                break
            # leaving cur: masquerade on a NAT router's outside interface
            if (cur.nat is not None and out_net == cur.nat_outside and arrived is not None
                    and arrived != cur.nat_outside and p_src != cur.nat_address):
                inside = (_addr(p_src), p_sport)
                if record:
                    out_addr, out_port = cur.nat.outbound(proto, inside, (_addr(p_dst), p_dport), now)
                else:
                    out_addr, out_port = _addr(cur.nat_address), p_sport
                path.append(f"{cur.name}: SNAT {inside[0]}:{inside[1]} -> {out_addr}:{out_port}")
                reverse.append(("snat", cur, p_src, p_sport, (_addr(p_dst), p_dport)))
                p_src, p_sport = ip_int(out_addr), out_port
            if how == "internet":
                path.append(f"{cur.name}: out to the Internet; {_addr(p_dst)} accepts every port")
                answer = Answer(SYN_ACK if proto == "tcp" else UDP_REPLY, responder=_addr(p_dst))
                cur = None
                break
            if nxt is None:
                if cur is sender:
                    path.append(f"{cur.name}: nobody has {_addr(p_dst)} on {out_net} (ARP fails)")
                    return self._done(walk, Answer(NO_NEIGHBOUR))
                path.append(f"{cur.name}: nobody has {_addr(p_dst)} on {out_net}, answers ICMP host-unreachable")
                answer = self._icmp_from(cur, arrived, kernel.ICMP_HOST_UNREACH, p_src)
                break
            arrived, cur = out_net, nxt
            if p_dst in cur.addresses:
                if cur.nat is not None and p_dst == cur.nat_address:
                    from_outside = arrived == cur.nat_outside
                    if from_outside or cur.nat.hairpin:
                        nat = cur.nat
                        specials = nat.special_ports(proto)
                        walk.narrow(*_window(specials, p_dport))
                        target, why = nat.lookup_inbound(proto, (_addr(p_src), p_sport), p_dport)
                        if target is not None:
                            if record:
                                nat.inbound(proto, (_addr(p_src), p_sport), p_dport, now)
                            walk.pin(p_dport)
                            path.append(f"{cur.name}: DNAT ({why}) {_addr(p_dst)}:{p_dport} -> {target[0]}:{target[1]}")
                            if cur.forward_drop_new_from == arrived:
                                path.append(f"{cur.name} forward: " + (
                                    "new, but DNAT'ed by a port forward: accepted (ct status dnat accept)"
                                    if why == "forward" else
                                    "part of a connection the inside opened: accepted (ct state established)"))
                            reverse.append(("dnat", cur, p_dst, p_dport))
                            p_dst, p_dport = ip_int(target[0]), target[1]
                            if not from_outside:
                                p_src = self._hairpin_snat(cur, walk, reverse, p_src, p_sport, p_dst)
                            continue
                        path.append(f"{cur.name}: NAT: {_NOT_TRANSLATED[why].format(proto=proto, port=p_dport)}; "
                                    "the packet is for the router itself")
                break
            if cur.kind == "router":
                if cur.forward_drop_new_from is not None and arrived == cur.forward_drop_new_from:
                    path.append(f"{cur.name} forward: new connection from {arrived} dropped by the firewall rule "
                                f'forward_drop_new_from = "{arrived}" (ct state new drop)')
                    return self._done(walk, Answer(SILENCE))
                path.append(f"{cur.name}: forwards to {_addr(p_dst)}"
                            + (" (NAT translates nothing here: it is addressed to the inside, and no firewall "
                               "rule stops it)" if cur.nat is not None and arrived == cur.nat_outside else ""))
                continue
            path.append(f"{cur.name}: not for me and not a router, dropped")
            return self._done(walk, Answer(SILENCE))
        else:
            path.append("routing loop: dropped")
            return self._done(walk, Answer(SILENCE))

        if answer is None:
            answer = self._local(cur, walk, proto, p_src, p_sport, p_dst, p_dport, now, record)
        if answer.kind in (SILENCE, NO_NEIGHBOUR, LOCAL_ERROR):
            return self._done(walk, answer)
        if record and answer.kind in (SYN_ACK, RST, UDP_REPLY):
            # An answer of the flow itself (not an ICMP error) came back through each
            # masquerading router: conntrack marks the flow as replied.
            for step in reverse:
                if step[0] == "snat" and len(step) == 5:
                    step[1].nat.answered(proto, (_addr(step[2]), step[3]), step[4])

        # 5. back: undo NAT (the answer comes from the address the sender used)
        responder = answer.responder
        for step, _machine, address, *_ in reversed(reverse):
            if step == "dnat":
                # Un-DNAT: whatever answers behind a forward (even an ICMP error, which
                # conntrack treats as related) leaves as from the address that was asked.
                responder = _addr(address)
        if responder != answer.responder:
            path.append(f"answer leaves as from {responder}")
            answer = _replace_answer(answer, responder=responder)

        # the sender's input chain
        fw = sender.firewall
        if fw is not OPEN:
            reply_proto = "icmp" if answer.kind == ICMP else proto
            if fw.stateful:
                path.append(f"{sender.name} input: ct state established,related accept")
            else:
                action, _, _ = fw.inbound.decide(reply_proto, ip_int(responder), src,
                                                 None if reply_proto == "icmp" else sport)
                path.append(f"{sender.name} input (stateless) for the answer: {action.describe()}")
                if action.kind != ACCEPT:
                    return self._done(walk, Answer(SILENCE))
        return self._done(walk, answer)

    def _hairpin_snat(self, router: SimMachine, walk: _Walk, reverse: list, src: int, sport: int,
                      target: int) -> int:
        """Hairpinning (RFC 4787 §6): an inside sender reached an inside target through the
        outside address.  If both sit on one network the target would answer the sender
        directly, and the sender would drop an answer from an address it never asked;
        so the router masquerades the source to its own address on that network (what
        the live lab's ``ct status dnat masquerade`` does; RFC 4787 REQ-9 would show the
        outside address instead -- either way the answer returns through the router)."""
        target_net = self.network_of(target)
        if target_net is None or self.network_of(src) != target_net or target_net not in router.interfaces:
            return src
        new_src = router.interfaces[target_net]
        walk.path.append(f"{router.name}: hairpin SNAT {_addr(src)} -> {_addr(new_src)}")
        reverse.append(("snat", router, src, sport))
        return new_src

    def _icmp_from(self, router: SimMachine, arrived: Optional[str], code: int, peer: int) -> Answer:
        address = router.interfaces.get(arrived) if arrived else next(iter(router.addresses))
        return Answer(ICMP, code, responder=_addr(address), limiter=(router.name, _addr(peer)))

    def _local(self, cur: SimMachine, walk: _Walk, proto: str, p_src: int, p_sport: int, p_dst: int,
               p_dport: int, now: float, record: bool) -> Answer:
        """Delivery at *cur*: its input chain, its stack, its output chain for the answer."""
        path = walk.path
        fw = cur.firewall
        key = FlowKey(proto, _addr(p_src), p_sport, _addr(p_dst), p_dport)
        if record and fw.stateful and cur.conntrack.is_reply(key, now):
            path.append(f"{cur.name} input: ct state established,related accept")
            action_kind, code = ACCEPT, None
        else:
            action, lo, hi = fw.inbound.decide(proto, p_src, p_dst, p_dport)
            walk.narrow(lo, hi)
            if fw is not OPEN:
                path.append(f"{cur.name} input: {action.describe()}")
            action_kind, code = action.kind, action.icmp_code
        me = _addr(p_dst)
        if action_kind == DROP:
            return Answer(SILENCE)
        if action_kind == ACCEPT:
            walk.narrow(*cur.service_window(proto, p_dport))
            kind, code = kernel.stack_answer(proto, p_dport, cur.tcp, cur.udp)
            if record and fw.stateful:
                cur.conntrack.track(key, now)
            path.append(f"{cur.name}: {'listening' if kind in (SYN_ACK, UDP_REPLY) else 'nothing listening'}"
                        f" on {proto}/{p_dport}")
        else:
            kind = ICMP if code is not None else RST
        if kind == ICMP:
            answer = Answer(ICMP, code, responder=me, limiter=(cur.name, _addr(p_src)))
        else:
            answer = Answer(kind, responder=me)
        # the answer leaves through cur's output chain
        if fw is not OPEN:
            if fw.stateful:
                path.append(f"{cur.name} output: ct state established,related accept")
            else:
                reply_proto = "icmp" if kind == ICMP else proto
                action, _, _ = fw.outbound.decide(reply_proto, p_dst, p_src,
                                                  None if reply_proto == "icmp" else p_sport)
                path.append(f"{cur.name} output (stateless) for the answer: {action.describe()}")
                if action.kind != ACCEPT:
                    return Answer(SILENCE)
        path.append(f"answer: {answer.describe()}")
        return answer

    @staticmethod
    def _done(walk: _Walk, answer: Answer) -> tuple[Answer, int, int]:
        return _replace_answer(answer, path=tuple(walk.path)), walk.lo, walk.hi

    # -- the scanner's cached view

    def _versions(self) -> tuple:
        return tuple(m.nat.version for m in self.machines.values() if m.nat is not None)

    def scan_answer(self, dst: int, dport: int, protocol: str, sport: int = SCAN_SOURCE_PORT) -> Answer:
        """:meth:`send` from the scanner, without recording state, cached by port range."""
        versions = self._versions()
        if versions != self._cache_version:
            self._cache.clear()
            self._cache_version = versions
        key = (dst, protocol, sport)
        segments = self._cache.get(key)
        if segments is None:
            segments = self._cache[key] = ([], [], [])
        starts, ends, answers = segments
        i = bisect.bisect_right(starts, dport) - 1
        if i >= 0 and dport <= ends[i]:
            return answers[i]
        answer, lo, hi = self._walk(self.scanner, next(iter(self.scanner.addresses)), sport, dst, dport,
                                    protocol, self.clock.now, False)
        i += 1
        starts.insert(i, lo)
        ends.insert(i, hi)
        answers.insert(i, answer)
        return answer

    def answer_table(self, dst: int, protocol: str, lo: int, hi: int,
                     sport: int = SCAN_SOURCE_PORT) -> list[Answer]:
        """:meth:`scan_answer` for every port *lo* .. *hi* of *dst*, as a list indexed by
        ``port - lo``: one walk per range of ports that share an answer, not one per port."""
        table: list[Answer] = []
        port = lo
        while port <= hi:
            answer = self.scan_answer(dst, port, protocol, sport)
            starts, ends, _ = self._cache[(dst, protocol, sport)]
            end = min(ends[bisect.bisect_right(starts, port) - 1], hi)
            table.extend(repeat(answer, end - port + 1))
            port = end + 1
        return table

    def segments(self, dst: int, protocol: str, sport: int = SCAN_SOURCE_PORT):
        """The cached ``(starts, ends, answers)`` lists for one destination (fast path)."""
        self.scan_answer(dst, 1, protocol, sport)   # also validates the cache version
        return self._cache[(dst, protocol, sport)]


#: Why a NAT router's table did not translate a packet to its outside address.
_NOT_TRANSLATED = {
    "no-mapping": "no port forward and no mapping for {proto} {port}, so no row to translate it",
    "filtered": "{proto} {port} has a mapping, but its filtering lets in only the remotes it was opened to",
}


def load_scenario(scenario):
    """A Scenario from a Scenario, a file path, or the name of a shipped scenario
    (:func:`portlab.scenario.resolve`; this name stays for the course's modules)."""
    from ..scenario import resolve
    return resolve(scenario)


def _window(special: Sequence[int], port: int) -> tuple[int, int]:
    i = bisect.bisect_left(special, port)
    if i < len(special) and special[i] == port:
        return port, port
    lo = special[i - 1] + 1 if i > 0 else _ALL[0]
    hi = special[i] - 1 if i < len(special) else _ALL[1]
    return lo, hi


def _replace_answer(answer: Answer, **changes) -> Answer:
    return replace(answer, **changes)
