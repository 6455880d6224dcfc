"""Notebook 04 (scan results and timing): the helpers its cells stand on.

* :func:`tries_table` -- one port's tries, read from its trace: when each probe
  left, what (if anything) came back, and how long the scanner waited;
* :func:`dropped_port_cost` -- what one silent port costs under a timing template;
* :class:`LoopbackServices` -- a few listening sockets on 127.0.0.1 (ports the OS
  picks) that a notebook can scan live, stop one of, and scan again;
* :func:`save_recording` / :func:`compare` -- keep a scan as portlab JSON and
  compare a later scan with it, port by port;
* :func:`recording_files` / :func:`recordings_frame` -- the recordings of one
  scenario (portlab JSON and nmap XML) as one pandas DataFrame;
* :func:`silent_host_scan` -- a simulated scan of a host that answers nothing, under
  one timing template: how many probes wait at once, and how long the scan takes.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from ...errors import BadInput
from ...paths import DATA_DIR
from ...results import ScanResult, load
from ...timing import TEMPLATE_NAMES, TEMPLATES, template


def tries_table(result: ScanResult, port: int, protocol: Optional[str] = None):
    """One port's trace as a table: ``event, t_ms, direction, what, waited_ms``.

    ``t_ms`` counts milliseconds from the port's first probe.

    ``waited_ms`` is the time since the previous event: for a retry, how long the
    scanner waited for an answer that never came.  A silent port ends with a row
    ``gave up: <state> (<reason>)`` after the last wait.
    """
    import pandas as pd
    found = None
    for host in result.hosts:
        found = host.port(port, protocol)
        if found is not None:
            break
    if found is None:
        raise KeyError(f"port {port} is not in this result")
    if not found.trace:
        raise ValueError(f"port {port} has no trace: scan with keep_trace=True")
    # Times count from the port's first probe (a scan sends other ports' probes before it).
    rows, first = [], found.trace[0].t
    last = first
    for i, event in enumerate(found.trace, 1):
        rows.append({"event": i, "t_ms": round((event.t - first) * 1000, 3), "direction": event.direction,
                     "what": event.summary, "waited_ms": round((event.t - last) * 1000, 3)})
        last = event.t
    if found.trace[-1].direction == "sent" and found.tries > 1:
        # The scanner waited as long after the last try as between the tries, then gave up.
        wait = found.trace[-1].t - found.trace[-2].t
        rows.append({"event": len(rows) + 1, "t_ms": round((last + wait - first) * 1000, 3), "direction": "-",
                     "what": f"gave up: {found.state.value} ({found.reason})",
                     "waited_ms": round(wait * 1000, 3)})
    return pd.DataFrame(rows)


def dropped_port_cost(level: Union[int, str] = 3, host_answered: bool = True, tries: int = 2) -> dict:
    """What one dropped (silent) port costs under template *level*.

    The scanner waits a timeout for each try.  Until the host has answered anything,
    it knows no round-trip time and waits ``initial_timeout``; after that, the
    timeout shrinks towards the measured RTT but never below ``min_timeout``.
    *tries* is a try and its retry (what nmap does for a silent port, at most
    ``max_retries`` + 1).  Returns the timeout used, the tries and the total.
    """
    timing = template(level)
    tries = max(1, min(tries, 1 + timing.max_retries))
    timeout = timing.min_timeout if host_answered else timing.initial_timeout
    return {"template": timing.template, "timeout_s": timeout, "tries": tries, "cost_s": round(tries * timeout, 6),
            "scan_delay_s": timing.scan_delay, "max_parallel": timing.max_parallel}


def template_table():
    """The six templates' settings as a DataFrame (nmap's numbers, from :mod:`portlab.timing`)."""
    import pandas as pd
    from ...timing import TEMPLATE_NAMES
    return pd.DataFrame([{"template": f"-T{t.template}", "name": TEMPLATE_NAMES[t.template],
                          "initial_timeout_s": t.initial_timeout, "min_timeout_s": t.min_timeout,
                          "max_timeout_s": t.max_timeout, "max_retries": t.max_retries,
                          "scan_delay_s": t.scan_delay, "max_parallel": t.max_parallel}
                         for t in TEMPLATES.values()]).set_index("template")


class LoopbackServices:
    """Listening TCP sockets on 127.0.0.1, on ports the operating system picks.

    ``with LoopbackServices(["web", "db", "cache"]) as svc:`` opens one listener per
    name; ``svc.ports`` maps name -> port, ``svc.stop("db")`` closes one (its port
    then answers "connection refused": closed).  Every socket is closed on exit,
    also when the block fails.  A connect scan needs nothing more than a listener:
    the kernel completes the handshake before any program calls ``accept()``.
    """

    def __init__(self, names=("web", "db", "cache"), host: str = "127.0.0.1") -> None:
        self.host = host
        self.names = tuple(names)
        self._socks: dict[str, socket.socket] = {}
        self.ports: dict[str, int] = {}

    def start(self) -> "LoopbackServices":
        try:
            for name in self.names:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((self.host, 0))       # port 0: the OS picks a free port
                sock.listen()
                self._socks[name] = sock
                self.ports[name] = sock.getsockname()[1]
        except BaseException:
            self.close()
            raise
        return self

    def stop(self, name: str) -> int:
        """Close one listener; returns its port (now closed)."""
        self._socks.pop(name).close()
        return self.ports[name]

    def running(self) -> list[str]:
        return [name for name in self.names if name in self._socks]

    def close(self) -> None:
        for sock in self._socks.values():
            sock.close()
        self._socks.clear()

    def __enter__(self) -> "LoopbackServices":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def scan(self, **kwargs) -> ScanResult:
        """A live connect scan of these services' ports (open ones and stopped ones)."""
        from ...engine import scan
        return scan(self.host, sorted(self.ports.values()), "connect", **kwargs)

    def name_of(self, port: int) -> Optional[str]:
        return next((n for n, p in self.ports.items() if p == port), None)


def save_recording(result: ScanResult, path: Union[str, Path]) -> Path:
    """Write *result* as portlab JSON (the recording format); returns the path."""
    path = Path(path)
    path.write_text(result.to_json())
    return path


def compare(recorded: ScanResult, now: ScanResult, names: Optional[dict] = None):
    """Port by port: the recorded state, the state now, and whether it changed.

    *names* (port -> label) adds a ``service`` column.  A DataFrame
    ``port, service, recorded, now, changed`` sorted by port.
    """
    import pandas as pd
    then = {(p.port, p.protocol): f"{p.state.value} ({p.reason})" for _, p in recorded.ports()}
    later = {(p.port, p.protocol): f"{p.state.value} ({p.reason})" for _, p in now.ports()}
    rows = []
    for key in sorted(set(then) | set(later)):
        rows.append({"port": key[0], "service": (names or {}).get(key[0]),
                     "recorded": then.get(key, "not scanned"), "now": later.get(key, "not scanned"),
                     "changed": then.get(key) != later.get(key)})
    return pd.DataFrame(rows, columns=["port", "service", "recorded", "now", "changed"])


def recording_files(scenario: str, root: Optional[Path] = None) -> dict[str, Path]:
    """The recordings of *scenario*: ``{"connect.json": path, "nmap-syn.xml": path, ...}``."""
    folder = Path(root or DATA_DIR / "recordings") / scenario
    if not folder.is_dir():
        raise FileNotFoundError(f"no recordings for scenario {scenario!r} in {folder.parent}")
    return {p.name: p for p in sorted(folder.iterdir())
            if (p.suffix == ".json" and p.name != "meta.json") or (p.suffix == ".xml" and p.name.startswith("nmap-"))}


def recordings_frame(scenario: str, root: Optional[Path] = None):
    """Every recording of *scenario* in one DataFrame, one row a (file, host, port),
    with columns ``file, scanner, scan_type`` in front of the result's own."""
    import pandas as pd
    frames = []
    for name, path in recording_files(scenario, root).items():
        result = load(path)
        frame = result.to_dataframe()
        frame.insert(0, "scan_type", result.scan_type.value)
        frame.insert(0, "scanner", "nmap" if name.startswith("nmap-") else "portlab")
        frame.insert(0, "file", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ---- the timing explorer (a widget over the simulator) ------------------------------------

EXPLORER_PORTS = (100, 1000, 10000, 65535)


def explorer_text(ports: int, filtered_share: float, level: int) -> str:
    """What the timing explorer shows for one setting: the simulated scan's duration."""
    from ..charts.timing import human_duration, simulate
    from ...timing import TEMPLATE_NAMES
    row = simulate(ports, filtered_share, level)
    return (f"-T{level} ({TEMPLATE_NAMES[level]}), {ports} ports, {row['filtered']} of them filtered: "
            f"{human_duration(row['duration_s'])} (simulated, {row['probes']} probes sent)")


def timing_explorer(ports: int = 1000, filtered_share: float = 0.1, level: int = 4):
    """Sliders for the port count, the filtered share and the template; the simulated
    duration updates as they move.  Returns the widget (``.children``: the three
    controls, then the result line)."""
    import ipywidgets as widgets
    count = widgets.SelectionSlider(options=EXPLORER_PORTS, value=ports, description="ports")
    share = widgets.FloatSlider(value=filtered_share, min=0.0, max=0.9, step=0.1, description="filtered",
                                readout_format=".0%")
    tmpl = widgets.Dropdown(options=[(f"-T{t}", t) for t in sorted(TEMPLATES)], value=level, description="template")
    out = widgets.HTML()

    def update(_=None) -> None:
        out.value = f"<b>{explorer_text(count.value, share.value, tmpl.value)}</b>"

    for control in (count, share, tmpl):
        control.observe(update, names="value")
    update()
    return widgets.VBox([count, share, tmpl, out])


# ---- change a value: a host that answers nothing ------------------------------------------

SILENT_ADDRESS = "10.77.0.2"


def silent_host():
    """A scenario with one host, 10.77.0.2, whose firewall drops every packet (policy drop,
    no rule): it answers nothing at all, so a scanner never learns its round-trip time."""
    from ...scenario import loads
    return loads(f"""
name = "silent-host"
description = "one host whose firewall drops everything"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "target"
address = "{SILENT_ADDRESS}"
tcp = [22, 80]
[hosts.firewall]
policy = "drop"
""")


@dataclass(frozen=True)
class SilentScan:
    """What :func:`silent_host_scan` found: the template's settings that matter here and
    the scan's (virtual) duration."""
    template: int
    ports: int
    states: dict
    probes: int
    at_once: int
    timeout_s: float
    pause_s: float
    duration_s: float

    def __str__(self) -> str:
        from ..charts.timing import human_duration
        found = ", ".join(f"{n} {state}" for state, n in self.states.items())
        at_once = "1 probe (one at a time)" if self.at_once == 1 else f"{self.at_once} probes (all of them)"
        took = f"{self.duration_s:.0f} s" if self.duration_s >= 10 else f"{self.duration_s:.2g} s"
        if self.duration_s >= 60:
            took += f" ({human_duration(self.duration_s)})"
        return "\n".join([
            f"-T{self.template} ({TEMPLATE_NAMES[self.template]}): a SYN scan of {self.ports} ports of a host that "
            f"answers nothing (simulated)",
            f"  found: {found}; probes sent: {self.probes} (a try and a retry per port)",
            f"  waiting at once: {at_once}; each try waits {self.timeout_s:g} s; "
            f"pause after each probe: {self.pause_s:g} s",
            f"  the scan takes {took}"])


def silent_host_scan(level: Union[int, str] = 4, ports: int = 100) -> SilentScan:
    """A simulated SYN scan of ports 1..*ports* of :func:`silent_host` under template
    *level*: every probe meets silence, so every try waits the long ``initial_timeout``.
    With many probes in flight (-T3 to -T5) those waits overlap; one at a time (-T0 to
    -T2), they add up, with the template's pause after every probe on top."""
    from ...engine import scan
    timing = template(level)
    if isinstance(ports, bool) or not isinstance(ports, int) or not 1 <= ports <= 65535:
        raise BadInput(f"ports {ports!r}: expected a number of ports, 1-65535")
    result = scan(SILENT_ADDRESS, f"1-{ports}", "syn", scenario=silent_host(), timing=timing.template,
                  keep_trace=False, randomize=False, seed=0)
    host = result.hosts[0]
    return SilentScan(template=timing.template, ports=ports, states=host.counts(),
                      probes=sum(p.tries for p in host.ports), at_once=min(ports, timing.max_parallel),
                      timeout_s=timing.initial_timeout, pause_s=timing.scan_delay,
                      duration_s=round(result.elapsed_s, 6))
