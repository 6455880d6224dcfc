"""The packet stepper: one port's exchange, one packet at a time.

Pick a port and a scan type; Next draws the next arrow of the sequence diagram and
says in one sentence what that packet is and what it tells the scanner; Previous
goes back.  The exchange is a simulated scan of the scenario (deterministic,
sends nothing), so every learner sees the same packets.

Plain functions hold the logic (:func:`exchange`, :func:`step_text`); the widget
keeps only the step number.
"""

from __future__ import annotations

import functools
import html
from typing import Optional, Sequence

import ipywidgets as widgets

from ...results import ScanResult
from ...states import ScanType
from ..charts.sequence import explain, sequence_data, sequence_diagram

SCAN_TYPES = ("connect", "syn", "udp")


@functools.lru_cache(maxsize=64)
def exchange(scenario: str, target: str, ports: tuple[int, ...], scan_type: str) -> ScanResult:
    """A simulated scan of *ports* together, with packet traces (cached: the simulator is deterministic).

    Together, in order, as a real scan would send them: a port's exchange depends on its
    neighbours (a target's ICMP rate limit, spent on earlier ports, makes a later one wait)."""
    import portlab
    return portlab.scan(target, ports=list(ports), scan_type=scan_type, scenario=scenario, keep_trace=True,
                        randomize=False)


def scenario_ports(scenario: str, target: Optional[str] = None, limit: int = 24) -> tuple[str, list[int]]:
    """A scenario host's address and the ports worth stepping through.

    Every port a firewall rule names (each rule is one outcome to see), the UDP services,
    the first TCP service (all of them, up to six, where no rule names a port), and one
    port where nothing listens (closed)."""
    from ... import scenario as scenarios
    loaded = scenarios.resolve(scenario)
    host = next((h for h in loaded.hosts if target in (None, str(h.address), h.name)), None)
    if host is None:
        raise ValueError(f"no host {target!r} in scenario {scenario}")
    chosen: set[int] = set(host.udp)
    for rule in (host.firewall.rules if host.firewall else ()):
        if rule.ports is not None:
            for lo, hi in rule.ports.ranges:
                chosen.update(range(lo, min(hi, lo + 3) + 1))   # a wide range: its first few stand for it
    # Where rules make the story, one open TCP service is enough; else every service is the story.
    chosen.update(host.tcp[:1] if chosen - set(host.udp) else host.tcp[:6])
    listening = set(host.tcp) | set(host.udp)
    chosen.add(next(p for p in range(81, 65536) if p not in listening))   # nothing listens: closed
    return str(host.address), sorted(chosen)[:limit]


def step_text(result: ScanResult, port: int, k: int) -> str:
    """What the stepper says at step *k* (0 = before the first packet)."""
    protocol = ScanType(result.scan_type).protocol
    port_result = result.hosts[0].port(port, protocol)
    arrows = sequence_data(port_result)
    if not arrows:
        return "This exchange has no packets on record."
    if k <= 0:
        return f"{len(arrows)} packet{'s' if len(arrows) != 1 else ''} to go. Press Next to send the first one."
    text = explain(arrows[min(k, len(arrows)) - 1], port, protocol)
    if k >= len(arrows):
        last = "No answer ever came" if port_result.reason == "no-response" else "That was the last packet"
        text += f" {last}: the verdict is {port_result.state.value} ({port_result.reason})."
    return text


class PacketStepper(widgets.VBox):
    """The stepper; its controls are attributes for tests: ``stepper.next.click()``."""

    def __init__(self, scenario: str = "single-host", target: Optional[str] = None, port: Optional[int] = None,
                 scan_type: str = "syn", ports: Optional[Sequence[int]] = None):
        address, default_ports = scenario_ports(scenario, target)
        ports = sorted(set(ports)) if ports is not None else default_ports
        self.scenario_name = scenario
        self.address = address
        if port is not None and port not in ports:
            ports = sorted([*ports, port])
        self.ports = tuple(ports)
        self.port = widgets.Dropdown(options=ports, value=port if port is not None else ports[0], description="Port")
        self.scan_type = widgets.ToggleButtons(options=list(SCAN_TYPES), value=scan_type, description="Scan")
        self.previous = widgets.Button(description="Previous", icon="step-backward")
        self.next = widgets.Button(description="Next", icon="step-forward", button_style="primary")
        self.counter = widgets.Label()
        self.explanation = widgets.HTML()
        self.diagram = widgets.HTML()
        self.k = 0
        self.chart = None
        self.port.observe(lambda _c: self.reset(), names="value")
        self.scan_type.observe(lambda _c: self.reset(), names="value")
        self.next.on_click(lambda _b: self.go(self.k + 1))
        self.previous.on_click(lambda _b: self.go(self.k - 1))
        super().__init__([widgets.HBox([self.port, self.scan_type]),
                          widgets.HBox([self.previous, self.next, self.counter]),
                          self.explanation, self.diagram])
        self.reset()

    @property
    def result(self) -> ScanResult:
        return exchange(self.scenario_name, self.address, self.ports, self.scan_type.value)

    @property
    def total(self) -> int:
        protocol = ScanType(self.scan_type.value).protocol
        return len(self.result.hosts[0].port(self.port.value, protocol).trace)

    def reset(self) -> None:
        self.go(0)

    def go(self, k: int) -> None:
        """Show the exchange up to packet *k* (clamped to 0..number of packets)."""
        total = self.total
        self.k = max(0, min(k, total))
        self.previous.disabled = self.k == 0
        self.next.disabled = self.k >= total
        self.counter.value = f"packet {self.k} of {total}"
        self.explanation.value = f"<p>{html.escape(step_text(self.result, self.port.value, self.k))}</p>"
        self.chart = sequence_diagram(self.result, self.port.value, upto=self.k)
        self.diagram.value = self.chart._repr_html_()


def packet_stepper(scenario: str = "single-host", target: Optional[str] = None, port: Optional[int] = None,
                   scan_type: str = "syn", ports: Optional[Sequence[int]] = None) -> PacketStepper:
    """The packet stepper for one scenario host: ``packet_stepper(port=9000, scan_type="udp")``.

    *ports*: the ports offered (and scanned together); default :func:`scenario_ports`."""
    return PacketStepper(scenario, target, port, scan_type, ports)
