"""Notebook 06 (cloud firewalls): one policy written three ways (nftables-style, an AWS
security group, an Azure NSG) and the scans that prove they agree; an NSG's rules in
priority order with Azure's defaults, inbound and outbound; which rule decides; the
classic priority mistake of ``cloud-nsg`` and the check of its fix; what the outbound
defaults let a compromised VM call; a deny of one address and the number it needs
(:func:`with_inbound`, :func:`seen_from`); the live lab's recordings against the simulator.

Every variant is built through the scenario reader (the same one a file goes through),
so an NSG gets Azure's default rules appended and an AWS group its drop-what-is-not-allowed.
"""

from __future__ import annotations

import sys
from typing import Mapping, Optional, Sequence

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from dataclasses import replace

from ...errors import BadInput
from ...scenario import Firewall, Nat
from ..theme import Chart
from . import nb05

STYLES = ("nftables", "aws-sg", "azure-nsg")
BASE = "cloud-nsg"          # a VM in its own virtual network, reached from outside through a router
VM = "vm"
VM_ADDRESS = "10.77.10.4"

#: Where the comparisons scan from: the Internet, an admin inside 10.77.0.64/26, a VM of the same VNet.
SOURCES = {"Internet 10.77.0.1": "10.77.0.1", "admin 10.77.0.70": "10.77.0.70",
           "VNet neighbour 10.77.10.9": "10.77.10.9"}
PORTS = (22, 443, 3389, 8080, 8443)

POLICY = "HTTPS 443 from anywhere; SSH 22 only from the admins' network 10.77.0.64/26; nothing else."

#: The policy, three ways, as the ``[hosts.firewall]`` table of a scenario file says it.
THREE_WAYS = {
    "nftables": '''\
[hosts.firewall]
policy = "drop"
rules = [
  { action = "accept", protocol = "tcp", ports = "443", name = "https for everyone" },
  { action = "accept", protocol = "tcp", ports = "22", source = "10.77.0.64/26", name = "ssh from the admins" },
]
''',
    "aws-sg": '''\
[hosts.firewall]
style = "aws-sg"
inbound = [
  { protocol = "tcp", ports = "443", source = "0.0.0.0/0", name = "HTTPS from anywhere" },
  { protocol = "tcp", ports = "22", source = "10.77.0.64/26", name = "SSH from the admins" },
]
''',
    "azure-nsg": '''\
[hosts.firewall]
style = "azure-nsg"
inbound = [
  { priority = 100, name = "AllowHTTPS", action = "allow", protocol = "tcp", ports = "443", source = "*" },
  { priority = 110, name = "AllowSSHFromAdmins", action = "allow", protocol = "tcp", ports = "22", source = "10.77.0.64/26" },
]
''',
}

#: The rule that makes the NSG agree from inside its own virtual network too.
DENY_VNET = {"priority": 4000, "name": "DenyVnetRest", "action": "deny", "protocol": "*", "ports": "*",
             "source": "VirtualNetwork"}


def _firewall_table(text: str) -> dict:
    try:
        return tomllib.loads(text)["hosts"]["firewall"]
    except (tomllib.TOMLDecodeError, KeyError) as err:
        raise BadInput(f"firewall text: {err} (expected a [hosts.firewall] table)") from None


def with_style(style: str, text: Optional[str] = None, *, extra: Sequence[dict] = (), base=BASE):
    """*base* with the VM's firewall written in *style* (the text of :data:`THREE_WAYS`, or
    *text*), plus *extra* inbound rules; read through the scenario reader."""
    from ..widgets.firewall_editor import edited_scenario

    table = _firewall_table(text if text is not None else THREE_WAYS[style])
    found = table.get("style", "nftables")
    if found != style:
        raise BadInput(f"firewall text is style {found!r} (expected {style!r})")
    rules = list(table.get("rules" if style == "nftables" else "inbound", ())) + list(extra)
    return edited_scenario(base, VM, rules, table.get("policy", "drop"), style)


def agreement(variants: Mapping[str, object], sources: Mapping[str, str] = SOURCES,
              ports: Sequence[int] = PORTS, scan_type: str = "syn"):
    """Scan the VM of each variant (label -> scenario) from each source: a DataFrame, one
    row per (source, port), one column per variant (the state seen), and ``agree``."""
    import pandas as pd
    rows = []
    seen = {label: {name: nb05.states(nb05.scan_from(s, address, VM_ADDRESS, list(ports), scan_type))
                    for name, address in sources.items()} for label, s in variants.items()}
    for name in sources:
        for port in ports:
            row = {"from": name, "port": port}
            for label in variants:
                row[label] = seen[label][name][port][0]
            row["agree"] = len({row[label] for label in variants}) == 1
            rows.append(row)
    return pd.DataFrame(rows, columns=["from", "port", *variants, "agree"]).set_index(["from", "port"])


def agreement_chart(frame, title: str = "One policy, three firewalls: what a SYN scan sees") -> Chart:
    """The agreement table as a grid: one row per (source, port), one column per firewall."""
    grid = frame.drop(columns=["agree"]).copy()
    # A row where the firewalls disagree says so in its label, for readers of the text too.
    grid.index = [f"{port}/tcp from {source}" + ("" if agree else "  \u2260 differ")
                  for (source, port), agree in zip(frame.index, frame["agree"])]
    return nb05.state_grid(grid, title, what="probe (port and source)")


# ------------------------------------------------------------------------ Azure NSG

#: An NSG rule's far end, by direction: who sends (inbound) or where it goes (outbound).
PEER = {"inbound": "source", "outbound": "destination"}


def _words(rule, peer: str = "source") -> dict:
    ports = str(rule.ports) if rule.ports is not None else "*"
    value = getattr(rule, peer)
    where = value if isinstance(value, str) else (str(value) if value else "*")
    return {"priority": rule.priority, "name": rule.name or "",
            "action": "allow" if rule.action == "accept" else "deny",
            "protocol": rule.protocol or "*", "ports": ports, peer: where,
            "default": rule.priority is not None and rule.priority >= 65000}


def _nsg(s, host: str) -> Firewall:
    fw = s.machine(host).firewall
    if fw is None or fw.style != "azure-nsg":
        raise BadInput(f"{host} in {s.name} has no Azure NSG (expected style azure-nsg)")
    return fw


def nsg_rules(base=BASE, host: str = VM, direction: str = "inbound"):
    """An NSG's rules of one *direction* (``"inbound"`` or ``"outbound"``) in the order Azure
    reads them (lowest priority number first), Azure's three default rules of that
    direction included (``default`` True)."""
    import pandas as pd
    if direction not in PEER:
        raise BadInput(f"direction {direction!r}: expected inbound or outbound")
    fw = _nsg(nb05.scenario(base), host)
    rules = fw.rules if direction == "inbound" else fw.output
    return pd.DataFrame([_words(r, PEER[direction]) for r in rules],
                        columns=["priority", "name", "action", "protocol", "ports", PEER[direction], "default"])


# ------------------------------------------------------------------- outbound

def with_outbound(rules: Sequence[Mapping], base=BASE, host: str = VM):
    """*base* with the NSG of *host* given these outbound rules (NSG dicts: priority, name,
    action, protocol, ports, destination), read through the scenario reader, so Azure's
    three outbound defaults follow them."""
    from ...scenario import from_dict, to_toml
    s = nb05.scenario(base)
    _nsg(s, host)
    doc = tomllib.loads(to_toml(s))
    table = next(t for t in doc.get("hosts", []) if t.get("name") == host)
    table["firewall"]["outbound"] = [dict(r) for r in rules]
    return from_dict(doc, s.name)


def online(base=BASE, router: str = "edge"):
    """*base* with the Internet beyond *router*: the router translates (NAT) on its side
    that faces the scanner, as a cloud's way out does, so an address outside every
    scenario network is "the Internet", where a server answers on every port (as
    :func:`nb05.with_internet`). Only the VM's own outbound rules can then stop a call."""
    s = nb05.scenario(base)
    outside = s.scanner.network
    routers = tuple(replace(r, nat=Nat(outside)) if r.name == router else r for r in s.routers)
    if routers == s.routers:
        raise BadInput(f"scenario {s.name} has no router {router!r} "
                       f"(expected one of {', '.join(r.name for r in s.routers) or 'none'})")
    return replace(s, routers=routers)


def which_rule(base, source: str, port: int, protocol: str = "tcp", host: str = VM) -> str:
    """The name of the rule that decides a new packet from *source* to *port* (an NSG's rule
    name, a security group's rule name, or ``"policy"``)."""
    from ...sim.firewall import deciding_rule
    s = nb05.scenario(base)
    machine = s.machine(host)
    fw = machine.firewall
    decision = deciding_rule(fw, protocol, port, source, machine.address,
                             own_networks=s.local_networks(host))
    if decision.index is None:
        return "policy"
    rule = fw.rules[decision.index]
    return rule.name or f"rules[{decision.index}]"


def decisions(base, sources: Mapping[str, str] = SOURCES, ports: Sequence[int] = PORTS, host: str = VM):
    """Which rule decides each (source, port): a DataFrame, one row a port, one column a source."""
    import pandas as pd
    frame = pd.DataFrame({name: {port: which_rule(base, address, port, host=host) for port in ports}
                          for name, address in sources.items()})
    frame.index.name = "port"
    return frame


# ------------------------------------------------------------ the priority mistake

#: What the fix must achieve (the exercise's statement).
FIX_TEXT = ("8443 (the app's TLS port) must be reachable from the Internet; the rest of 8000-8999 stays "
            "shut to everyone, the virtual network included; everything else stays as it is.")


#: (source, port) the statement says nothing about: 8443 from inside the VNet (the statement
#: wants it from the Internet; whether the VNet gets it too depends on how the fix is made).
FREE = {("10.77.10.9", 8443)}


def fixed_rules() -> list[dict]:
    """A fix of ``cloud-nsg``: AllowAppTLS read before DenyAppPorts (priority 150 < 200)."""
    from ..widgets.firewall_editor import rules_of
    _, _, rules = rules_of(BASE, VM)
    return [dict(r, priority=150) if r["name"] == "AllowAppTLS" else r for r in rules]


def _as_nsg_scenario(answer):
    """The learner's fix as a scenario: the firewall editor, a list of NSG rule dicts, or a Firewall."""
    from ..widgets.firewall_editor import edited_scenario
    if isinstance(answer, Firewall):
        return nb05.with_firewall(BASE, VM, answer)
    edited, host = getattr(answer, "edited", None), getattr(answer, "host", None)
    if callable(edited) and isinstance(host, str):
        return edited()
    if isinstance(answer, (list, tuple)) and all(isinstance(r, Mapping) for r in answer):
        return edited_scenario(BASE, VM, [dict(r) for r in answer], "drop", "azure-nsg")
    raise BadInput(f"{type(answer).__name__} is not an NSG (expected the editor, or a list of rules "
                   "like {'priority': 100, 'name': 'AllowHTTPS', 'action': 'allow', ...})")


def fix_report(answer, sources: Mapping[str, str] = SOURCES, ports: Sequence[int] = PORTS):
    """Rescan the VM with the learner's NSG and with a known-good fix: one row per (source,
    port), with both states, ``ok``, and the rule that decided under the learner's NSG."""
    import pandas as pd
    mine = _as_nsg_scenario(answer)
    good = _as_nsg_scenario(fixed_rules())
    rows = []
    for name, address in sources.items():
        got = nb05.states(nb05.scan_from(mine, address, VM_ADDRESS, list(ports), "syn"))
        want = nb05.states(nb05.scan_from(good, address, VM_ADDRESS, list(ports), "syn"))
        for port in ports:
            if (address, port) in FREE:
                wanted, ok = "either", True
            else:
                wanted, ok = want[port][0], got[port][0] == want[port][0]
            rows.append({"from": name, "port": port, "wanted": wanted, "scan saw": got[port][0],
                         "ok": ok, "decided by": which_rule(mine, address, port)})
    return pd.DataFrame(rows, columns=["from", "port", "wanted", "scan saw", "ok", "decided by"])


def fix_failures(answer) -> list[str]:
    """One sentence per (source, port) the rescan finds wrong, naming the deciding rule."""
    report = fix_report(answer)
    out = []
    for row in report[~report["ok"]].itertuples(index=False):
        source, port, want, got, _, rule = row
        if want == "open":
            out.append(f"{port}/tcp from {source} is {got} but must be open: rule {rule} decides it first "
                       "(the lowest priority number that matches wins).")
        elif rule in ("AllowVnetInBound",):
            out.append(f"{port}/tcp from {source} is {got} but must stay shut: nothing of yours matched, so "
                       f"Azure's default {rule} (65000) let the virtual network in. A deny of yours was doing a job.")
        else:
            out.append(f"{port}/tcp from {source} is {got} but must stay shut: rule {rule} lets it in.")
    return out


# ------------------------------------------- change a value: a deny and its number

def with_inbound(rules: Sequence[Mapping], base=BASE, host: str = VM):
    """*base* with these inbound rules (NSG dicts: priority, name, action, protocol, ports,
    source) added to those of *host*'s NSG, read through the scenario reader, so Azure reads
    them by number with the others and its three inbound defaults follow them.  A priority
    outside 100-4096, or one another rule has, is one line saying which rule has it."""
    from ...scenario import from_dict, to_toml
    s = nb05.scenario(base)
    _nsg(s, host)
    doc = tomllib.loads(to_toml(s))
    table = next(t for t in doc.get("hosts", []) if t.get("name") == host)
    inbound = table["firewall"].setdefault("inbound", [])
    taken = {r["priority"]: r.get("name", "") for r in inbound}
    for rule in rules:
        rule = dict(rule)
        priority = rule.get("priority")
        if isinstance(priority, bool) or not isinstance(priority, int) or not 100 <= priority <= 4096:
            raise BadInput(f"priority {priority!r}: Azure takes a whole number from 100 to 4096")
        if priority in taken:
            raise BadInput(f"priority {priority} is taken by {taken[priority]}: an NSG uses each number once "
                           f"per direction (taken inbound: {', '.join(map(str, sorted(taken)))})")
        taken[priority] = rule.get("name", "")
        inbound.append(rule)
    return from_dict(doc, s.name)


def seen_from(base, source: str, ports: Sequence[int] = PORTS, host: str = VM):
    """A SYN scan of *host*'s ports from *source*: one row a port, with the state it sees and
    the NSG rule that decided its probe (priority and name)."""
    import pandas as pd
    s = nb05.scenario(base)
    numbers = {r.name: r.priority for r in _nsg(s, host).rules}
    seen = nb05.states(nb05.scan_from(s, source, str(s.machine(host).address), list(ports), "syn"))
    rows = []
    for port in ports:
        rule = which_rule(s, source, port, host=host)
        rows.append({"port": port, "state": seen[port][0],
                     "decided by": f"{numbers.get(rule, '')} {rule}".strip()})
    return pd.DataFrame(rows, columns=["port", "state", "decided by"]).set_index("port")


# ------------------------------------------------------------ recordings against the sim

def recorded_vs_sim(name: str, scan_type: str = "syn"):
    """The live lab's recording of scenario *name* (``data/recordings/NAME/SCAN.json``) against a
    simulated scan of the same ports: a DataFrame per target with the ports compared, how many
    agree, and the ports that do not (with both states)."""
    import pandas as pd

    from ... import engine
    from ...paths import DATA_DIR
    from ...results import load
    recorded = load(DATA_DIR / "recordings" / name / f"{scan_type}.json")
    rows = []
    for host in recorded.hosts:
        ports = [p.port for p in host.ports]
        sim = engine.scan(host.address, ports, scan_type, scenario=nb05.scenario(name), keep_trace=False,
                          randomize=False, seed=0)
        sim_states = nb05.states(sim)
        differ = [f"{p.port}: live {p.state} ({p.reason}), sim {sim_states[p.port][0]} ({sim_states[p.port][1]})"
                  for p in host.ports if (str(p.state), p.reason) != sim_states[p.port]]
        open_ports = ",".join(str(p.port) for p in host.ports if str(p.state) == "open")
        rows.append({"target": host.address, "ports": len(ports), "agree": len(ports) - len(differ),
                     "open (live)": open_ports or "-", "differ": "; ".join(differ) or "-"})
    return pd.DataFrame(rows, columns=["target", "ports", "agree", "open (live)", "differ"])
