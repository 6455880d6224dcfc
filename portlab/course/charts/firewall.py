"""Which firewall rule decided each probe, and what each scan type then sees.

A firewall reads its rules in order and the first rule that matches a packet
decides its fate (an AWS security group is a list of allow rules, an Azure NSG
is read by priority, lowest number first, with Azure's default rules at the end).
:func:`evaluation` asks the simulator's own firewall code
(:func:`portlab.sim.firewall.deciding_rule`) which rule decided each probe, and
the simulated network what a connect, SYN or UDP scan then reports; the chart
:func:`firewall_evaluation` draws that as a grid, rules down the side and probes
across the top, with the deciding rule of each probe filled in its verdict's
colour.

A *probe* is one question to the firewall: ``(port, protocol, source)``.  The
source ``None`` is the scenario's scanner; another address asks "what if the
packet came from there" (an administrator's machine, say).
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Iterable, Optional, Union

from matplotlib.patches import Rectangle

from ...errors import BadInput
from ...scenario import Host, Network, Router, Scanner, Scenario
from ...sim import kernel
from ...sim.firewall import compile_firewall, deciding_rule
from ...sim.kernel import ICMP, RST, SILENCE
from ...sim.network import Answer, SimNetwork, load_scenario
from ...states import ScanType, classify
from ...transports.sim import observed_reply
from ..theme import STATE_COLOURS, VERDICT_COLOURS, Chart, Theme, new_figure, text_on

#: Which scan types can ask a port of each protocol.
SCANS_FOR = {"tcp": ("connect", "syn"), "udp": ("udp",)}
SCAN_LABELS = {"connect": "connect scan", "syn": "SYN scan", "udp": "UDP scan"}

Probe = tuple[int, str, Optional[str]]


# ---- the scenario and the host -------------------------------------------------------

def _machine(scenario: Scenario, host: Optional[str]) -> Union[Host, Router]:
    if host is not None:
        return scenario.machine(host)
    with_fw = [h for h in scenario.hosts if h.firewall is not None]
    if with_fw:
        return with_fw[0]
    if scenario.hosts:
        return scenario.hosts[0]
    raise BadInput(f"scenario {scenario.name} has no hosts (expected host=NAME of a router)")


def _scenario_of_host(host: Host) -> Scenario:
    """A one-host network around a bare :class:`Host`, so that it can be scanned."""
    net = ipaddress.ip_network(f"{host.address}/24", strict=False)
    scanner = next(a for a in net.hosts() if a != host.address)
    name = host.network or "lan"
    return Scenario(name="host", description="", scanner=Scanner(scanner, name),
                    networks=(Network(name, net),), hosts=(replace(host, network=name),))


def resolve(target, host: Optional[str] = None) -> tuple[Scenario, Union[Host, Router]]:
    """``(scenario, machine)`` from a scenario (object, file, shipped name) or a bare Host."""
    if isinstance(target, Host):
        scenario = _scenario_of_host(target)
        return scenario, scenario.hosts[0]
    scenario = load_scenario(target)
    return scenario, _machine(scenario, host)


def target_address(scenario: Scenario, machine) -> ipaddress.IPv4Address:
    """The address a probe asks: a host's, or a router's on the scanner's side."""
    if isinstance(machine, Host):
        return machine.address
    for iface in machine.interfaces:
        if iface.network == scenario.scanner.network:
            return iface.address
    return machine.interfaces[0].address


# ---- probes ----------------------------------------------------------------------------

def as_probe(value) -> Probe:
    """``22``, ``"53/udp"``, ``(22, "tcp")``, ``(22, "tcp", "10.77.0.5")`` or a dict -> a probe."""
    if isinstance(value, dict):
        return as_probe((value["port"], value.get("protocol", "tcp"), value.get("source")))
    if isinstance(value, str):
        port, _, protocol = value.partition("/")
        value = (int(port), protocol or "tcp")
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, "tcp")
    value = tuple(value)
    if len(value) not in (2, 3):
        raise BadInput(f"probe {value!r}: expected (port, protocol) or (port, protocol, source)")
    port, protocol = int(value[0]), str(value[1]).lower()
    if protocol not in SCANS_FOR:
        raise BadInput(f"probe {value!r}: protocol {protocol!r} (expected tcp or udp)")
    if not 1 <= port <= 65535:
        raise BadInput(f"probe {value!r}: port {port} is out of range (expected 1-65535)")
    source = value[2] if len(value) == 3 else None
    return port, protocol, (str(source) if source is not None else None)


def _sample_source(spec, scenario: Scenario, own) -> Optional[str]:
    """An address a rule's source matches, preferring a machine of the scenario."""
    if spec is None or isinstance(spec, str):
        return None    # any address, or an Azure tag the scanner already shows
    for address in scenario.addresses():
        if address in spec:
            return str(address)
    return str(next(iter(spec.hosts()), spec.network_address))


def default_probes(target, host: Optional[str] = None, limit: int = 14) -> list[Probe]:
    """Probes worth asking of a machine: each rule's first port (and from inside the rule's
    source, when it names one), the machine's services, and one unused port for the policy."""
    scenario, machine = resolve(target, host)
    probes: list[Probe] = []

    def add(probe: Probe) -> None:
        if probe not in probes:
            probes.append(probe)

    fw = machine.firewall
    for rule in (fw.rules if fw else ()):
        if rule.priority is not None and rule.priority > 4096:
            continue            # Azure's defaults match everything else anyway
        protocols = (rule.protocol,) if rule.protocol else ("tcp",)
        port = next(iter(rule.ports)) if rule.ports is not None else None
        for protocol in protocols:
            if port is None:
                services = machine.tcp if protocol == "tcp" else machine.udp
                port = services[0] if services else 1
            add((port, protocol, None))
            inside = _sample_source(rule.source, scenario, ())
            if inside and ipaddress.IPv4Address(inside) != scenario.scanner.address:
                add((port, protocol, inside))
    for protocol in ("tcp", "udp"):
        for port in (machine.tcp if protocol == "tcp" else machine.udp):
            add((port, protocol, None))
    named = [r.ports for r in (fw.rules if fw else ()) if r.ports is not None]
    unused = next(p for p in (8888, 12345, 23456, 31337) if p not in machine.tcp
                  and not any(p in ports for ports in named))
    add((unused, "tcp", None))
    return probes[:limit]


# ---- one probe, through the simulator ----------------------------------------------------

def _sender(scenario: Scenario, source: Optional[str]) -> tuple[Optional[Scenario], str]:
    """The network and the machine a probe from *source* is sent from.

    ``None`` and the scanner's address: the scanner.  An address a machine holds: that
    machine (its own outbound rules apply).  A free address on a scenario network: the
    scanner, moved there.  Anything else: ``(None, ...)``, the way is not simulated."""
    if source is None:
        return scenario, "scanner"
    address = ipaddress.IPv4Address(source)
    holder = scenario.addresses().get(address)
    if holder is not None:
        return scenario, holder
    for net in scenario.networks:
        if address in net.cidr and address not in (net.cidr.network_address, net.cidr.broadcast_address):
            gateway = None
            for router in scenario.routers:
                for iface in router.interfaces:
                    if iface.network == net.name:
                        gateway = iface.address
            moved = Scanner(address, net.name, gateway)
            return replace(scenario, scanner=moved), "scanner"
    return None, "scanner"


def _answer_at_host(machine, decision, protocol: str, port: int) -> Answer:
    """The host's own answer when the way to it is not simulated (a source outside every
    network of the scenario): its firewall's decision, then its stack."""
    action = decision.action
    if action.kind == "drop":
        return Answer(SILENCE)
    if action.kind == "reject":
        return Answer(ICMP, action.icmp_code) if action.icmp_code is not None else Answer(RST)
    kind, code = kernel.stack_answer(protocol, port, machine.tcp, machine.udp)
    return Answer(kind, code)


def _rule_label(rule, index: Optional[int], style: str) -> str:
    """One line naming a rule the way its style writes it."""
    if index is None:   # a security group has no policy to speak of, only "not allowed"
        return "no rule allows it: dropped" if style == "aws-sg" else "policy"
    proto = rule.protocol or ("any" if style == "azure-nsg" else "tcp+udp")
    ports = str(rule.ports) if rule.ports is not None else "any port"
    peer = ""
    if rule.source is not None:
        peer += f" from {rule.source}"
    if rule.destination is not None and style != "azure-nsg":
        peer += f" to {rule.destination}"
    if style == "azure-nsg":
        verb = "allow" if rule.action == "accept" else "deny"
        return f"{rule.priority} {rule.name}: {verb} {proto} {ports}{peer}"
    if style == "aws-sg":
        return f"allow {proto} {ports}{peer}" + (f" ({rule.name})" if rule.name else "")
    verb = rule.action
    if rule.action == "reject" and rule.reject_with != "port-unreachable":
        verb = f"reject with {rule.reject_with}"
    name = f" \u2014 {_short(rule.name, 30)}" if rule.name else ""
    return f"#{index} {verb} {proto} {ports}{peer}{name}"


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "\u2026"


def evaluation(target, probes: Optional[Iterable] = None, *, host: Optional[str] = None) -> list[dict]:
    """For each probe, which rule of the machine's inbound firewall decided it, and what
    each scan type that can ask that port then reports.

    *target* is a scenario (object, file or shipped name) or a bare
    :class:`~portlab.scenario.Host`; *host* names the machine (default: the first host
    with a firewall).  *probes* default to :func:`default_probes`.  One dict a probe:
    ``port, protocol, source`` (address), ``sender`` (the machine it came from),
    ``rule_index`` (position in ``firewall.rules``, ``None`` = the policy), ``rule``
    (the rule as one line), ``priority`` (Azure), ``name``, ``verdict``
    (``accept``/``drop``/``reject``), ``reject_with``, ``reached`` (the probe got to the
    machine at all), ``sim_decision`` (what the simulator's packet walk wrote for the
    machine's input chain) and, per scan type, ``connect``/``syn``/``udp`` with
    ``..._reason`` (``None`` where a scan type cannot ask that protocol), and
    ``stopped_by`` (for a probe that never reached the machine: the simulator's line
    saying where it ended, a router's NAT for instance).
    """
    scenario, machine = resolve(target, host)
    own = scenario.local_networks(machine.name)
    fw = machine.firewall
    compiled = compile_firewall(fw, own)
    style = fw.style if fw else "none"
    address = target_address(scenario, machine)
    probe_list = [as_probe(p) for p in (probes if probes is not None else default_probes(scenario, machine.name))]
    networks: dict[Optional[str], tuple[Optional[SimNetwork], str]] = {}
    rows = []
    for port, protocol, source in probe_list:
        if source not in networks:
            network_scenario, sender = _sender(scenario, source)
            networks[source] = (SimNetwork(network_scenario) if network_scenario is not None else None, sender)
        net, sender = networks[source]
        if net is not None:
            src = str(ipaddress.IPv4Address(next(iter(net.machine(sender).addresses))))
        else:
            src, sender = source, None
        decision = deciding_rule(compiled, protocol, port, src, address)
        rule = fw.rules[decision.index] if (fw is not None and decision.index is not None) else None
        if net is not None:
            answer = net.send(sender, str(address), port, protocol)
            prefix = f"{machine.name} input: "
            sim_decision = next((line[len(prefix):] for line in answer.path if line.startswith(prefix)), None)
            reached = sim_decision is not None or fw is None and any(
                line.startswith(f"{machine.name}: ") for line in answer.path)
        else:
            answer = _answer_at_host(machine, decision, protocol, port)
            sim_decision, reached = None, True
        action = decision.action
        row = {
            "port": port, "protocol": protocol, "source": src,
            "sender": sender,
            "rule_index": decision.index, "rule": _rule_label(rule, decision.index, style),
            "priority": rule.priority if rule is not None else None,
            "name": (rule.name if rule is not None else "policy") or "",
            "verdict": action.kind,
            "reject_with": (rule.reject_with if rule is not None and action.kind == "reject" else None),
            "decision": action.describe(), "reached": reached, "sim_decision": sim_decision,
            # what stopped a probe on its way (a router, NAT), from the simulator's story
            "stopped_by": None if reached or net is None else next(
                (line for line in reversed(answer.path) if not line.startswith("answer")), None),
        }
        for scan in ("connect", "syn", "udp"):
            if scan in SCANS_FOR[protocol]:
                verdict = classify(scan, observed_reply(answer, ScanType(scan)))
                row[scan], row[f"{scan}_reason"] = str(verdict.state), verdict.reason
            else:
                row[scan] = row[f"{scan}_reason"] = None
        rows.append(row)
    return rows


def rule_table(target, host: Optional[str] = None) -> list[dict]:
    """The machine's inbound rules in evaluation order, one dict a rule (``index``,
    ``label``, ``verdict``), then the policy (index ``None``) unless Azure's final
    default rule already decides everything (an NSG's policy is never reached)."""
    scenario, machine = resolve(target, host)
    fw = machine.firewall
    if fw is None:
        return [{"index": None, "label": "no firewall: everything accepted", "verdict": "accept"}]
    rows = [{"index": i, "label": _rule_label(r, i, fw.style), "verdict": r.action} for i, r in enumerate(fw.rules)]
    if fw.style != "azure-nsg":
        what = "no rule allows it: dropped" if fw.style == "aws-sg" else f"policy {fw.policy}"
        rows.append({"index": None, "label": what, "verdict": fw.policy})
    return rows


# ---- the chart ------------------------------------------------------------------------

def _column_label(row: dict, scanner: str) -> str:
    if row["source"] == scanner:
        who = "scanner"
    elif row["sender"] not in (None, "scanner"):
        who = row["sender"]
    else:
        who = row["source"]
    stopped = "\n(stopped on the way)" if not row["reached"] else ""
    return f"{row['protocol']} {row['port']}\nfrom {who}{stopped}"


def _verdict_word(row: dict, style: str = "nftables") -> str:
    if style == "azure-nsg":    # the words the cloud consoles use
        return {"accept": "allow", "drop": "deny"}.get(row["verdict"], row["verdict"])
    if style == "aws-sg":       # a security group has no deny: what no rule allows is dropped
        return {"accept": "allow", "drop": "dropped"}.get(row["verdict"], row["verdict"])
    if row["verdict"] != "reject":
        return row["verdict"]
    kind = row["reject_with"] or "port-unreachable"
    # The names nmap's --reason uses, which the learner meets in scan output.
    short = {"port-unreachable": "port-unreach", "host-unreachable": "host-unreach",
             "net-unreachable": "net-unreach", "prot-unreachable": "proto-unreach"}.get(kind, kind)
    return f"reject\n{short}"


def _describe(scenario: Scenario, machine, rows: list[dict]) -> str:
    fw = machine.firewall
    style = {"nftables": "an nftables-style rule list (first match wins, then the policy)",
             "aws-sg": "an AWS security group (allow rules only; anything else is dropped)",
             "azure-nsg": "an Azure NSG (rules by priority, lowest first; Azure's defaults at the end)",
             }.get(fw.style if fw else "", "no firewall")
    parts = []
    for row in rows:
        states = " and the ".join(f"{SCAN_LABELS[s]} sees {row[s]} ({row[s + '_reason']})"
                                  for s in SCANS_FOR[row["protocol"]])
        who = "the scanner" if row["source"] == str(scenario.scanner.address) else (
            f"{row['sender']} ({row['source']})" if row["sender"] not in (None, "scanner") else row["source"])
        if fw is None:
            decided = "(no firewall)"
        elif row["rule_index"] is None:
            decided = "because no rule allows it" if fw is not None and fw.style == "aws-sg" else "by the policy"
        else:
            decided = f"by rule {row['rule']}"
        verb = {"accept": "accepted", "drop": "dropped", "reject": "rejected"}[row["verdict"]]
        if row["reject_with"]:
            verb += f" with {row['reject_with']}"
        if not row["reached"]:
            parts.append(f"{row['protocol']} {row['port']} from {who} never reaches {machine.name} "
                         f"({row['stopped_by']}), so the {states}")
            continue
        parts.append(f"{row['protocol']} {row['port']} from {who} is {verb} {decided}, so the {states}")
    return (f"Firewall of {machine.name} in scenario {scenario.name}, {style}. "
            f"{len(rows)} probes: " + "; ".join(parts) + ".")


def firewall_evaluation(target="web-server", probes: Optional[Iterable] = None, *,
                        host: Optional[str] = None, title: Optional[str] = None) -> Chart:
    """Rules down the side, probes across the top: for each probe the rules the firewall
    checked without a match (a dot), the rule that decided (filled in its verdict's
    colour), and below, the state each scan type reports."""
    scenario, machine = resolve(target, host)
    rows = evaluation(scenario, probes, host=machine.name)
    rules = rule_table(scenario, machine.name)
    scanner = str(scenario.scanner.address)
    title = title or f"Which rule decides? {machine.name} in {scenario.name}"
    scans = [s for s in ("connect", "syn", "udp") if any(r[s] is not None for r in rows)]
    style = machine.firewall.style if machine.firewall else "none"

    def build(th: Theme):
        n_cols, n_rules = len(rows), len(rules)
        n_rows = n_rules + 1 + len(scans)      # a gap row between rules and states
        label_width = max(len(r["label"]) for r in rules + [{"label": "UDP scan sees"}])
        fig = new_figure(1.6 + 0.068 * label_width + 1.1 * n_cols, 1.6 + 0.42 * n_rows)
        ax = fig.add_subplot()
        position = {r["index"]: y for y, r in enumerate(rules)}
        checked_x, checked_y = [], []
        for x, row in enumerate(rows):
            decided_y = position[row["rule_index"]] if row["rule_index"] in position else n_rules - 1
            if not row["reached"]:
                # Stopped on the way (a NAT router, say): this firewall never saw it, so no
                # rule of it decided anything.  A dashed outline says so where it would be.
                ax.add_patch(Rectangle((x - 0.45, decided_y - 0.42), 0.9, 0.84, facecolor="none",
                                       edgecolor=th.foreground, linewidth=1.0, linestyle="--",
                                       gid=f"unreached:{x}"))
                ax.text(x, decided_y, "never\narrives", ha="center", va="center", fontsize=8.5,
                        color=th.foreground)
            else:
                checked_x += [x] * decided_y        # the rules above it: checked on the way, no match
                checked_y += list(range(decided_y))
                fill = VERDICT_COLOURS[row["verdict"]]
                ax.add_patch(Rectangle((x - 0.45, decided_y - 0.42), 0.9, 0.84, facecolor=fill,
                                       edgecolor=th.foreground, linewidth=1.2,
                                       gid=f"decision:{x}:{row['rule_index']}"))
                ax.text(x, decided_y, _verdict_word(row, style), ha="center", va="center", fontsize=8.5,
                        color=text_on(fill), gid=f"on:{fill}")
            for k, scan in enumerate(scans):
                y = n_rules + 1 + k
                state = row[scan]
                if state is None:
                    ax.text(x, y, "\u2013", ha="center", va="center", fontsize=9, color=th.foreground)
                    continue
                fill = STATE_COLOURS[state]
                ax.add_patch(Rectangle((x - 0.45, y - 0.42), 0.9, 0.84, facecolor=fill, edgecolor="none",
                                       gid=f"state:{x}:{scan}"))
                # The reason is half the lesson: filtered by silence and filtered by an
                # ICMP error look alike in the state column and differ here.
                ax.text(x, y, f"{state}\n{row[scan + '_reason']}", ha="center", va="center", fontsize=8,
                        color=text_on(fill), gid=f"on:{fill}")
        ax.plot(checked_x, checked_y, marker="o", markersize=3.5, color=th.foreground, linestyle="none")
        ax.axhline(n_rules, color=th.foreground, linewidth=0.8)
        ax.set_xlim(-0.55, n_cols - 0.45)
        ax.set_ylim(n_rows - 0.5, -0.6)
        ax.set_yticks(list(range(n_rules)) + [n_rules + 1 + k for k in range(len(scans))],
                      [r["label"] for r in rules] + [f"{SCAN_LABELS[s]} sees" for s in scans])
        ax.xaxis.tick_top()
        ax.set_xticks(range(n_cols), [_column_label(r, scanner) for r in rows], fontsize=8.5)
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        ax.set_title(title, loc="left")
        if style == "aws-sg":
            legend = ("\u25cf checked, did not match      filled: a rule that allows it (any one will do: "
                      "the order does not matter), else dropped")
        else:
            legend = ("\u25cf checked, did not match      filled: the first match decides      "
                      "blank: never read (first match wins)")
        ax.set_xlabel(legend, fontsize=9, loc="left")
        return fig

    return Chart(build, _describe(scenario, machine, rows), rows, title)


def gallery() -> dict[str, Chart]:
    """A few evaluations from the shipped scenarios (``make figures`` renders them)."""
    return {
        "web-server": firewall_evaluation(
            "web-server", [(80, "tcp", None), (443, "tcp", None), (22, "tcp", None), (22, "tcp", "10.77.0.5"),
                           (3306, "tcp", None)]),
        "single-host": firewall_evaluation(
            "single-host", [(9000 + i, "tcp", None) for i in range(9)] + [(22, "tcp", None), (81, "tcp", None)],
            title="Drop and each reject type, as the scanner sees them (single-host)"),
        "single-host-udp": firewall_evaluation(
            "single-host", [(p, "udp", None) for p in (9000, 9001, 9002, 9003, 9004, 53, 54)],
            title="Drop and reject against a UDP scan (single-host)"),
        "cloud-sg": firewall_evaluation(
            "cloud-sg", [(443, "tcp", None), (22, "tcp", None), (22, "tcp", "10.77.0.70"), (5432, "tcp", None)]),
        "cloud-nsg": firewall_evaluation(
            "cloud-nsg", [(443, "tcp", None), (22, "tcp", None), (8080, "tcp", None), (8443, "tcp", None),
                          (3389, "tcp", None), (22, "tcp", "10.77.10.9")]),
    }
