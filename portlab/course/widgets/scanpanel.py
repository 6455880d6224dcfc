"""The scan panel: choose where and how to scan, press Run, read the table and the port map.

``scan_panel()`` in a cell gives the whole thing.  Four modes (see
:mod:`portlab.course.machine`): a scenario's simulated network, a recording of the
live lab, this machine's loopback, or a running live lab.  The panel says which of
them this machine allows and, for the others, why not; Run stays off for a mode
that cannot run, so a learner sees a reason, never a traceback.  On a shared
machine a live loopback scan leaves out the ports other users listen on
(:mod:`portlab.shared`), and the panel says which under the result.  Bad input (a port
70000, a target outside the scope) shows portlab's own one-line message.

The logic is plain functions (:func:`mode_status`, :func:`run_scan`,
:func:`result_html`); the widget only wires them to controls.
"""

from __future__ import annotations

import dataclasses
import html
from typing import Optional

import ipywidgets as widgets

from ...errors import BadInput, PortlabError
from ...paths import DATA_DIR
from ...results import ScanResult
from ..machine import MODES, Machine, machine as look_at_machine

MODE_LABELS = {
    "sim": "simulated scenario",
    "replay": "recording (live lab, earlier)",
    "live-loopback": "live: this machine's loopback",
    "live-lab": "live: a running lab",
}
SCAN_TYPES = ("connect", "syn", "udp")
LOOPBACK = "127.0.0.1"


def mode_status(m: Optional[Machine] = None) -> dict[str, Optional[str]]:
    """mode -> None if the panel can run it here, else the one-line reason it cannot."""
    m = m or look_at_machine()
    status: dict[str, Optional[str]] = {mode: m.why_not.get(mode) for mode in MODES}
    if status["live-lab"] is None and not m.labs:
        status["live-lab"] = ("no lab is running; start one in a terminal with "
                              "`sudo portlab lab up single-host` (and `portlab lab down` after)")
    return status


def privilege_note(scan_type: str, mode: str, m: Optional[Machine] = None) -> Optional[str]:
    """Why a live SYN or UDP scan will be refused here, if it will (connect needs nothing)."""
    m = m or look_at_machine()
    if mode.startswith("live") and scan_type in ("syn", "udp") and not m.raw_sockets:
        return (f"a {scan_type.upper()} scan sends hand-built packets, which needs root or CAP_NET_RAW; "
                "a connect scan works without")
    return None


def scenario_target(scenario: str) -> str:
    """The first host of a shipped scenario: the panel's default target."""
    from ... import scenario as scenarios
    loaded = scenarios.resolve(scenario)
    return str(loaded.hosts[0].address) if loaded.hosts else ""


def _recording(scenario: str, target: str, ports: str, scan_type: str) -> ScanResult:
    """A recording, cut down to the requested target and ports (it holds every port it probed)."""
    from ...portspec import parse_ports
    from ...results import load
    from ...states import ScanType

    path = DATA_DIR / "recordings" / scenario / f"{scan_type}.json"
    if not path.is_file():
        raise BadInput(f"no recording {path.name} for scenario {scenario} (recordings: {DATA_DIR / 'recordings'})")
    result = load(path)
    wanted = set(parse_ports(ports, ScanType(scan_type).protocol))
    hosts = [h for h in result.hosts if not target or target in (h.address, h.name)]
    if not hosts:
        known = ", ".join(h.address for h in result.hosts)
        raise BadInput(f"target {target}: not in the {scenario} recording (its hosts: {known})")
    hosts = [dataclasses.replace(h, ports=[p for p in h.ports if p.port in wanted], extraports=[
        dataclasses.replace(e, ports=[n for n in e.ports if n in wanted], count=sum(1 for n in e.ports if n in wanted))
        for e in h.extraports if e.ports]) for h in hosts]
    return dataclasses.replace(result, hosts=hosts)


LIVE_WAIT_LIMIT = 120.0   # seconds a notebook cell may block on a live scan's enforced pauses


def live_wait_note(ports: str, scan_type: str, timing: int) -> Optional[str]:
    """Why a live scan would block the notebook for too long (T0/T1 pause between probes), or None.

    The simulator shows the same cost in virtual time in no time, so the panel points there."""
    from ...portspec import parse_ports
    from ...states import ScanType
    from ...timing import TEMPLATES, TEMPLATE_NAMES
    delay = TEMPLATES[int(timing)].scan_delay
    n = len(parse_ports(ports, ScanType(scan_type).protocol))
    wait = n * delay
    if wait <= LIVE_WAIT_LIMIT:
        return None
    span = f"{wait / 3600:.1f} hours" if wait >= 3600 else f"{wait / 60:.0f} minutes"
    return (f"T{timing} ({TEMPLATE_NAMES[int(timing)]}) waits {delay:g} s between probes: {n} ports would take "
            f"at least {span} live; choose the simulated mode to see that cost in virtual time, or fewer ports")


def run_scan(mode: str, target: str, ports: str, scan_type: str = "connect", timing: int = 3,
             progress=None, scenario: str = "single-host", m: Optional[Machine] = None,
             lab: Optional[str] = None) -> ScanResult:
    """Run one scan the way the panel does.  Raises PortlabError (one line) for anything the
    learner can fix, and for a mode this machine does not allow (with the reason)."""
    if mode not in MODES:
        raise BadInput(f"mode {mode!r}: expected one of {', '.join(MODES)}")
    if scan_type not in SCAN_TYPES:
        raise BadInput(f"scan type {scan_type!r}: expected one of {', '.join(SCAN_TYPES)}")
    why_not = mode_status(m)[mode]
    if why_not:
        raise BadInput(f"mode {mode} is not available here: {why_not}")
    import portlab
    target = (target or "").strip()
    if mode.startswith("live"):
        too_slow = live_wait_note(ports, scan_type, timing)
        if too_slow:
            raise BadInput(too_slow)
    if mode == "sim":
        return portlab.scan(target or scenario_target(scenario), ports=ports, scan_type=scan_type, timing=timing,
                            scenario=scenario, progress=progress)
    if mode == "replay":
        result = _recording(scenario, target, ports, scan_type)
        if progress is not None:
            n = sum(len(h.ports) for h in result.hosts)
            progress(n, n)   # read, not scanned: all at once
        return result
    if mode == "live-loopback":
        return portlab.scan(target or LOOPBACK, ports=ports, scan_type=scan_type, timing=timing, progress=progress)
    if not target:
        raise BadInput("live lab: give a target, an address of the running lab (e.g. 10.77.0.2)")
    chosen = pick_lab(lab)
    # Scanning from the chosen lab's scanner namespace: two labs of one scenario share addresses,
    # so the engine's own lab lookup would refuse to guess between them.
    return portlab.scan(target, ports=ports, scan_type=scan_type, timing=timing, progress=progress,
                        netns=chosen.scanner_netns)


def pick_lab(prefix: Optional[str] = None):
    """The running lab to scan: the one named by *prefix*, else the only one running."""
    from ...scope import running_labs
    labs = [lab for lab in running_labs() if lab.scanner_netns]
    if prefix:
        for lab in labs:
            if lab.prefix == prefix:
                return lab
        raise BadInput(f"lab {prefix!r} is not running (running: {', '.join(l.prefix for l in labs) or 'none'})")
    if len(labs) != 1:
        raise BadInput("live lab: " + ("no lab is running" if not labs else
                                       f"{len(labs)} labs are running ({', '.join(l.prefix for l in labs)}); "
                                       "choose one"))
    return labs[0]


def error_html(err: "BaseException | str") -> str:
    # The theme's own error colour where JupyterLab defines it, so it reads on light and dark.
    return (f"<span style='color:var(--jp-error-color1,#b00020)'>{html.escape(str(err))}</span>")


def result_html(result: ScanResult) -> str:
    """The result as nmap's table, preformatted."""
    return f"<pre>{html.escape(result.table())}</pre>"


def status_html(mode: str, scan_type: str, m: Optional[Machine] = None) -> str:
    """What the panel says about the chosen mode: available, or why not, plus every mode's line."""
    status = mode_status(m)
    lines = []
    for name in MODES:
        why = status[name]
        mark = "✓" if why is None else "✗"
        lines.append(f"{mark} <b>{html.escape(MODE_LABELS[name])}</b>"
                     + ("" if why is None else f": not here, {html.escape(why)}"))
    note = privilege_note(scan_type, mode, m)
    head = (f"Mode <b>{html.escape(MODE_LABELS[mode])}</b>: "
            + ("ready." if status[mode] is None else f"not available here ({html.escape(status[mode])})."))
    if status[mode] is None and note:
        head += f" Note: {html.escape(note)}."
    return f"<div>{head}</div><div style='font-size:90%'>{'<br>'.join(lines)}</div>"


class ScanPanel(widgets.VBox):
    """The panel; its controls are attributes so that a test (or a curious learner) can drive it."""

    def __init__(self, scenario: str = "single-host", target: Optional[str] = None, ports: str = "1-1024",
                 mode: str = "sim", scan_type: str = "connect", timing: int = 3, m: Optional[Machine] = None):
        from ... import scenario as scenarios
        self.machine = m
        names = sorted(scenarios.shipped())
        self.mode = widgets.Dropdown(options=[(MODE_LABELS[k], k) for k in MODES], value=mode, description="Mode")
        self.scenario = widgets.Dropdown(options=names, value=scenario, description="Scenario")
        self.lab = widgets.Dropdown(options=[], description="Lab", layout=widgets.Layout(display="none"))
        self.target = widgets.Text(value=target if target is not None else self._default_target(mode, scenario),
                                   description="Target")
        self.ports = widgets.Text(value=ports, description="Ports", placeholder="22,80 or 1-1024 or -")
        self.scan_type = widgets.ToggleButtons(options=list(SCAN_TYPES), value=scan_type, description="Scan")
        self.timing = widgets.Dropdown(options=[(f"T{t}", t) for t in range(6)], value=timing, description="Timing")
        self.run = widgets.Button(description="Run", button_style="primary", icon="play")
        self.progress = widgets.IntProgress(value=0, min=0, max=1, description="Progress")
        self.status = widgets.HTML()
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.portmap = widgets.HTML()
        self.result: Optional[ScanResult] = None

        self.mode.observe(self._mode_changed, names="value")
        self.scenario.observe(self._scenario_changed, names="value")
        self.scan_type.observe(lambda _c: self._refresh_status(), names="value")
        self.run.on_click(lambda _b: self.do_run())
        self._refresh_status()
        super().__init__([
            widgets.HBox([self.mode, self.scenario, self.lab]),
            widgets.HBox([self.target, self.ports]),
            widgets.HBox([self.scan_type, self.timing]),
            widgets.HBox([self.run, self.progress]),
            self.status, self.message, self.table, self.portmap,
        ])

    def _default_target(self, mode: str, scenario: str) -> str:
        if mode == "live-loopback":
            return LOOPBACK
        if mode == "live-lab":
            return ""
        return scenario_target(scenario)

    def _mode_changed(self, change) -> None:
        self.target.value = self._default_target(change["new"], self.scenario.value)
        self.scenario.disabled = change["new"] not in ("sim", "replay")
        live_lab = change["new"] == "live-lab"
        if live_lab:
            from ...scope import running_labs
            self.lab.options = [lab.prefix for lab in running_labs() if lab.scanner_netns]
        self.lab.layout.display = None if live_lab else "none"
        self._refresh_status()

    def _scenario_changed(self, change) -> None:
        if self.mode.value in ("sim", "replay"):
            self.target.value = scenario_target(change["new"])

    def _refresh_status(self) -> None:
        self.status.value = status_html(self.mode.value, self.scan_type.value, self.machine)
        self.run.disabled = mode_status(self.machine)[self.mode.value] is not None

    def _progress(self, done: int, total: int) -> None:
        self.progress.max = max(total, 1)
        self.progress.value = min(done, self.progress.max)

    def do_run(self) -> Optional[ScanResult]:
        """What the Run button does: scan, then show the table and the port map (or the error)."""
        from ..charts.portmap import port_map
        self.progress.value = 0
        self.progress.bar_style = ""
        self.message.value = "<i>scanning...</i>"
        self.table.value = self.portmap.value = ""
        from ...shared import collected
        try:
            # A live loopback scan on a shared machine leaves other users' ports out and says
            # so in one line: the panel shows that line under the result.
            with collected() as notes:
                result = run_scan(self.mode.value, self.target.value, self.ports.value, self.scan_type.value,
                                  self.timing.value, progress=self._progress, scenario=self.scenario.value,
                                  m=self.machine, lab=self.lab.value)
        except (PortlabError, ValueError, OSError) as err:
            # PortlabError is already one line; the others (a name that does not resolve, a socket
            # the OS refuses) get their type named so the learner can search for it.
            self.message.value = error_html(err if isinstance(err, PortlabError)
                                            else f"{type(err).__name__}: {err}")
            self.progress.bar_style = "danger"
            self.result = None
            return None
        self.result = result
        self.progress.max = max(self.progress.max, 1)
        self.progress.value = self.progress.max
        self.progress.bar_style = "success"
        counts = ", ".join(f"{n} {state}" for state, n in result.counts().items()) or "no ports"
        clock = "simulated seconds" if result.transport == "sim" else "seconds"
        self.message.value = html.escape(f"Done: {len(result.hosts)} host(s) scanned, {counts}, "
                                         f"in {result.elapsed_s:.2f} {clock}.") + "".join(
            f"<br>Note: {html.escape(line)}." for line in notes)
        self.table.value = result_html(result)
        if result.hosts:
            self.portmap.value = port_map(result)._repr_html_()
        return result


def scan_panel(scenario: str = "single-host", target: Optional[str] = None, ports: str = "1-1024",
               mode: str = "sim", scan_type: str = "connect", timing: int = 3) -> ScanPanel:
    """The scan panel, ready to use: ``scan_panel()`` or ``scan_panel("web-server", ports="1-100")``."""
    return ScanPanel(scenario, target, ports, mode, scan_type, timing)
