"""Notebook 05 (a host's firewall): scenario variants, scans from chosen sources, the
drop/reject table measured by a scan, outbound and stateful demonstrations, where a new
rule goes in a chain (:func:`with_rule_at`, :func:`port_view`), and the check of the
exercise's policy.

Everything runs on the simulator (seeded, deterministic); :func:`live_action_table`
measures the same table in the live lab (Linux, with root or a user namespace of your own).  Scenarios are changed in memory
(frozen dataclasses, :func:`dataclasses.replace`), never on disk.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Callable, Iterable, Mapping, Optional, Sequence, Union

from ...errors import BadInput
from ...scenario import Firewall, Host, Interface, Nat, Network, Router, Rule, Scenario
from ...sim.firewall import compile_firewall, ip_int
from ...sim.kernel import LOCAL_ERROR, SILENCE
from ...sim.network import SimNetwork, load_scenario
from ..theme import STATE_COLOURS, Chart, new_figure

SCAN_TYPES = ("connect", "syn", "udp")

# ----------------------------------------------------------------- scenario variants

RuleLike = Union[Rule, Mapping]


def as_rule(value: RuleLike) -> Rule:
    """A :class:`~portlab.scenario.Rule` from a Rule or a dict written like a scenario file's rule
    (``{"action": "accept", "protocol": "tcp", "ports": "22", "source": "10.77.0.5"}``)."""
    if isinstance(value, Rule):
        return value
    if isinstance(value, Mapping):
        known = {"action", "protocol", "ports", "source", "destination", "with", "reject_with", "name", "priority"}
        unknown = set(value) - known
        if unknown:
            raise BadInput(f"rule {dict(value)!r}: unknown key {sorted(unknown)[0]!r} "
                           f"(expected some of {', '.join(sorted(known - {'reject_with'}))})")
        if "action" not in value:
            raise BadInput(f"rule {dict(value)!r}: a rule needs an action (expected accept, drop or reject)")
        action = str(value["action"]).lower()
        action = {"allow": "accept", "deny": "drop"}.get(action, action)
        if action not in ("accept", "drop", "reject"):
            raise BadInput(f"rule {dict(value)!r}: action {value['action']!r} (expected accept, drop or reject)")
        protocol = value.get("protocol")
        protocol = None if protocol in (None, "*", "any", "all") else str(protocol).lower()
        return Rule(action, protocol, value.get("ports"), source=value.get("source"),
                    destination=value.get("destination"),
                    reject_with=value.get("with", value.get("reject_with")) if action == "reject" else None,
                    priority=value.get("priority"), name=value.get("name"))
    raise BadInput(f"{value!r} is not a firewall rule (expected a Rule or a dict such as "
                   "{'action': 'accept', 'protocol': 'tcp', 'ports': '80'})")


def scenario(value) -> Scenario:
    """A Scenario from a Scenario, a file or a shipped name ("web-server")."""
    return load_scenario(value)


def with_firewall(base, host: str, firewall: Optional[Firewall] = None, *,
                  rules: Optional[Iterable[RuleLike]] = None, policy: Optional[str] = None,
                  output: Optional[Iterable[RuleLike]] = None, output_policy: Optional[str] = None,
                  stateful: Optional[bool] = None) -> Scenario:
    """*base* with machine *host*'s firewall replaced (a whole *firewall*) or changed
    (whatever of *rules*, *policy*, *output*, *output_policy*, *stateful* is given)."""
    s = scenario(base)
    machine = s.machine(host)
    if firewall is None:
        old = machine.firewall or Firewall()
        changes = {}
        if rules is not None:
            changes["rules"] = tuple(as_rule(r) for r in rules)
        if output is not None:
            changes["output"] = tuple(as_rule(r) for r in output)
        for key, value in (("policy", policy), ("output_policy", output_policy)):
            if value is not None:
                if value not in ("accept", "drop"):
                    raise BadInput(f"{key} {value!r}: expected accept or drop")
                changes[key] = value
        if stateful is not None:
            changes["stateful"] = bool(stateful)
        firewall = replace(old, **changes)
    if isinstance(machine, Host):
        hosts = tuple(replace(h, firewall=firewall) if h is machine else h for h in s.hosts)
        return replace(s, hosts=hosts)
    routers = tuple(replace(r, firewall=firewall) if r is machine else r for r in s.routers)
    return replace(s, routers=routers)


def with_host(base, name: str, address: str, *, tcp: Sequence[int] = (), udp: Sequence[int] = ()) -> Scenario:
    """*base* with one more host (no firewall) on the network holding *address*."""
    s = scenario(base)
    address_obj = ipaddress.IPv4Address(address)
    network = _network_of(s, address_obj)
    return replace(s, hosts=(*s.hosts, Host(name, address_obj, network, tuple(tcp), tuple(udp))))


def with_internet(base, host: str = "web", *, uplink: str = "10.77.250.0/24") -> Scenario:
    """*base* with an Internet uplink: a NAT router ``edge`` joins *host*'s network to a
    new network *uplink*, and *host* routes through it.  Addresses outside every
    scenario network are then "the Internet", where a server answers on every port, so
    only *host*'s own rules can stop a connection out (what :func:`outbound_table` shows)."""
    s = scenario(base)
    machine = s.machine(host)
    lan = s.network(machine.network)
    wan = ipaddress.IPv4Network(uplink)
    used = set(s.addresses())
    inside = next(a for a in reversed(list(lan.cidr.hosts())) if a not in used)
    router = Router("edge", (Interface(lan.name, inside), Interface("uplink", next(wan.hosts()))),
                    nat=Nat("uplink"))
    hosts = tuple(replace(h, gateway=inside) if h is machine else h for h in s.hosts)
    return replace(s, networks=(*s.networks, Network("uplink", wan)), hosts=hosts, routers=(*s.routers, router))


def _network_of(s: Scenario, address: ipaddress.IPv4Address) -> str:
    for net in s.networks:
        if address in net.cidr:
            return net.name
    raise BadInput(f"{address}: not on any network of scenario {s.name} "
                   f"(expected an address in {', '.join(s.cidrs())})")


def move_scanner(base, source) -> Scenario:
    """*base* with the scanner standing at *source* (an address, or a host's name).

    The scanner takes the place of whatever host holds that address (it plays that
    machine), and routes through a router interface on its new network if it needs to.
    """
    s = scenario(base)
    if isinstance(source, str) and not source[:1].isdigit():
        source = s.machine(source).address
    address = ipaddress.IPv4Address(str(source))
    network = _network_of(s, address)
    gateway = s.scanner.gateway if network == s.scanner.network else None
    if gateway is None:
        for router in s.routers:
            for iface in router.interfaces:
                if iface.network == network:
                    gateway = iface.address
                    break
            if gateway is not None:
                break
    hosts = tuple(h for h in s.hosts if h.address != address)
    return replace(s, scanner=replace(s.scanner, address=address, network=network, gateway=gateway), hosts=hosts)


def scan_from(base, source, target: str, ports, scan_type: str = "syn"):
    """A simulated scan of *target* from *source* (address or host name): a ScanResult."""
    from ...engine import scan
    return scan(target, ports, scan_type, scenario=move_scanner(base, source), keep_trace=True,
                randomize=False, seed=0)


def states(result) -> dict[int, tuple[str, str]]:
    """``{port: (state, reason)}`` of a one-host result."""
    return {p.port: (str(p.state), p.reason) for p in result.hosts[0].ports}


def reachability(base, target: str, ports, sources: Mapping[str, str], scan_type: str = "syn"):
    """One scan per source; a DataFrame, one row a port, one column a source: the state seen."""
    import pandas as pd
    table = {}
    for label, source in sources.items():
        table[label] = {port: state for port, (state, _) in states(scan_from(base, source, target, ports,
                                                                             scan_type)).items()}
    frame = pd.DataFrame(table)
    frame.index.name = "port"
    return frame


def deciding_rule(base, host: str, source: str, port: int, protocol: str = "tcp",
                  direction: str = "in", peer: Optional[str] = None) -> str:
    """Which rule of *host*'s firewall decides a new packet from *source* to *port*
    (inbound), or from *host* to *peer*:*port* (``direction="out"``): its description."""
    s = scenario(base)
    machine = s.machine(host)
    fw = compile_firewall(machine.firewall, s.local_networks(host))
    me = ip_int(machine.address)
    if direction == "in":
        action, _, _ = fw.chain("in").decide(protocol, ip_int(source), me, port)
    else:
        action, _, _ = fw.chain("out").decide(protocol, me, ip_int(peer or source), port)
    return action.describe()


def rules_frame(base, host: str):
    """*host*'s firewall as a DataFrame, one row a rule, each chain ending in its policy."""
    s = scenario(base)
    return compile_firewall(s.machine(host).firewall, s.local_networks(host)).to_dataframe()


# --------------------------------------------------------- drop vs reject, measured

#: How docs/design.md's measured table names each rule; the scenario's rules are labelled from it.
def _label(rule: Rule) -> str:
    if rule.action == "drop":
        return "drop"
    if rule.reject_with == "port-unreachable":
        return "reject (port-unreachable, the default)"
    return f"reject with {rule.reject_with}"


LISTENING = "no rule, service listening"
NOTHING = "no rule, nothing listening"


def action_ports(base="single-host", host: str = "target") -> list[tuple[str, Optional[int], Optional[int]]]:
    """``(rule label, tcp port, udp port)`` for each drop/reject rule of *host*, in the
    scenario's order, then a listening port and an empty port without rules.  A port
    is ``None`` where the scenario has no such rule for that protocol (tcp-reset is TCP only)."""
    s = scenario(base)
    machine = s.machine(host)
    rules = machine.firewall.rules if machine.firewall else ()
    rows: dict[str, list[Optional[int]]] = {}
    ruled = {"tcp": set(), "udp": set()}
    for rule in rules:
        if rule.ports is None:
            continue
        for proto in ("tcp", "udp"):
            if rule.protocol in (None, proto):
                ruled[proto].update(rule.ports)
        if rule.action == "accept" or len(rule.ports) != 1:
            continue
        label = _label(rule)
        row = rows.setdefault(label, [None, None])
        port = next(iter(rule.ports))
        for i, proto in enumerate(("tcp", "udp")):
            if rule.protocol in (None, proto) and row[i] is None:
                row[i] = port
    out = [(label, tcp, udp) for label, (tcp, udp) in rows.items()]

    def first(proto: str, listening: bool) -> Optional[int]:
        services = set(machine.tcp if proto == "tcp" else machine.udp)
        for port in range(1, 65536):
            if port not in ruled[proto] and (port in services) == listening:
                return port
        return None

    listening = {proto: first(proto, True) for proto in ("tcp", "udp")}
    empty = {}
    for proto in ("tcp", "udp"):
        # Right after the listening port reads best (80 open, 81 closed), when that one is free.
        after = listening[proto] + 1 if listening[proto] else None
        services = set(machine.tcp if proto == "tcp" else machine.udp)
        empty[proto] = (after if after and after not in services and after not in ruled[proto]
                        else first(proto, False))
    out.append((LISTENING, listening["tcp"], listening["udp"]))
    out.append((NOTHING, empty["tcp"], empty["udp"]))
    return out


ScanFn = Callable[[Sequence[int], str], object]


def measure_actions(scan: ScanFn, rows: Sequence[tuple[str, Optional[int], Optional[int]]], *,
                    scan_types: Sequence[str] = SCAN_TYPES):
    """Scan the ports of *rows* with each scan type (``scan(ports, scan_type)`` returns a
    one-host ScanResult) and put what each saw in a DataFrame: one row a rule, one
    column a scan type, cells ``"state (reason)"`` (``"–"`` where no such rule exists)."""
    import pandas as pd
    seen: dict[str, dict[int, tuple[str, str]]] = {}
    for scan_type in scan_types:
        column = 2 if scan_type == "udp" else 1
        ports = sorted({row[column] for row in rows if row[column] is not None})
        seen[scan_type] = states(scan(ports, scan_type))
    table = {}
    for label, tcp, udp in rows:
        cells = {}
        for scan_type in scan_types:
            port = udp if scan_type == "udp" else tcp
            if port is None:
                cells[scan_type] = "–"
            else:
                state, reason = seen[scan_type][port]
                cells[scan_type] = f"{state} ({reason})"
        table[label] = cells
    frame = pd.DataFrame.from_dict(table, orient="index", columns=list(scan_types))
    frame.index.name = "rule on the target"
    return frame


def sim_action_table(base="single-host", host: str = "target"):
    """docs/design.md's measured table, reproduced by simulated scans of *base*."""
    from ...engine import scan
    s = scenario(base)
    target = str(s.machine(host).address)
    return measure_actions(lambda ports, scan_type: scan(target, list(ports), scan_type, scenario=s,
                                                         keep_trace=False, randomize=False, seed=0),
                           action_ports(s, host))


def live_action_table(base="single-host", host: str = "target"):
    """The same table from the live lab: the scenario built as namespaces and nftables
    (Linux, with root or a user namespace of your own), scanned for real, always torn down.  Returns ``(table, lab seconds)``."""
    import time

    from ...lab.run import Lab
    s = scenario(base)
    target = str(s.machine(host).address)
    import subprocess

    t0 = time.monotonic()
    with Lab(s) as lab:
        # The table is about what each rule answers, not about Linux's ICMP rate limit
        # (a burst of 6 errors, then one a second; notebook 04): seven TCP ports answer
        # with ICMP here, so the target's limit is switched off inside its own namespace,
        # as the project's live test of the table does.  The scans then take ~1 s each.
        subprocess.run(lab.exec_argv(host, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"), check=True)
        table = measure_actions(lambda ports, scan_type: lab.scan(target, list(ports), scan_type, timing=4),
                                action_ports(s, host))
    return table, time.monotonic() - t0


def compare_tables(sim, live):
    """Cell by cell: where the live lab and the simulator agree; a DataFrame of the differences
    (empty when they agree everywhere)."""
    import pandas as pd
    rows = []
    for label in sim.index:
        for scan_type in sim.columns:
            a, b = sim.loc[label, scan_type], live.loc[label, scan_type]
            if a != b:
                rows.append({"rule on the target": label, "scan": scan_type, "simulator": a, "live lab": b})
    return pd.DataFrame(rows, columns=["rule on the target", "scan", "simulator", "live lab"])


def _state_of(cell: str) -> str:
    return cell.split(" (", 1)[0]


def state_grid(frame, title: str, what: str = "rule") -> Chart:
    """A grid chart of a DataFrame whose cells are ``"state (reason)"`` (or a bare state):
    one coloured box a cell, the colour the state's, the text inside the cell's."""
    rows, cols = list(frame.index), list(frame.columns)
    cells = [[str(frame.loc[r, c]) for c in cols] for r in rows]

    def build(theme):
        fig = new_figure(2.0 + 2.3 * len(cols), 0.9 + 0.42 * len(rows))
        ax = fig.add_subplot()
        for i, row in enumerate(cells):
            for j, cell in enumerate(row):
                state = _state_of(cell)
                fill = STATE_COLOURS.get(state)
                if fill is None:
                    ax.text(j, i, cell, ha="center", va="center", color=theme.muted, fontsize=9)
                    continue
                ax.add_patch(_box(j, i, fill))
                ax.text(j, i, cell.replace(" (", "\n("), ha="center", va="center", fontsize=8.5,
                        color=_text_on(fill))
        ax.set_xlim(-0.5, len(cols) - 0.5)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_xticks(range(len(cols)), [str(c) for c in cols])
        ax.xaxis.tick_top()
        ax.set_yticks(range(len(rows)), [str(r) for r in rows])
        ax.tick_params(length=0)
        for side in ("top", "right", "bottom", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(title, pad=12)
        return fig

    lines = []
    for r, row in zip(rows, cells):
        lines.append(f"{r}: " + "; ".join(f"{c} {cell}" for c, cell in zip(cols, row)))
    text = f"{title}. A grid, one row a {what}, one column per {', '.join(map(str, cols))}. " + ". ".join(lines) + "."
    return Chart(build, text, data=frame, title=title)


def _box(x: float, y: float, fill: str):
    from matplotlib.patches import FancyBboxPatch
    return FancyBboxPatch((x - 0.46, y - 0.4), 0.92, 0.8, boxstyle="round,pad=0,rounding_size=0.08",
                          facecolor=fill, edgecolor="none")


def _text_on(fill: str) -> str:
    from ..theme import text_on
    return text_on(fill)


def action_chart(table=None) -> Chart:
    """The drop/reject table as a grid chart (simulated when *table* is not given)."""
    return state_grid(sim_action_table() if table is None else table,
                      "What each firewall action looks like to each scan")


# --------------------------------------------------------------------- outbound

def outbound_table(base, host: str, attempts: Iterable[tuple], *, seed: int = 0):
    """Each ``(destination, port[, protocol])`` attempted by *host*: a DataFrame with
    the outcome, the errno a program gets, how long it waits, and the deciding rule."""
    import pandas as pd

    from ...sim.experiments import outbound_attempt
    s = scenario(base)
    rows = []
    for attempt in attempts:
        dest, port, *rest = attempt
        r = outbound_attempt(s, host, dest, port, rest[0] if rest else "tcp", seed=seed)
        rows.append({"destination": f"{r.destination}:{r.port}/{r.protocol}", "outcome": r.outcome,
                     "errno": r.errno_name or "", "waits (s)": r.waited_s, "decided by": r.rule or ""})
    return pd.DataFrame(rows, columns=["destination", "outcome", "errno", "waits (s)", "decided by"])


# --------------------------------------------------------------------- stateful

def connect_out(base, host: str, dest: str, port: int, protocol: str = "tcp", *, seed: int = 0):
    """*host* opens a connection to *dest*:*port* in a fresh simulated network that
    keeps state (conntrack).  Returns ``(answer, network)``: the answer's ``path`` is the
    walk out and back, ``network.machine(host).conntrack`` the flows it now tracks."""
    s = scenario(base)
    net = SimNetwork(s, seed=seed)
    sport = 41000
    answer = net.send(host, dest, port, protocol, sport=sport, record=True)
    machine = net.machine(host)
    if answer.kind not in (SILENCE, LOCAL_ERROR) and machine.firewall.stateful and answer.responder:
        # The reply came back through the sender's input chain as "established": conntrack
        # marks the flow replied then (the walk decided it; here the table is told).
        from ...sim.conntrack import FlowKey
        me = str(ipaddress.IPv4Address(next(iter(machine.addresses))))
        machine.conntrack.is_reply(FlowKey(protocol, answer.responder, port, me, sport), net.clock.now)
    return answer, net


def stateful_comparison(base, host: str, dest: str, port: int, protocol: str = "tcp"):
    """The same connection out, with *host*'s firewall stateful and stateless: a DataFrame
    with whether the reply got back in, and the step that decided it."""
    import pandas as pd
    rows = []
    for stateful in (True, False):
        variant = with_firewall(base, host, stateful=stateful)
        answer, _ = connect_out(variant, host, dest, port, protocol)
        back = next((line for line in answer.path if line.startswith(f"{host} input")), "")
        rows.append({"firewall": "stateful" if stateful else "stateless",
                     "reply": answer.describe(), "got back in": answer.kind != SILENCE,
                     "the reply met": back.split(": ", 1)[-1] or "-"})
    return pd.DataFrame(rows, columns=["firewall", "reply", "got back in", "the reply met"])


def flows_frame(net, host: str):
    """The flows *host*'s conntrack holds now, one row each."""
    import pandas as pd
    rows = [{"protocol": f.key.protocol, "original direction": str(f.key).split(" ", 1)[1],
             "state": f.state, "expires in (s)": f.timeout()} for f in net.machine(host).conntrack.flows()]
    return pd.DataFrame(rows, columns=["protocol", "original direction", "state", "expires in (s)"])


# --------------------------------------------------- the exercise: a stated policy

WEB = "10.77.0.10"
#: Where the exercise's scans come from.
POLICY_SOURCES = {"outsider 10.77.0.1": "10.77.0.1", "admin 10.77.0.5": "10.77.0.5",
                  "app server 10.77.0.20": "10.77.0.20"}
POLICY_PORTS = (22, 80, 443, 3306, 8080)
POLICY_TEXT = (
    "web (10.77.0.10): HTTP 80 and HTTPS 443 for everyone; SSH 22 only from the admin 10.77.0.5; "
    "MySQL 3306 only from the app server 10.77.0.20; everything else dropped silently, from everyone."
)


def policy_expected(source: str, port: int) -> str:
    """The state the stated policy wants a SYN scan from *source* to see on *port*."""
    if port in (80, 443):
        return "open"
    if port == 22 and source == "10.77.0.5":
        return "open"
    if port == 3306 and source == "10.77.0.20":
        return "open"
    return "filtered"


def as_firewall(answer) -> Firewall:
    """The learner's answer as a Firewall: a Firewall, the firewall editor (its edited
    rules), an object with a ``firewall`` (attribute or method), a dict ``{"policy": ..., "rules": [...]}``,
    or a bare list of rules (then the policy is accept, as nftables' default is)."""
    if isinstance(answer, Firewall):
        return answer
    edited, host = getattr(answer, "edited", None), getattr(answer, "host", None)
    if callable(edited) and isinstance(host, str):
        # The firewall editor (portlab.course.widgets.firewall_editor): its rules read back
        # through the scenario reader, so a bad field comes back as the reader's one line.
        machine = edited().machine(host)
        return machine.firewall or Firewall()
    for attr in ("firewall", "to_firewall"):
        value = getattr(answer, attr, None)
        if value is not None:
            value = value() if callable(value) else value
            if isinstance(value, Firewall):
                return value
    if isinstance(answer, Mapping):
        policy = answer.get("policy", "accept")
        if policy not in ("accept", "drop"):
            raise BadInput(f"policy {policy!r}: expected accept or drop")
        return Firewall(policy=policy, rules=tuple(as_rule(r) for r in answer.get("rules", ())),
                        output_policy=answer.get("output_policy", "accept"),
                        output=tuple(as_rule(r) for r in answer.get("output", ())))
    if isinstance(answer, (list, tuple)):
        return Firewall(rules=tuple(as_rule(r) for r in answer))
    raise BadInput(f"{type(answer).__name__} is not a firewall (expected the editor, a Firewall, "
                   "a list of rules or a dict with policy and rules)")


def policy_report(answer, base="web-server", host: str = "web"):
    """Scan *host* protected by the learner's firewall from each source; a DataFrame, one
    row per (source, port): what the policy wants, what the scan saw, the deciding rule."""
    import pandas as pd
    variant = with_firewall(base, host, as_firewall(answer))
    rows = []
    for label, source in POLICY_SOURCES.items():
        seen = states(scan_from(variant, source, WEB, list(POLICY_PORTS), "syn"))
        for port in POLICY_PORTS:
            state, reason = seen[port]
            want = policy_expected(source, port)
            # "Dropped silently": filtered for lack of any answer, not an ICMP reject.
            ok = state == want and (want != "filtered" or reason == "no-response")
            rows.append({"from": label, "port": port, "wanted": want, "scan saw": f"{state} ({reason})",
                         "ok": ok, "decided by": deciding_rule(variant, host, source, port)})
    return pd.DataFrame(rows, columns=["from", "port", "wanted", "scan saw", "ok", "decided by"])


def policy_failures(answer, base="web-server", host: str = "web") -> list[str]:
    """One sentence per port the rescan finds wrong, saying why; empty when the policy holds."""
    report = policy_report(answer, base, host)
    out = []
    for row in report[~report["ok"]].itertuples(index=False):
        seen = row[3]
        state = _state_of(seen)
        where = f"{row.port}/tcp from {row[0]}"
        if row.wanted == "open":
            why = ("a rule drops or rejects it first, or no rule accepts it before the default"
                   if state == "filtered" else "no rule accepts it")
            out.append(f"{where} is {seen} but must be open: {why} (decided by {row[5]}).")
        elif state == "open" and row[5].endswith("(policy)"):
            out.append(f"{where} is open but must be filtered: none of your rules matches it, so the "
                       "policy (accept) lets it in. Default deny: make the policy drop.")
        elif state == "open":
            out.append(f"{where} is open but must be filtered: {row[5]} lets it in; "
                       "narrow that rule (a source) or put a stricter rule above it.")
        elif state == "closed":
            out.append(f"{where} is {seen} but must be filtered: the firewall let the probe reach the host "
                       f"({row[5]}) or answered it with a reject; a default-deny policy drops it silently.")
        else:
            out.append(f"{where} is {seen} but must be filtered silently (dropped, no answer): "
                       f"use drop, not reject (decided by {row[5]}).")
    return out


def policy_start() -> Scenario:
    """The exercise's starting point: web with the web rule only and a policy of accept
    (the default-allow firewall of the notebook's section 3), for the editor to fix."""
    return with_firewall("web-server", "web", policy="accept", rules=[
        {"action": "accept", "protocol": "tcp", "ports": "80,443", "name": "web for everyone"}])


def policy_solution() -> dict:
    """A firewall that meets :data:`POLICY_TEXT` (for the exercise's solution and tests)."""
    return {"policy": "drop", "rules": [
        {"action": "accept", "protocol": "tcp", "ports": "80,443", "name": "web for everyone"},
        {"action": "accept", "protocol": "tcp", "ports": "22", "source": "10.77.0.5", "name": "ssh: admin"},
        {"action": "accept", "protocol": "tcp", "ports": "3306", "source": "10.77.0.20", "name": "mysql: app"},
    ]}


def port_table(result):
    """A one-host result as a short DataFrame: port, protocol, state, reason, service."""
    import pandas as pd
    rows = [{"port": p.port, "protocol": p.protocol, "state": str(p.state), "reason": p.reason,
             "service": p.service or ""} for p in result.hosts[0].ports]
    return pd.DataFrame(rows, columns=["port", "protocol", "state", "reason", "service"])


# ------------------------------------------------- change a value: where a new rule goes

#: Where :func:`with_rule_at` puts a new rule: first (``nft insert rule``) or last (``nft add rule``).
PLACES = ("top", "bottom")


def with_rule_at(base, host: str, rule: RuleLike, place: str = "bottom") -> Scenario:
    """*base* with one more inbound *rule* on *host*'s firewall, at the ``"bottom"`` of its
    rules (after the ones it has, where ``nft add rule`` appends) or at the ``"top"`` (before
    them, as ``nft insert rule`` does; portlab's stateful line still comes first)."""
    if place not in PLACES:
        raise BadInput(f"place {place!r}: expected \"top\" or \"bottom\"")
    s = scenario(base)
    machine = s.machine(host)
    old = (machine.firewall or Firewall()).rules
    new = as_rule(rule)
    return with_firewall(s, host, rules=(new, *old) if place == "top" else (*old, new))


def port_view(base, host: str, target: str, port: int, sources: Mapping[str, str]):
    """A SYN scan of *port* from each source: one row a source, with the state it sees and
    the rule of *host*'s inbound chain that decided its probe."""
    import pandas as pd
    rows = []
    for label, source in sources.items():
        state, reason = states(scan_from(base, source, target, [port], "syn"))[port]
        rows.append({"from": label, "state": state, "reason": reason,
                     "decided by": deciding_rule(base, host, source, port)})
    frame = pd.DataFrame(rows, columns=["from", "state", "reason", "decided by"]).set_index("from")
    frame.index.name = "scanned"
    return frame
