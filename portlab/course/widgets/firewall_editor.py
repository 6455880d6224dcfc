"""The firewall editor: change a host's inbound rules, rescan, see what changed and why.

The logic is plain functions over the scenario model and the simulator:

* :func:`rules_of` -- a machine's inbound rules as editable dicts (the keys a
  scenario file uses), in its own style or converted to another;
* :func:`edited_scenario` -- the scenario with those rules, checked by the scenario
  reader itself, so a bad rule raises the same one-line :class:`BadInput` a file
  would (``web-server: hosts[0].firewall.rules[1].ports: port 70000 is out of range ...``);
* :func:`apply_rules` -- scan the machine before and after, one row per port and scan
  type, with the rule that decided each port (from :mod:`portlab.course.charts.firewall`),
  from a chosen place: the scanner, or any other machine of the scenario (:func:`sources`).
  A rule with a source makes the same port open from one place and filtered from
  another, so the table says where the rescan came from and, for a port an accept
  rule keeps for someone else, that the policy decided *because* of where it came from.

:class:`FirewallEditor` is the skin: one row of controls per rule (add, remove, move
up and down), the policy, a scan type, where to rescan from, and **Apply**.  A beginner edits fields and
menus rather than TOML, so a typo cannot break the syntax; what can still be wrong
(a port out of range, a reject type that needs TCP) comes back as the reader's line.
"""

from __future__ import annotations

import html
import ipaddress
import tomllib
from typing import Iterable, Optional, Sequence

import ipywidgets as widgets

from ...errors import BadInput
from ...scenario import REJECT_TYPES, from_dict, to_toml
from ...sim.network import load_scenario
from ..charts.firewall import _rule_label, evaluation, target_address
from ..theme import STATE_COLOURS, text_on

STYLES = ("nftables", "aws-sg", "azure-nsg")
STYLE_NOTES = {
    "nftables": "Rules are read top to bottom; the first rule that matches decides. "
                "A packet no rule matches gets the policy.",
    "aws-sg": "An AWS security group only allows: each row lets something in, and whatever no "
              "row allows is dropped silently. The order of the rows does not matter.",
    "azure-nsg": "Rules are read by priority, lowest number first (100-4096); the first match "
                 "decides. Azure's default rules follow yours: 65000 allows the virtual network, "
                 "65001 the load balancer, 65500 denies everything else.",
}
#: The keys each style's rule has, in the order the editor shows them.
FIELDS = {
    "nftables": ("action", "protocol", "ports", "source", "with", "name"),
    "aws-sg": ("protocol", "ports", "source", "name"),
    "azure-nsg": ("priority", "name", "action", "protocol", "ports", "source"),
}
MAX_PORTS = 64


# ---- rules as data ------------------------------------------------------------------------

def _machine_table(doc: dict, name: str) -> tuple[str, int, dict]:
    for key in ("hosts", "routers"):
        for i, table in enumerate(doc.get(key, [])):
            if table.get("name") == name:
                return key, i, table
    raise BadInput(f"no machine named {name!r} in this scenario")


def _rule_dict(rule, style: str) -> dict:
    """A model rule (:class:`portlab.scenario.Rule`) as the editor's dict for *style*."""
    ports = str(rule.ports) if rule.ports is not None else ""
    source = str(rule.source) if rule.source is not None else ""
    if style == "aws-sg":
        return {"protocol": rule.protocol or "all", "ports": ports, "source": source, "name": rule.name or ""}
    if style == "azure-nsg":
        return {"priority": rule.priority, "name": rule.name or "", "action":
                "allow" if rule.action == "accept" else "deny", "protocol": rule.protocol or "*",
                "ports": ports or "*", "source": source or "*"}
    out = {"action": rule.action, "protocol": rule.protocol or "", "ports": ports, "source": source,
           "with": rule.reject_with if rule.action == "reject" else "", "name": rule.name or ""}
    if rule.destination is not None:
        out["destination"] = str(rule.destination)
    return out


def rules_of(scenario, host: str, style: Optional[str] = None) -> tuple[str, str, list[dict]]:
    """``(style, policy, rules)``: the inbound rules of machine *host* as editable dicts.

    With *style* other than the machine's own, the rules are carried over as far as
    that style can say them: a security group keeps only the accept rules; an NSG
    gets priorities 100, 110, ... (reject becomes deny, which drops); from a cloud
    style to nftables the policy is drop, as theirs is.  Azure's tags become CIDRs:
    ``VirtualNetwork`` the machine's network, ``Internet`` anyone (nearly: Internet
    leaves out the machine's own network).  Azure's default rules
    (priority above 4096) are never listed: they come back by themselves.
    """
    scenario = load_scenario(scenario)
    machine = scenario.machine(host)
    fw = machine.firewall
    own = fw.style if fw else "nftables"
    style = style or own
    if style not in STYLES:
        raise BadInput(f"style {style!r} (expected {', '.join(STYLES)})")
    model_rules = [r for r in (fw.rules if fw else ()) if r.priority is None or r.priority <= 4096]
    policy = fw.policy if fw else "accept"
    if style == own:
        return style, policy, [_rule_dict(r, style) for r in model_rules]
    local = str(scenario.local_networks(machine.name)[0])

    def untag(item: dict) -> dict:
        # Azure's tags are no CIDRs.  VirtualNetwork is the machine's own network (the
        # first, as one CIDR); Internet, "everyone outside", is written as anyone.
        if item.get("source") in ("VirtualNetwork", "Internet"):
            item["source"] = local if item["source"] == "VirtualNetwork" else ""
        if item.get("destination") in ("VirtualNetwork", "Internet"):
            del item["destination"]
        return item

    if style == "aws-sg":
        return style, "drop", [untag(_rule_dict(r, style)) for r in model_rules if r.action == "accept"]
    if style == "azure-nsg":
        rules = []
        for i, rule in enumerate(model_rules):
            item = _rule_dict(rule, style)
            item["priority"] = 100 + 10 * i
            item["name"] = "".join(ch for ch in (rule.name or "") .title() if ch.isalnum())[:40] or f"Rule{i}"
            rules.append(item)
        if policy == "accept":   # an NSG ends in deny-all: say the old policy as a rule
            rules.append({"priority": 4096, "name": "AllowEverythingElse", "action": "allow", "protocol": "*",
                          "ports": "*", "source": "*"})
        return style, "drop", rules
    return style, "drop", [untag(_rule_dict(r, style)) for r in model_rules]


def _clean(style: str, rule: dict) -> dict:
    """An editor dict as the TOML table a file would have: empty fields left out."""
    out = {}
    for key, value in rule.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key == "with" and rule.get("action") != "reject":
            continue      # the menu keeps its value while hidden; only reject rules have one
        out[key] = value.strip() if isinstance(value, str) else value
    if style == "azure-nsg" and isinstance(out.get("priority"), str):
        try:
            out["priority"] = int(out["priority"])
        except ValueError:
            pass          # the reader names it: "a priority (expected an integer 100-4096)"
    return out


def firewall_table(style: str, rules: Sequence[dict], policy: str = "drop", keep: Optional[dict] = None) -> dict:
    """The ``[hosts.firewall]`` table for *rules*; *keep* is the old table, whose outbound
    part stays when the style does."""
    keep = keep or {}
    same = keep.get("style", "nftables") == style
    cleaned = [_clean(style, r) for r in rules]
    if style == "nftables":
        table = {"style": style, "policy": policy, "rules": cleaned}
        # The router's forward rule is not edited here, but must survive an edit of its input rules.
        for key in ("output", "output_policy", "stateful", "forward_drop_new_from"):
            if same and key in keep:
                table[key] = keep[key]
    else:
        table = {"style": style, "inbound": cleaned}
        if same and "outbound" in keep:
            table["outbound"] = keep["outbound"]
    return table


def edited_scenario(scenario, host: str, rules: Sequence[dict], policy: str = "drop",
                    style: Optional[str] = None):
    """The scenario with machine *host*'s inbound rules replaced, read back through the
    scenario reader: a bad rule raises its one-line :class:`BadInput`."""
    scenario = load_scenario(scenario)
    machine = scenario.machine(host)
    own = machine.firewall.style if machine.firewall else "nftables"
    style = style or own
    doc = tomllib.loads(to_toml(scenario))
    key, index, table = _machine_table(doc, machine.name)
    table["firewall"] = firewall_table(style, rules, policy, table.get("firewall"))
    return from_dict(doc, scenario.name)


# ---- before and after ------------------------------------------------------------------------

def _ports_to_scan(machines, protocol: str) -> list[int]:
    """The machine's services and every port its rules name (both ends of a long range)."""
    ports: set[int] = set()
    for machine in machines:
        ports.update(machine.tcp if protocol == "tcp" else machine.udp)
        for rule in (machine.firewall.rules if machine.firewall else ()):
            if rule.ports is None or rule.protocol not in (None, protocol):
                continue
            for lo, hi in rule.ports.ranges:
                ports.update(range(lo, hi + 1) if hi - lo < 8 else (lo, hi))
    return sorted(ports)[:MAX_PORTS] or [80]


def sources(scenario, host: str, rules: Iterable[dict] = ()) -> list[tuple[str, str]]:
    """Where a rescan of *host* can come from, as ``(label, address)``: the scenario's
    scanner first, then every other host, then single addresses *rules* name as a source
    (an app server the scenario has no host for, say), if they lie on a scenario network."""
    scenario = load_scenario(scenario)
    me = scenario.machine(host)
    scanner = scenario.scanner
    found = [(f"the scanner, {scanner.address} ({scanner.network} network)", str(scanner.address))]
    seen = {str(scanner.address)}
    for h in scenario.hosts:
        if h.name != me.name and str(h.address) not in seen:
            found.append((f"{h.name}, {h.address}", str(h.address)))
            seen.add(str(h.address))
    for rule in rules:
        text = str(rule.get("source") or "").strip().removesuffix("/32")
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            continue            # anyone, a network, an Azure tag: no one machine to stand at
        if text in seen or address in getattr(me, "addresses", {me.address}) or not any(
                address in net.cidr for net in scenario.networks):
            continue
        found.append((f"{text} (a source in the rules)", text))
        seen.add(text)
    return found


def source_label(scenario, host: str, source: Optional[str], rules: Iterable[dict] = ()) -> str:
    """How a rescan's place reads in a sentence: "the scanner, 10.77.0.1 (lan network)", "admin, 10.77.0.5"."""
    scenario = load_scenario(scenario)
    address = str(source or scenario.scanner.address)
    for label, where in sources(scenario, host, rules):
        if where == address:
            return label
    holder = scenario.addresses().get(ipaddress.IPv4Address(address)) if address[:1].isdigit() else address
    return f"{holder}, {address}" if holder and holder != address else address


def _source_address(scenario, source) -> Optional[str]:
    """*source* (an address, a machine's name, or None for the scanner) as an address."""
    if source is None:
        return None
    text = str(source).strip()
    if text[:1].isdigit():
        return text
    return str(scenario.machine(text).address)


def _kept_for_others(after, host: str, port: int, protocol: str, source: str) -> list[tuple[int, object]]:
    """The accept rules of *host* (as edited) that cover this port but name a source the
    rescan's address is not in: ``(index, rule)``."""
    fw = after.machine(host).firewall
    address = ipaddress.IPv4Address(source)
    found = []
    for i, rule in enumerate(fw.rules if fw else ()):
        if rule.action != "accept" or rule.source is None or isinstance(rule.source, str):
            continue
        if rule.protocol not in (None, protocol) or (rule.ports is not None and port not in rule.ports):
            continue
        if address not in rule.source:
            found.append((i, rule))
    return found


def apply_rules(scenario, host: str, rules: Sequence[dict], scan_types: Iterable[str] = ("connect",),
                ports=None, *, policy: str = "drop", style: Optional[str] = None,
                source: Optional[str] = None) -> list[dict]:
    """Scan machine *host* with its rules as they are and with *rules*; one dict per port and
    scan type: ``port, protocol, scan_type, source, target`` (the addresses the scan went from
    and to), ``before, before_reason, after, after_reason,
    changed, rule_before, rule`` (the rule that decides the port now, as one line) and
    ``note`` (for a port an accept rule keeps for another source: why the rescan's place
    did not get in, and where to rescan from to see it open; else "").

    The scan comes from *source*: an address or a machine's name (the scanner stands in
    for that machine), or None for the scenario's own scanner.
    *ports* default to the machine's services and the ports its old and new rules name.
    A bad rule raises :class:`BadInput` with the scenario reader's one line.
    """
    from ... import scan
    from ..lessons.nb05 import move_scanner

    before = load_scenario(scenario)
    after = edited_scenario(before, host, rules, policy, style)
    address = _source_address(before, source)
    scanned = {"before": before, "after": after}
    if address is not None:
        scanned = {label: move_scanner(sc, address) for label, sc in scanned.items()}
    where = address or str(before.scanner.address)
    machines = (before.machine(host), after.machine(host))
    target = str(target_address(scanned["after"], machines[1]))
    places = sources(after, host, rules)
    rows = []
    for scan_type in scan_types:
        if scan_type not in ("connect", "syn", "udp"):
            raise BadInput(f"scan type {scan_type!r} (expected connect, syn or udp)")
        protocol = "udp" if scan_type == "udp" else "tcp"
        port_list = sorted(set(ports)) if ports is not None else _ports_to_scan(machines, protocol)
        seen = {}
        for label, sc in (("before", before), ("after", after)):
            result = scan(target, port_list, scan_type, scenario=scanned[label], keep_trace=False, randomize=False)
            states = {p.port: (str(p.state), p.reason) for p in result.hosts[0].ports}
            decided, fell_through = {}, set()
            for r in evaluation(sc, [(p, protocol, address) for p in port_list], host=host):
                decided[r["port"]] = r["rule"]
                # no written rule took it: the policy, a security group's "nothing allows it",
                # or one of Azure's default rules (priority above 4096)
                if r["rule_index"] is None or (r["priority"] or 0) > 4096:
                    fell_through.add(r["port"])
            seen[label] = (states, decided, fell_through)
        for port in port_list:
            (b_state, b_reason), (a_state, a_reason) = seen["before"][0][port], seen["after"][0][port]
            note = ""
            others = (_kept_for_others(after, host, port, protocol, where)
                      if a_state != "open" and port in seen["after"][2] else [])
            if others:
                index, rule = others[0]
                there = next((label for label, addr in places
                              if addr != where and ipaddress.IPv4Address(addr) in rule.source), None)
                style_now = after.machine(host).firewall.style
                who = str(rule.source.network_address) if rule.source.prefixlen == 32 else str(rule.source)
                decider = seen["after"][1][port]
                decided = ("the policy decided" if decider == "policy" else "no rule let it in, so it was dropped"
                           if decider.startswith("no rule allows") else f"{decider} decided")
                note = (f"Rule \u201c{_rule_label(rule, index, style_now)}\u201d lets in {who} only. This rescan "
                        f"came from {where}, {'which is not' if rule.source.prefixlen == 32 else 'outside'} "
                        f"{who}, so {decided}: {a_state} here is that rule working, "
                        "not failing. " + (f"Choose \"{there}\" under Rescan from to see the port as {who} does."
                                           if there else f"(No place under Rescan from is in {who}.)"))
            rows.append({"port": port, "protocol": protocol, "scan_type": scan_type, "source": where,
                         "target": target, "before": b_state, "before_reason": b_reason,
                         "after": a_state, "after_reason": a_reason,
                         "changed": (b_state, b_reason) != (a_state, a_reason),
                         "rule_before": seen["before"][1][port], "rule": seen["after"][1][port], "note": note})
    return rows


def _state_cell(state: str, reason: str) -> str:
    fill = STATE_COLOURS.get(state, "#888888")
    return (f"<td style='background:{fill};color:{text_on(fill)};padding:2px 8px'>"
            f"{html.escape(state)} <small>({html.escape(reason)})</small></td>")


def diff_html(rows: Sequence[dict], where: str = "", target: str = "") -> str:
    """The before/after table the editor shows: where the rescan came from, then changed
    ports first, marked, each with the rule that decides it now and, where an accept rule
    keeps the port for another source, why this place did not get in."""
    if not rows:
        return "<i>No ports to compare.</i>"
    changed = sum(r["changed"] for r in rows)
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                   for h in ("port", "scan", "before", "after", "decided now by", ""))
    body = []
    for r in sorted(rows, key=lambda r: (not r["changed"], r["scan_type"], r["port"])):
        mark = "<b>changed</b>" if r["changed"] else ""
        note = (f"<div style='font-size:85%;line-height:1.35;white-space:normal;margin-top:2px'>"
                f"{html.escape(r['note'])}</div>"
                if r.get("note") else "")
        body.append(f"<tr><td style='padding:2px 8px'>{r['protocol']} {r['port']}</td>"
                    f"<td style='padding:2px 8px'>{r['scan_type']}</td>"
                    + _state_cell(r["before"], r["before_reason"]) + _state_cell(r["after"], r["after_reason"])
                    + f"<td style='padding:2px 8px;max-width:32em'>{html.escape(r['rule'])}{note}</td>"
                    f"<td>{mark}</td></tr>")
    whence = (f"<p>Rescanned {html.escape(target or 'the host')} from <b>{html.escape(where)}</b> "
              f"({html.escape(rows[0]['scan_type'])} scan, with the old rules and then with yours). A rule with "
              f"a source answers each place differently: choose another place under <i>Rescan from</i> to see "
              f"what it sees.</p>") if where else ""
    return (f"{whence}<p>{changed} of {len(rows)} port checks changed.</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def error_html(message: str) -> str:
    # JupyterLab's own error colour reads on its light and dark themes alike.
    return (f"<span style='color:var(--jp-error-color1, #b00020)'><b>Not applied:</b> "
            f"{html.escape(message)}</span>")


# ---- the widget ---------------------------------------------------------------------------------

def _text(value: str, placeholder: str, width: str) -> widgets.Text:
    return widgets.Text(value=value, placeholder=placeholder, layout=widgets.Layout(width=width))


def _menu(options, value, width: str) -> widgets.Dropdown:
    pairs = [o if isinstance(o, tuple) else (o, o) for o in options]
    if value not in [v for _, v in pairs]:
        # A value the menu does not offer (a rule given in code, say "allow" for nftables)
        # stays as it is, so that Apply lets the scenario reader say what is wrong with it.
        pairs.append((str(value), value))
    return widgets.Dropdown(options=pairs, value=value, layout=widgets.Layout(width=width))


class RuleRow(widgets.HBox):
    """One rule's controls; ``.fields`` maps TOML keys to the controls, ``.value`` is the dict."""

    def __init__(self, style: str, rule: dict, editor: "FirewallEditor") -> None:
        self.style = style
        self.label = widgets.HTML(layout=widgets.Layout(width="6.5em"))
        fields: dict[str, widgets.Widget] = {}
        get = rule.get
        if style == "nftables":
            fields["action"] = _menu(["accept", "drop", "reject"], get("action") or "accept", "6.5em")
            fields["protocol"] = _menu([("tcp+udp", ""), "tcp", "udp"], get("protocol") or "", "6.5em")
        elif style == "aws-sg":
            fields["protocol"] = _menu(["tcp", "udp", "all"], get("protocol") or "tcp", "5.5em")
        else:
            fields["priority"] = widgets.IntText(value=int(get("priority") or 100),
                                                 layout=widgets.Layout(width="5.5em"))
            fields["name"] = _text(get("name") or "", "RuleName", "13em")
            fields["action"] = _menu(["allow", "deny"], get("action") or "allow", "5.5em")
            fields["protocol"] = _menu(["*", "tcp", "udp"], get("protocol") or "*", "5.5em")
        empty_ports = "*" if style == "azure-nsg" else ""
        fields["ports"] = _text(str(get("ports") or empty_ports), "all ports", "9em")
        fields["source"] = _text(str(get("source") or ("*" if style == "azure-nsg" else "")),
                                 "anyone" if style != "azure-nsg" else "*, Internet, CIDR", "10em")
        if style == "nftables":
            fields["with"] = _menu([("(reject type)", "")] + list(REJECT_TYPES), get("with") or "", "10.5em")
            fields["with"].layout.visibility = "visible" if fields["action"].value == "reject" else "hidden"
            fields["action"].observe(self._show_with, names="value")
        if style != "azure-nsg":
            fields["name"] = _text(get("name") or "", "optional", "14em")
        if get("destination"):
            fields["destination"] = _text(str(get("destination")), "to: CIDR", "9em")
        self.fields = fields
        self.up = widgets.Button(description="\u2191", tooltip="move up", layout=widgets.Layout(width="2.6em"))
        self.down = widgets.Button(description="\u2193", tooltip="move down", layout=widgets.Layout(width="2.6em"))
        self.remove = widgets.Button(description="\u2715", tooltip="remove this rule",
                                     layout=widgets.Layout(width="2.6em"))
        self.up.on_click(lambda _b: editor.move_rule(editor.rows.index(self), -1))
        self.down.on_click(lambda _b: editor.move_rule(editor.rows.index(self), +1))
        self.remove.on_click(lambda _b: editor.remove_rule(editor.rows.index(self)))
        order = [k for k in FIELDS[style] if k in fields] + [k for k in fields if k not in FIELDS[style]]
        buttons = [self.up, self.down, self.remove] if style != "aws-sg" else [self.remove]
        super().__init__([self.label] + [fields[k] for k in order] + buttons)

    @staticmethod
    def header(style: str, has_destination: bool = False) -> widgets.HBox:
        """Column titles lined up with the controls of a row."""
        titles = {"action": ("action", "6.5em" if style == "nftables" else "5.5em"),
                  "protocol": ("protocol", "6.5em" if style == "nftables" else "5.5em"),
                  "priority": ("priority", "5.5em"), "ports": ("ports", "9em"),
                  "source": ("from (source)", "10em"), "with": ("reject with", "10.5em"),
                  "name": ("name", "13em" if style == "azure-nsg" else "14em")}
        cells = [widgets.HTML("", layout=widgets.Layout(width="6.5em"))]
        for key in FIELDS[style]:
            text, width = titles[key]
            cells.append(widgets.HTML(f"<b>{text}</b>", layout=widgets.Layout(width=width, margin="0 2px")))
        return widgets.HBox(cells)

    def _show_with(self, change) -> None:
        self.fields["with"].layout.visibility = "visible" if change["new"] == "reject" else "hidden"

    @property
    def value(self) -> dict:
        return {key: control.value for key, control in self.fields.items()}


class FirewallEditor(widgets.VBox):
    """Edit machine *host*'s inbound rules in *style* (default: the machine's own), Apply to
    rescan the simulated machine.

    For tests and notebooks: ``.rows`` (one :class:`RuleRow` per rule, its controls in
    ``row.fields``), ``.policy``, ``.scan_type``, ``.source`` (where the rescan comes
    from: an address, the scanner's first), ``.add_button``, ``.apply_button``,
    ``.message`` (the error line, HTML), ``.result`` (the before/after table, HTML),
    ``.diff`` (the rows of the last Apply), ``.rules`` (the rules as dicts, what an
    exercise checks) and :meth:`edited` (the scenario with them).
    """

    def __init__(self, scenario="web-server", host: str = "web", style: Optional[str] = None) -> None:
        self.scenario = load_scenario(scenario)
        self.host = self.scenario.machine(host).name
        self.style, policy, rules = rules_of(self.scenario, self.host, style)
        self.diff: list[dict] = []
        self.error: Optional[str] = None
        title = widgets.HTML(f"<b>Firewall of {html.escape(self.host)}</b> in scenario "
                             f"<code>{html.escape(self.scenario.name)}</code>, style <code>{self.style}</code>. "
                             f"{STYLE_NOTES[self.style]}")
        self.policy = widgets.Dropdown(options=["drop", "accept"], value=policy if policy in ("drop", "accept")
                                       else "drop", description="Policy")
        if self.style != "nftables":
            self.policy.layout.display = "none"   # cloud firewalls drop what no rule allows
        self.rows_box = widgets.VBox()
        self.rows: list[RuleRow] = []
        self.add_button = widgets.Button(description="+ add rule", tooltip="add a rule at the end")
        self.add_button.on_click(lambda _b: self.add_rule())
        self.scan_type = widgets.ToggleButtons(options=["connect", "syn", "udp"], value="connect",
                                               description="Rescan with")
        self.source = widgets.Dropdown(options=sources(self.scenario, self.host, rules), description="Rescan from",
                                       style={"description_width": "initial"},
                                       layout=widgets.Layout(width="max-content"))
        self.apply_button = widgets.Button(description="Apply and rescan", button_style="primary")
        self.apply_button.on_click(lambda _b: self.apply())
        self.message = widgets.HTML()
        self.result = widgets.HTML(f"<i>Edit the rules, then Apply: the simulated {html.escape(self.host)} is "
                                   "scanned with the old and the new rules, from the place chosen under "
                                   "<b>Rescan from</b> (first the scenario's scanner; the other machines too, "
                                   "since a rule with a source answers each of them differently).</i>")
        for rule in rules:
            self.add_rule(rule, refresh=False)
        self._refresh()
        super().__init__([title, self.policy, self.rows_box, self.add_button, self.scan_type,
                          widgets.HBox([self.source, self.apply_button]), self.message, self.result])

    # -- editing

    def _blank(self) -> dict:
        if self.style == "azure-nsg":
            used = [r.fields["priority"].value for r in self.rows]
            return {"priority": min(4096, max(used, default=90) + 10), "name": f"Rule{len(self.rows)}",
                    "action": "allow", "protocol": "tcp"}
        return {"action": "accept", "protocol": "tcp"} if self.style == "nftables" else {"protocol": "tcp"}

    def add_rule(self, rule: Optional[dict] = None, *, refresh: bool = True, **values) -> RuleRow:
        row = RuleRow(self.style, {**(rule or self._blank()), **values}, self)
        self.rows.append(row)
        if refresh:
            self._refresh()
        return row

    def remove_rule(self, index: int) -> None:
        del self.rows[index]
        self._refresh()

    def move_rule(self, index: int, delta: int) -> None:
        other = index + delta
        if 0 <= other < len(self.rows):
            self.rows[index], self.rows[other] = self.rows[other], self.rows[index]
            self._refresh()

    def set_rules(self, rules: Sequence[dict], policy: Optional[str] = None) -> None:
        self.rows = []
        for rule in rules:
            self.add_rule(rule, refresh=False)
        if policy is not None:
            self.policy.value = policy
        self._refresh()

    def _refresh(self) -> None:
        key = "rules" if self.style == "nftables" else "inbound"
        for i, row in enumerate(self.rows):
            row.label.value = f"<code>{key}[{i}]</code>"   # the name the reader's messages use
        self.rows_box.children = ((RuleRow.header(self.style),) + tuple(self.rows) if self.rows
                                  else (widgets.HTML("<i>No rules: add one.</i>"),))

    # -- what the rules are

    @property
    def rules(self) -> list[dict]:
        """The rules as the editor holds them (dicts with a scenario file's keys)."""
        return [_clean(self.style, row.value) for row in self.rows]

    def edited(self):
        """The scenario with the edited rules (raises the reader's :class:`BadInput` if one is bad)."""
        return edited_scenario(self.scenario, self.host, self.rules, self.policy.value, self.style)

    def _refresh_sources(self) -> None:
        """Offer the single addresses the rules now name as a source too (kept: the current choice)."""
        chosen = self.source.value
        options = sources(self.scenario, self.host, self.rules)
        if [a for _, a in options] != [a for _, a in self.source.options]:
            self.source.options = options
            self.source.value = chosen if chosen in [a for _, a in options] else options[0][1]

    def apply(self) -> list[dict]:
        """Rescan with the edited rules from the chosen place; show the diff, or the one-line
        reason it cannot."""
        try:
            self._refresh_sources()
            where = source_label(self.scenario, self.host, self.source.value, self.rules)
            self.diff = apply_rules(self.scenario, self.host, self.rules, (self.scan_type.value,),
                                    policy=self.policy.value, style=self.style, source=self.source.value)
            target = f"{self.host} ({self.diff[0]['target']})" if self.diff else self.host
        except BadInput as err:
            self.error = str(err)
        except Exception as err:    # a learner must never meet a traceback here
            self.error = f"{type(err).__name__}: {err}"
        else:
            self.error = None
            self.message.value = ""
            self.result.value = diff_html(self.diff, where, target)
            return self.diff
        self.message.value = error_html(self.error)
        self.result.value = "<i>Fix the rule named above, then Apply again.</i>"
        return []


def firewall_editor(scenario="web-server", host: str = "web", style: Optional[str] = None) -> FirewallEditor:
    """A rule editor for machine *host* of *scenario*; see :class:`FirewallEditor`."""
    return FirewallEditor(scenario, host, style)
