"""The instructor's dashboard: one page to demonstrate scans to a room.

``dashboard()`` in a notebook (served with Voilà, so that no code shows:
``notebooks/demo/dashboard.ipynb``) gives a scenario menu and four tabs:

* **Three scans**: the chosen host scanned with connect, SYN and UDP, side by side,
  the grid chart and nmap's three tables;
* **Packets**: the packet stepper, one packet of one port's exchange at a time;
* **Firewall**: the host's rules in the firewall editor; what is applied there is
  what the next run of the three scans sees, so a rule toggled in front of the class
  shows up in all three scans;
* **NAT**: the NAT explorer (connections filling the table, the port forward
  switched on and off, a scan from outside), for scenarios with a NAT router.

Everything runs on the simulator: it sends no packet and gives the same answer in
every room.  The parts are the course's own widgets and charts; this module only
lays them out and keeps them on the same scenario and host.  :func:`default_ports`
and :func:`three_scans` are plain functions (tests use them without a page).
"""

from __future__ import annotations

import html
from typing import Optional, Sequence

import ipywidgets as widgets

from ...errors import BadInput, PortlabError
from ...portspec import parse_ports
from ...results import ScanResult

SCAN_TYPES = ("connect", "syn", "udp")
MAX_PORTS = 24     # the grid chart stays readable on a projector up to about this many columns


def _load(scenario):
    from ... import scenario as scenarios
    return scenarios.resolve(scenario)


def scenario_names() -> list[str]:
    from ... import scenario as scenarios
    return sorted(scenarios.shipped())


def hosts_of(scenario) -> list[tuple[str, str]]:
    """``(label, address)`` of every host a scan can target, firewalled hosts first
    (they are the interesting ones to show)."""
    loaded = _load(scenario)
    hosts = sorted(loaded.hosts, key=lambda h: h.firewall is None)
    return [(f"{h.name} ({h.address})", str(h.address)) for h in hosts]


def default_ports(scenario, address: str, limit: int = MAX_PORTS) -> list[int]:
    """Ports worth showing for one host: its services, the ports its firewall rules
    name (a few of each rule), and one port where nothing listens."""
    loaded = _load(scenario)
    host = next(h for h in loaded.hosts if str(h.address) == address)
    ports = set(host.tcp) | set(host.udp)
    for rule in (host.firewall.rules if host.firewall is not None else ()):
        if rule.ports is not None:
            try:
                ports.update(parse_ports(str(rule.ports))[:3])
            except PortlabError:
                pass
    ports.add(next(p for p in range(81, 65536) if p not in ports))   # nothing there: closed
    return sorted(ports)[:limit]


def three_scans(scenario, address: str, ports: "str | Sequence[int]") -> dict[str, ScanResult]:
    """The host scanned three ways on the simulator (*scenario*: a name or a Scenario)."""
    import portlab
    return {kind: portlab.scan(address, ports=ports, scan_type=kind, scenario=scenario) for kind in SCAN_TYPES}


def _note(text: str) -> widgets.HTML:
    return widgets.HTML(f"<p><i>{html.escape(text)}</i></p>")


class Dashboard(widgets.VBox):
    """The dashboard.  Parts a test (or a curious instructor) can reach: ``scenario``,
    ``target``, ``ports``, ``run_button``, ``about``, ``message``, ``chart``, ``tables``,
    ``tabs``, ``stepper``, ``editor``, ``nat`` (None without a NAT router), ``results``."""

    TITLES = ("Three scans", "Packets", "Firewall", "NAT")

    def __init__(self, scenario: str = "single-host"):
        self.scenario = widgets.Dropdown(options=scenario_names(), value=scenario, description="Scenario")
        self.target = widgets.Dropdown(options=[], description="Host")
        self.ports = widgets.Text(description="Ports", placeholder="22,80,443 or 1-100")
        self.run_button = widgets.Button(description="Run the three scans", button_style="primary", icon="play",
                                         layout=widgets.Layout(width="auto"))
        self.about = widgets.HTML()
        self.message = widgets.HTML()
        self.chart = widgets.HTML()
        self.tables = widgets.HBox()
        self.stepper_box, self.editor_box, self.nat_box = widgets.VBox(), widgets.VBox(), widgets.VBox()
        self.stepper = self.editor = self.nat = None
        self.results: dict[str, ScanResult] = {}
        scans_tab = widgets.VBox([widgets.HBox([self.ports, self.run_button]), self.message, self.chart, self.tables])
        self.tabs = widgets.Tab(children=[scans_tab, self.stepper_box, self.editor_box, self.nat_box])
        for i, title in enumerate(self.TITLES):
            self.tabs.set_title(i, title)
        self._loading = False
        self.scenario.observe(lambda change: self.load(change["new"]), names="value")
        self.target.observe(self._target_changed, names="value")
        self.run_button.on_click(lambda _b: self.run())
        super().__init__([widgets.HBox([self.scenario, self.target]), self.about, self.tabs])
        self.load(scenario)

    # -- switching scenario or host rebuilds the tabs for it

    def load(self, name: str) -> None:
        self._loading = True
        try:
            loaded = _load(name)
            self.about.value = (f"<p><b>{html.escape(loaded.name)}</b>: {html.escape(loaded.description)}. "
                                f"Scanned from {html.escape(str(loaded.scanner.address))}, on the simulator "
                                "(no packet leaves this machine).</p>")
            self.target.options = hosts_of(loaded)
            self.target.value = self.target.options[0][1]
        finally:
            self._loading = False
        self._build_nat(name)
        self._host_changed()

    def _target_changed(self, _change=None) -> None:
        if not self._loading and self.target.value:
            self._host_changed()

    def _host_changed(self) -> None:
        name, address = self.scenario.value, self.target.value
        self.ports.value = ",".join(str(p) for p in default_ports(name, address))
        self._build_stepper(name, address)
        self._build_editor(name, address)
        self.run()

    def _build_stepper(self, name: str, address: str) -> None:
        from .stepper import PacketStepper
        try:
            self.stepper = PacketStepper(name, address)
            self.stepper_box.children = (_note("Pick a port and a scan type, then step through the packets."),
                                         self.stepper)
        except (PortlabError, ValueError) as err:
            self.stepper = None
            self.stepper_box.children = (_note(f"No packets to step through here: {err}"),)

    def _build_editor(self, name: str, address: str) -> None:
        from .firewall_editor import FirewallEditor
        host = next(h.name for h in _load(name).hosts if str(h.address) == address)
        self.editor = FirewallEditor(name, host)
        self.editor.apply_button.on_click(lambda _b: self.run())
        self.editor_box.children = (
            _note("Toggle a rule (its action, its ports) and Apply: the table below compares before and after, "
                  "and the Three scans tab now scans with these rules."), self.editor)

    def _build_nat(self, name: str) -> None:
        from .nat_explorer import NatExplorer
        try:
            self.nat = NatExplorer(name)
            self.nat_box.children = (_note("Open connections from inside, switch the port forward, and scan the "
                                           "router from outside."), self.nat)
        except BadInput:
            self.nat = None
            self.nat_box.children = (_note("This scenario has no NAT router: choose home-nat or home-nat-forward "
                                           "to show NAT and port forwarding."),)

    # -- the three scans

    def scanned_scenario(self):
        """The scenario the scans use: with the firewall tab's rules when they are valid."""
        if self.editor is not None:
            try:
                return self.editor.edited(), None
            except PortlabError as err:
                return self.scenario.value, f"The firewall tab's rules are not valid ({err}); scanned without them."
        return self.scenario.value, None

    def run(self) -> Optional[dict]:
        from ..charts.scans import side_by_side
        address = self.target.value
        scenario, note = self.scanned_scenario()
        self.message.value = "<i>scanning...</i>"
        try:
            results = three_scans(scenario, address, self.ports.value)
        except PortlabError as err:
            self.message.value = f"<span style='color:#D55E00'>{html.escape(str(err))}</span>"
            return None
        self.results = results
        chart = side_by_side(**results, title=f"{address} in {self.scenario.value}: connect, SYN and UDP")
        self.chart.value = chart._repr_html_()
        self.tables.children = tuple(
            widgets.HTML(f"<b>{kind}</b><pre style='font-size:85%;white-space:pre;overflow-x:auto'>{html.escape(r.table())}</pre>",
                         layout=widgets.Layout(margin="0 1.5em 0 0")) for kind, r in results.items())
        self.message.value = html.escape(note or "")
        return results


def dashboard(scenario: str = "single-host") -> Dashboard:
    """The instructor's dashboard (see the module's docstring); serve it with Voilà: ``make demo``."""
    return Dashboard(scenario)
