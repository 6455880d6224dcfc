"""The packet stepper: one port's exchange, one packet at a time.

Pick a port and a scan type; Next draws the next arrow of the sequence diagram and
says in one sentence what that packet is and what it tells the scanner; Previous
goes back.  The exchange is a simulated scan of the scenario (deterministic,
sends nothing), so every learner sees the same packets.

Plain functions hold the logic (:func:`exchange`, :func:`step_text`); the widget
keeps only the step number.

Where the counts of tries differ for a reason the arrows cannot show, the text says
it (:func:`icmp_budget`, :func:`rate_limit_story`): a UDP port that answers with an
ICMP error can meet silence first, because the target's kernel lets only so many
ICMP errors out (Linux: a burst of 6 per peer, then one per ``net.ipv4.icmp_ratelimit``,
1000 ms, for the types in ``net.ipv4.icmp_ratemask``), and the simulator's scanner,
like nmap, then asks again and slows down until the error comes; a dropped port
stays silent however often it is asked, and gets one retry.
"""

from __future__ import annotations

import functools
import html
from typing import Optional, Sequence

import ipywidgets as widgets

from ...results import PortResult, ScanResult
from ...sim import kernel
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


# ---- the target's ICMP budget ---------------------------------------------------------------

def _sends(p: PortResult) -> list[float]:
    return [e.t for e in p.trace if e.direction == "sent"]


def _icmp_answer(p: PortResult) -> bool:
    """Did this port's exchange end with an ICMP error from the target (UDP)?"""
    return bool(p.trace) and p.trace[-1].direction == "recv" and p.trace[-1].summary.startswith("ICMP")


def icmp_budget(result: ScanResult, port: int) -> Optional[dict]:
    """For a UDP port of *result* whose ICMP error came only after some tries: how the
    target's ICMP rate limit shaped it, replayed on the simulator's own limiter
    (:class:`portlab.sim.kernel.IcmpRateLimiter`, fresh for each scan, as the stepper's
    scans are).  None for any other port.

    ``spent_by``: the ports whose ICMP errors took tokens before this port's first try;
    ``tries``; ``allowed_on``: the try the limiter let the error out on (None: it never
    did, and the simulator shows the error the rule would send although a real scan
    would have heard silence); ``first``/``answered``: times of the first try and of
    the answer (seconds since the scan began); ``wait``: time between tries."""
    if ScanType(result.scan_type) is not ScanType.UDP:
        return None
    ports = result.hosts[0].ports
    me = result.hosts[0].port(port, "udp")
    if me is None or me.tries < 2 or not _icmp_answer(me):
        return None
    limiter = kernel.IcmpRateLimiter()
    # The scanner's UDP sends that asked for an ICMP error, in time order, each port
    # until its error came out, as the simulator asked its limiter.
    asks = sorted((t, p.port) for p in ports if _icmp_answer(p) for t in _sends(p))
    allowed: dict[int, int] = {}
    tried: dict[int, int] = {}
    for t, number in asks:
        if number in allowed:
            continue
        tried[number] = tried.get(number, 0) + 1
        if limiter.allow("scanner", t):
            allowed[number] = tried[number]
    sends = _sends(me)
    first = sends[0]
    spent_by = [p.port for p in ports if p.port != port and _icmp_answer(p) and p.port in allowed
                and _sends(p)[allowed[p.port] - 1] <= first]
    return {"spent_by": spent_by, "tries": me.tries, "allowed_on": allowed.get(port), "first": first,
            "answered": me.trace[-1].t, "wait": (sends[1] - sends[0]) if len(sends) > 1 else 0.0}


def _silent_port(result: ScanResult, protocol: str) -> Optional[PortResult]:
    return next((p for p in result.hosts[0].ports if p.protocol == protocol and p.reason == "no-response"), None)


def _ports_text(ports: Sequence[int]) -> str:
    names = [str(p) for p in ports]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def rate_limit_story(result: ScanResult, port: int) -> Optional[str]:
    """Why this UDP port needed retries before its ICMP error came (and why a dropped port
    got fewer tries): the target's ICMP rate limit, as the simulator models it.  None
    where the limit played no part."""
    budget = icmp_budget(result, port)
    if budget is None:
        return None
    n, burst, per = budget["tries"], kernel.XRLIM_BURST_FACTOR, kernel.ICMP_RATELIMIT_S
    spent = budget["spent_by"]
    text = (f"Why {n} tries here? The target's kernel rate-limits the ICMP errors it sends to each peer: "
            f"Linux lets a burst of {burst} out, then one more per net.ipv4.icmp_ratelimit "
            f"({per * 1000:.0f} ms by default), for the ICMP types in net.ipv4.icmp_ratemask (by default "
            "destination unreachable, source quench, time exceeded and parameter problem). ")
    if spent:
        text += (f"Ports {_ports_text(spent)} were asked earlier in this scan and their ICMP errors used "
                 f"{'the burst' if len(spent) >= burst else 'tokens'}, so the error owed to port {port} was not "
                 f"sent at first: the tries met silence, exactly as if the datagram had been dropped. ")
    gap = budget["wait"] * 1000
    if budget["allowed_on"] is not None:
        text += (f"Without that error a UDP scan cannot tell a rejected port from an open|filtered one, so the "
                 f"simulator's scanner asks again every {gap:.0f} ms (its timeout) and slows down for the ports "
                 f"that follow; "
                 f"the target's bucket earned a token and try {budget['allowed_on']} got the error, "
                 f"{budget['answered'] - budget['first']:.1f} s after the first try. nmap does the same: "
                 "when answers come only on later tries it allows more retries (up to --max-retries, 10) "
                 "and doubles its delay between probes, up to 1 s for UDP. ")
    else:
        text += (f"The simulator's scanner asked {n} times, {gap:.0f} ms apart, and the limiter never let the "
                 "error out: a real scan would have heard only silence (open|filtered); the simulator shows the "
                 "error the rule sends. ")
    silent = _silent_port(result, "udp")
    if silent is not None and silent.port != port:
        text += (f"Port {silent.port} got only {silent.tries} tr{'y' if silent.tries == 1 else 'ies'}: its rule "
                 "drops the datagram, so silence is its real answer and no token changes it. The simulator "
                 "retries a silent port once, as nmap does before any answer has come late.")
    return text.strip()


def retry_note(result: ScanResult, port: int, k: int) -> Optional[str]:
    """At a UDP retry (arrow *k*, 1-based) of a port whose earlier tries met an empty ICMP
    budget: what that silence may be.  Says nothing of the answer still to come."""
    budget = icmp_budget(result, port)
    if budget is None or not budget["spent_by"] or k < 2 or k > budget["tries"]:
        return None
    return (f"Silence may be a drop, or an error the target owes but may not send yet: it has already sent "
            f"ICMP errors for ports {_ports_text(budget['spent_by'])} in this scan, and Linux lets only "
            f"{kernel.XRLIM_BURST_FACTOR} go at once to one peer, then one a second.")


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
    if k < len(arrows):
        note = retry_note(result, port, k)
        if note:
            text += " " + note
    if k >= len(arrows):
        last = "No answer ever came" if port_result.reason == "no-response" else "That was the last packet"
        text += f" {last}: the verdict is {port_result.state.value} ({port_result.reason})."
        story = rate_limit_story(result, port)
        if story:
            text += " " + story
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
