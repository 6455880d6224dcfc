"""Notebook 10 (the capstone): the written requirement, the learner's rules, and the audit.

The ``capstone`` scenario is a small company network that offers too much to too
many.  :data:`REQUIREMENT` says, as data, which service must be reachable from
where (the same table the notebook shows in words).  :func:`audit` applies the
learner's firewall rules to the scenario, tries every service from every place
(the simulated network, or the live lab with :func:`live_audit`) and compares
what it found with the requirement, one :class:`Finding` per (service, place).
The audit passes only when every required service is reachable from where it
should be and nothing else is; each failure says port, from where, expected and
found.

An :class:`Audit` shows itself once, whole: in a notebook as HTML that wraps between
words (printed text in JupyterLab breaks words anywhere), as text (:meth:`Audit.report`)
wrapped at word boundaries.  Before the learner has written any rule it is a short
summary, not thirty lines of failures they have not caused yet; :func:`agreement`
says in one line whether the live lab found what the simulator found, so the live
cell need not print the same report a second time.

Rules are written as TOML, one table per machine, in the scenario file's own
firewall format (``docs/scenario-format.md``)::

    [web]
    policy = "drop"
    rules = [ { action = "accept", protocol = "tcp", ports = "80,443" } ]

A machine the rules do not name keeps the firewall it has.
"""

from __future__ import annotations

import html
import textwrap
import tomllib
from dataclasses import dataclass, replace
from typing import Iterable, Mapping, Optional, Union

from ...errors import BadInput
from ...scenario import Firewall, Scenario, _Reader
from ...sim.network import SimNetwork, load_scenario
from ...states import PortState, ScanType, classify

SCENARIO = "capstone"

#: Where a connection can come from: a place's name -> the scenario machine that stands for it.
PLACES: dict[str, str] = {"internet": "scanner", "web": "web", "db": "db", "ws": "ws"}
PLACE_TEXT: dict[str, str] = {
    "internet": "anyone on the Internet (the scanner, 10.77.0.1)",
    "web": "the web server (dmz, 10.77.20.10)",
    "db": "the database server (office, 192.168.77.20)",
    "ws": "the admin workstation (office, 192.168.77.50)",
}
EVERYONE = tuple(PLACES)
NOBODY: tuple[str, ...] = ()


@dataclass(frozen=True)
class Need:
    """One listening service and the places that must reach it (all others must not)."""

    machine: str
    port: int
    protocol: str
    service: str
    allowed_from: tuple[str, ...]
    why: str

    @property
    def label(self) -> str:
        return f"{self.machine} {self.port}/{self.protocol}"


#: The written requirement: every service that listens in the capstone network.
REQUIREMENT: tuple[Need, ...] = (
    Need("web", 80, "tcp", "HTTP", EVERYONE, "the public web site (it redirects to HTTPS)"),
    Need("web", 443, "tcp", "HTTPS", EVERYONE, "the public web site"),
    Need("web", 22, "tcp", "SSH", ("ws",), "administration, from the admin workstation only"),
    Need("web", 8080, "tcp", "admin console", ("ws",), "the site's admin console, admins only"),
    Need("web", 3306, "tcp", "MySQL", NOBODY, "a leftover database the site uses only on the machine itself"),
    Need("db", 5432, "tcp", "PostgreSQL", ("web",), "the site's database: the web server is its only client"),
    Need("db", 22, "tcp", "SSH", ("ws",), "administration, from the admin workstation only"),
    Need("ws", 445, "tcp", "SMB", NOBODY, "a workstation serves no files to anyone"),
    Need("ws", 3389, "tcp", "RDP", NOBODY, "nobody works remotely on the admin workstation"),
    Need("ws", 137, "udp", "NetBIOS", NOBODY, "old Windows name service, not needed"),
    Need("core", 22, "tcp", "SSH", ("ws",), "the router's administration, admin workstation only"),
    Need("core", 80, "tcp", "router admin page", ("ws",), "the router's web page, admin workstation only"),
    Need("core", 161, "udp", "SNMP", NOBODY, "monitoring nobody uses: switch it off or block it"),
)

#: A start for the learner: the format, with one machine written out.
STARTER = '''# One table per machine: [web], [db], [ws], [core].  A machine you leave out
# keeps the firewall it has now.  Rules run top to bottom; the first match wins.
[web]
policy = "accept"
rules = [
  { action = "accept", protocol = "tcp", ports = "80,443" },
]
'''

#: Least privilege: a rule set that passes the audit (the exercise's solution).
SOLUTION = '''[web]
policy = "drop"
rules = [
  { action = "accept", protocol = "tcp", ports = "80,443", name = "the public site" },
  { action = "accept", protocol = "tcp", ports = "22,8080", source = "192.168.77.50", name = "admins" },
]

[db]
policy = "drop"
rules = [
  { action = "accept", protocol = "tcp", ports = "5432", source = "10.77.20.10", name = "the site's database" },
  { action = "accept", protocol = "tcp", ports = "22", source = "192.168.77.50", name = "admins" },
]

[ws]
policy = "drop"

[core]
policy = "drop"
rules = [
  { action = "accept", protocol = "tcp", ports = "22,80", source = "192.168.77.50", name = "admins" },
]
'''


def requirement_table():
    """The requirement as a DataFrame: one row a service, who must reach it and why."""
    import pandas as pd
    rows = [{"machine": n.machine, "port": f"{n.port}/{n.protocol}", "service": n.service,
             "who must reach it": ", ".join(n.allowed_from) if n.allowed_from != EVERYONE else "everyone",
             "why": n.why} for n in REQUIREMENT]
    rows = [{**r, "who must reach it": r["who must reach it"] or "nobody"} for r in rows]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the learner's rules

RulesInput = Union[None, str, Mapping[str, object]]


def parse_rules(rules: RulesInput, scenario=SCENARIO) -> dict[str, Firewall]:
    """The learner's rules as ``{machine: Firewall}``.

    *rules* is TOML text (one table per machine), a mapping ``machine -> Firewall``
    (what a firewall editor gives) or ``machine -> dict`` (a parsed table), or
    ``None`` (no change).  Errors are one :class:`BadInput` line naming the machine and key.
    """
    if rules is None:
        return {}
    scn = load_scenario(scenario)
    machines = [h.name for h in scn.hosts] + [r.name for r in scn.routers]
    if isinstance(rules, str):
        try:
            doc = tomllib.loads(rules)
        except tomllib.TOMLDecodeError as err:
            raise BadInput(f"your rules: TOML syntax error: {err} (expected one [machine] table per machine)") from None
    elif isinstance(rules, Mapping):
        doc = dict(rules)
    else:
        raise BadInput(f"your rules: got a {type(rules).__name__} (expected TOML text, as in the example)")
    reader = _Reader("your rules")
    out: dict[str, Firewall] = {}
    for name, table in doc.items():
        if name not in machines:
            raise BadInput(f"your rules: [{name}] is not a machine of {scn.name} "
                           f"(expected one of {', '.join(machines)})")
        if isinstance(table, Firewall):
            out[name] = table
        elif isinstance(table, dict):
            out[name] = reader.firewall(table, name)
        else:
            raise BadInput(f"your rules: [{name}] is a {type(table).__name__} (expected a table of firewall keys)")
    return out


def apply_rules(rules: RulesInput, scenario=SCENARIO) -> Scenario:
    """The scenario with the learner's firewalls in place of the machines' own."""
    scn = load_scenario(scenario)
    firewalls = parse_rules(rules, scn)
    hosts = tuple(replace(h, firewall=firewalls[h.name]) if h.name in firewalls else h for h in scn.hosts)
    routers = tuple(replace(r, firewall=firewalls[r.name]) if r.name in firewalls else r for r in scn.routers)
    return replace(scn, hosts=hosts, routers=routers)


# ---------------------------------------------------------------- the audit

@dataclass(frozen=True)
class Finding:
    """One service tried from one place: what the requirement wants and what was found."""

    need: Need
    place: str
    address: str
    state: str
    reason: str

    @property
    def expected(self) -> bool:
        return self.place in self.need.allowed_from

    @property
    def reachable(self) -> bool:
        return self.state == PortState.OPEN.value

    @property
    def ok(self) -> bool:
        return self.expected == self.reachable

    def explain(self) -> str:
        """One line: port, from where, expected vs found, and what usually causes it."""
        n = self.need
        head = (f"{n.machine} {n.port}/{n.protocol} ({n.service}, {self.address}) from {self.place}: "
                f"expected {'reachable' if self.expected else 'blocked'}, found {self.state} ({self.reason})")
        if self.ok:
            return head
        if self.expected:
            return head + (f". {n.machine} needs an accept rule for {n.port}/{n.protocol} from "
                           f"{_source_address(self.place)}, above anything that blocks it")
        who = "Nobody" if not n.allowed_from else ("Only " + ", ".join(n.allowed_from))
        return head + (f". {who} should reach it ({n.why}); {n.machine}'s policy accepts, "
                       "or an accept rule is too wide")


def _source_address(place: str) -> str:
    return {"internet": "anywhere", "web": "10.77.20.10", "db": "192.168.77.20", "ws": "192.168.77.50"}[place]


def _target_address(scn: Scenario, machine: str, place: str) -> str:
    """The address *place* uses for *machine*: a router's interface on the place's own network if any."""
    m = scn.machine(machine)
    if hasattr(m, "interfaces"):
        src = scn.machine(PLACES[place]) if PLACES[place] != "scanner" else scn.scanner
        for iface in m.interfaces:
            if iface.network == src.network:
                return str(iface.address)
        return str(m.interfaces[0].address)
    return str(m.address)


def _pairs(scn: Scenario) -> list[tuple[Need, str, str]]:
    """Every (service, place, address) to try: every place but the service's own machine."""
    return [(need, place, _target_address(scn, need.machine, place))
            for need in REQUIREMENT for place in PLACES if PLACES[place] != need.machine]


#: Columns of the text report: short enough for a notebook's output area, so that
#: JupyterLab, which breaks printed lines anywhere, never has to.
WIDTH = 96


def _wrap(text: str, first: str, rest: str, width: int = WIDTH) -> list[str]:
    return textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                         break_long_words=False, break_on_hyphens=False)


@dataclass(frozen=True, repr=False)
class Audit:
    """Every finding of one audit; ``passed`` only when all of them are as required.
    ``rules_given`` is False for the network as shipped (no rules of the learner's yet).
    Its ``repr`` is the report, so the last line of a cell shows it (as HTML in a notebook)."""

    findings: tuple[Finding, ...]
    mode: str = "sim"
    rules_given: bool = True

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def passed(self) -> bool:
        return not self.failures

    def exposed(self) -> list[Finding]:
        """What the Internet reaches."""
        return [f for f in self.findings if f.place == "internet" and f.reachable]

    def to_dataframe(self):
        import pandas as pd
        return pd.DataFrame([{"machine": f.need.machine, "port": f"{f.need.port}/{f.need.protocol}",
                              "service": f.need.service, "from": f.place, "address": f.address,
                              "expected": "reachable" if f.expected else "blocked",
                              "found": f.state, "reason": f.reason, "ok": f.ok} for f in self.findings])

    def matrix(self) -> dict[str, dict[str, Optional[Finding]]]:
        """``{service label: {place: finding or None}}`` (None: the machine itself), for the chart."""
        out: dict[str, dict[str, Optional[Finding]]] = {n.label: {p: None for p in PLACES} for n in REQUIREMENT}
        for f in self.findings:
            out[f.need.label][f.place] = f
        return out

    def headline(self) -> str:
        """The first line: PASS, or FAIL and how many checks differ."""
        n = len(self.findings)
        if self.passed:
            return (f"PASS ({self.mode}): all {n} checks as required: every service is reachable from "
                    "where it should be, and from nowhere else.")
        return f"FAIL ({self.mode}): {len(self.failures)} of {n} checks differ from the requirement:"

    def summary(self) -> str:
        """The failures counted instead of listed: how many exposed, how many missing, per machine."""
        exposed = sum(1 for f in self.failures if not f.expected)
        missing = len(self.failures) - exposed
        machines: dict[str, int] = {}
        for f in self.failures:
            machines[f.need.machine] = machines.get(f.need.machine, 0) + 1
        per = ", ".join(f"{m} {k}" for m, k in machines.items())
        parts = ([f"{exposed} EXPOSED (a place reaches a service it should not)"] if exposed else []) + \
                ([f"{missing} MISSING (a place cannot reach a service it needs)"] if missing else [])
        return f"{' and '.join(parts)}; per machine: {per}."

    def _shipped_note(self) -> str:
        return ("No rules of yours yet: this is the network as shipped. Write your rules into `answer` "
                "(exercise 4) and run the audit again: each failure is then listed, with what to change.")

    def report(self, width: int = WIDTH) -> str:
        """The audit as text, wrapped at word boundaries to *width* columns: the headline, then
        one item per failure (or, before any rule of the learner's, a short summary)."""
        if self.passed:
            return "\n".join(_wrap(self.headline(), "", "  ", width))
        lines = [self.headline()]
        if not self.rules_given:
            lines += _wrap(self.summary(), "  ", "  ", width) + _wrap(self._shipped_note(), "  ", "  ", width)
            return "\n".join(lines)
        for f in self.failures:
            lines += _wrap(f.explain(), "  - ", "    ", width)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.report()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        """Shown once, as HTML that wraps between words (never inside one)."""
        style = "white-space:normal;word-break:normal;overflow-wrap:normal"
        head = f"<p style='{style}'><b>{html.escape(self.headline())}</b></p>"
        if self.passed:
            return f"<div class='portlab-audit'>{head}</div>"
        items = "".join(f"<li>{html.escape(f.explain())}</li>" for f in self.failures)
        if not self.rules_given:
            return (f"<div class='portlab-audit' style='{style}'>{head}<p>{html.escape(self.summary())} "
                    f"{html.escape(self._shipped_note())}</p><details><summary>The {len(self.failures)} "
                    f"failures, one by one</summary><ul>{items}</ul></details></div>")
        return f"<div class='portlab-audit' style='{style}'>{head}<ul>{items}</ul></div>"


def agreement(live: Audit, sim: Audit) -> str:
    """One line: whether the live lab's audit found what the simulator's did (and the live
    lab's verdict), so that a live cell need not repeat the simulator's report."""
    ours = [(f.need.label, f.place, f.reachable) for f in sim.findings]
    theirs = [(f.need.label, f.place, f.reachable) for f in live.findings]
    head = live.headline().rstrip(":")
    if ours == theirs:
        return (f"{head}; simulator and live lab agree on all {len(ours)} checks"
                + ("." if live.passed else ": the same failures."))
    differ = [f"{label} from {place}: live {'reachable' if got else 'blocked'}"
              for (label, place, got), (_, _, want) in zip(theirs, ours) if got != want]
    return f"{head}; simulator and live lab differ on {len(differ)} checks: " + "; ".join(differ)


def _sim_verdict(net: SimNetwork, sender: str, address: str, port: int, protocol: str) -> tuple[str, str]:
    from ...transports.sim import observed_reply
    scan_type = ScanType.CONNECT if protocol == "tcp" else ScanType.UDP
    answer = net.send(sender, address, port, protocol)
    verdict = classify(scan_type, observed_reply(answer, scan_type))
    return verdict.state.value, verdict.reason


def audit(rules: RulesInput = None, scenario=SCENARIO) -> Audit:
    """Apply *rules*, then try every service from every place on the simulated network.

    TCP is tried as a connect scan would (a program's ``connect()``), UDP as a UDP
    scan; only ``open`` counts as reachable.
    """
    scn = apply_rules(rules, scenario)
    net = SimNetwork(scn)
    findings = []
    for need, place, address in _pairs(scn):
        state, reason = _sim_verdict(net, PLACES[place], address, need.port, need.protocol)
        findings.append(Finding(need, place, address, state, reason))
    return Audit(tuple(findings), "sim", rules is not None)


def ssh_source_audit(admin_source: str) -> str:
    """web's firewall to least privilege for its site and its SSH: default deny, the site (80,
    443) for everyone, SSH (22) only from *admin_source* (an address or a network).  The
    audit's findings for web's SSH from each place, with which are as the requirement says."""
    import ipaddress
    try:
        ipaddress.IPv4Network(admin_source if isinstance(admin_source, str) else None, strict=False)
    except (TypeError, ValueError):
        raise BadInput(f"admin_source {admin_source!r}: expected an IPv4 address or network as text, "
                       "such as \"192.168.77.50\" or \"192.168.77.0/24\"") from None
    rules = {"web": {"policy": "drop", "rules": [
        {"action": "accept", "protocol": "tcp", "ports": "80,443", "name": "the public site"},
        {"action": "accept", "protocol": "tcp", "ports": "22", "source": admin_source, "name": "admins"},
    ]}}
    scn = load_scenario(SCENARIO)
    found = [f for f in audit(rules).findings if (f.need.machine, f.need.port) == ("web", 22)]
    lines = [f"web 22/tcp (SSH), accepted only from {admin_source}; must reach it: "
             f"{', '.join(found[0].need.allowed_from)}"]
    for f in found:
        verdict = "ok" if f.ok else ("EXPOSED" if f.reachable else "MISSING")
        sender = PLACES[f.place]
        source = str(scn.scanner.address if sender == "scanner" else scn.machine(sender).address)
        lines.append(f"   from {f.place:8} ({source:13}): {f.state:9} expected "
                     f"{'reachable' if f.expected else 'blocked':10} {verdict}")
    return "\n".join(lines)


def live_audit(rules: RulesInput = None, scenario=SCENARIO, *, timing: int = 5,
               max_timeout: float = 0.2, retries: int = 0) -> Audit:
    """The same audit on the live lab (Linux, with root or a user namespace of your own): build the network with the rules,
    scan from each place's own namespace (connect for TCP, UDP scan for UDP), tear down.

    The lab's links answer in microseconds and lose nothing, so a short *max_timeout*
    and no retries are safe, and keep the dropped ports (which never answer) from
    making the audit slow."""
    from ...engine import scan
    from ...lab.run import Lab

    scn = apply_rules(rules, scenario)
    pairs = _pairs(scn)
    findings = {}
    with Lab(scn) as lab:
        for place, machine in PLACES.items():
            mine = [(need, address) for need, p, address in pairs if p == place]
            for protocol, scan_type in (("tcp", "connect"), ("udp", "udp")):
                wanted = [(need, address) for need, address in mine if need.protocol == protocol]
                if not wanted:
                    continue
                targets = sorted({address for _, address in wanted})
                ports = sorted({need.port for need, _ in wanted})
                result = scan(targets, ports, scan_type, netns=lab.netns(machine), timing=timing,
                              max_timeout=max_timeout, retries=retries,
                              keep_trace=False, randomize=False)
                got = {(h.address, p.port): p for h in result.hosts for p in h.ports}
                for need, address in wanted:
                    port = got[(address, need.port)]
                    findings[(need.label, place)] = Finding(need, place, address, port.state.value,
                                                            port.reason)
    ordered = tuple(findings[(need.label, place)] for need, place, _ in pairs)
    return Audit(ordered, "live lab", rules is not None)


def exposed_from_internet(scenario=SCENARIO) -> list[str]:
    """``"machine port/proto"`` of every service the Internet reaches in the scenario as shipped."""
    return [f"{f.need.machine} {f.need.port}/{f.need.protocol}" for f in audit(None, scenario).exposed()]


# ---------------------------------------------------------------- chart and widget

def audit_chart(result: Audit, title: str = ""):
    """The reachability matrix: a row per service, a column per place; a cell's colour is
    what was found (open, closed, or filtered / no answer); a cell that differs from the
    requirement is outlined and says EXPOSED (reachable, should not be) or MISSING."""
    from ..theme import STATE_COLOURS, Chart, new_figure, text_on

    matrix = result.matrix()
    labels = list(matrix)
    places = list(PLACES)
    data = {label: {p: (None if f is None else {"found": f.state, "expected": f.expected, "ok": f.ok})
                    for p, f in row.items()} for label, row in matrix.items()}

    def build(th):
        fig = new_figure(7.5, 0.36 * len(labels) + 1.3)
        ax = fig.add_subplot()
        for y, label in enumerate(labels):
            for x, place in enumerate(places):
                f = matrix[label][place]
                if f is None:
                    ax.add_patch(_rect(x, y, "none", th.muted, hatch="//"))
                    continue
                fill = STATE_COLOURS["open"] if f.reachable else STATE_COLOURS["filtered"] \
                    if f.state != "closed" else STATE_COLOURS["closed"]
                ax.add_patch(_rect(x, y, fill, th.foreground if not f.ok else fill, lw=2.5 if not f.ok else 0.5))
                if not f.ok:   # only the cells to fix carry a word: fewer labels, quicker to read
                    ax.text(x, y, "MISSING" if f.expected else "EXPOSED", ha="center", va="center",
                            fontsize=8.5, color=text_on(fill), fontweight="bold")
        ax.set_xlim(-0.5, len(places) - 0.5)
        ax.set_ylim(len(labels) - 0.5, -0.5)
        ax.set_xticks(range(len(places)), [f"from {p}" for p in places])
        ax.set_yticks(range(len(labels)), labels)
        ax.xaxis.tick_top()
        ax.tick_params(length=0)
        for side in ax.spines.values():
            side.set_visible(False)
        verdict = "passes" if result.passed else f"{len(result.failures)} failures"
        ax.set_title(title or f"Who reaches what ({result.mode}): {verdict}", pad=24)
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(color=STATE_COLOURS["open"], label="open (reachable)"),
                           Patch(color=STATE_COLOURS["closed"], label="closed"),
                           Patch(color=STATE_COLOURS["filtered"], label="filtered / no answer"),
                           Patch(facecolor="none", edgecolor=th.muted, hatch="//", label="itself")],
                  loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=4, frameon=False)
        return fig

    bad = "; ".join(f"{f.need.label} from {f.place} is {'not reachable' if f.expected else 'reachable'}"
                    for f in result.failures[:8])
    more = f" and {len(result.failures) - 8} more" if len(result.failures) > 8 else ""
    text = (f"A grid of {len(labels)} services (rows) by {len(places)} places a connection comes from "
            f"(columns: {', '.join(places)}). "
            + ("Every cell is as the requirement says." if result.passed
               else f"{len(result.failures)} cells differ from the requirement: {bad}{more}."))
    return Chart(build, text, data, title or "capstone audit")


def _rect(x, y, fill, edge, lw=0.5, hatch=None):
    from matplotlib.patches import Rectangle
    return Rectangle((x - 0.46, y - 0.42), 0.92, 0.84, facecolor=fill, edgecolor=edge, linewidth=lw, hatch=hatch)


def rules_box(initial: str = STARTER):
    """A text area for the rules and a button that runs the audit on the simulator.

    ``box.children == (textarea, button, output_html)``; tests set ``textarea.value``
    and call ``button.click()``.
    """
    import ipywidgets as widgets

    area = widgets.Textarea(value=initial, layout=widgets.Layout(width="100%", height="260px"))
    button = widgets.Button(description="Audit these rules", button_style="primary")
    out = widgets.HTML()

    def run(_=None):
        # HTML that wraps between words: a <pre> in JupyterLab breaks words anywhere.
        try:
            out.value = audit(area.value)._repr_html_()
        except BadInput as err:
            out.value = (f"<p style='white-space:normal;word-break:normal'>Your rules could not be read: "
                         f"{html.escape(str(err))}</p>")

    button.on_click(run)
    return widgets.VBox([area, button, out])



def rules_from_editor(editor) -> dict[str, Firewall]:
    """The firewall a :class:`~portlab.course.widgets.firewall_editor.FirewallEditor` holds, as
    rules for :func:`audit` (raises the scenario reader's :class:`BadInput` for a bad rule)."""
    return {editor.host: editor.edited().machine(editor.host).firewall}


def editor_audit(editor) -> str:
    """One line: the audit of the whole network with the editor's machine as edited."""
    try:
        result = audit(rules_from_editor(editor))
    except BadInput as err:
        return f"the editor's rules could not be read: {err}"
    first = result.headline().rstrip(":")
    mine = [f for f in result.failures if f.need.machine == editor.host]
    return f"{first}; {len(mine)} of them on {editor.host}" if not result.passed else first


# ---------------------------------------------------------------- the recording

def recorded_open(targets: Iterable[str], scenario: str = SCENARIO) -> set[tuple[str, int, str]]:
    """``(address, port, protocol)`` found open by the SYN and UDP scans recorded in the live lab
    (``data/recordings/<scenario>/``), for *targets*."""
    from ...paths import DATA_DIR
    from ...results import load
    wanted = set(targets)
    found = set()
    for name in ("syn.json", "udp.json"):
        result = load(DATA_DIR / "recordings" / scenario / name)
        for host in result.hosts:
            if host.address in wanted:
                found.update((host.address, p.port, p.protocol) for p in host.ports if p.state.value == "open")
    return found


def compare_with_recording(*results, scenario: str = SCENARIO) -> dict:
    """The open ports of simulated *results* against the live lab's recording, on the ports
    the recording probed: ``{"sim", "recorded", "same"}`` (sets of (address, port, protocol))."""
    from ...paths import DATA_DIR
    from ...results import load
    probed = set()
    for name in ("syn.json", "udp.json"):
        for host in load(DATA_DIR / "recordings" / scenario / name).hosts:
            probed.update((host.address, p.port, p.protocol) for p in host.ports)
    sim = {(h.address, p.port, p.protocol) for r in results for h in r.hosts for p in h.ports
           if p.state.value == "open"}
    targets = {h.address for r in results for h in r.hosts}
    sim &= probed
    recorded = recorded_open(targets, scenario)
    return {"sim": sim, "recorded": recorded, "same": sim == recorded}
