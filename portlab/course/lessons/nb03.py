"""Notebook 03 (scan types): who notices a scan?  The service, or only the wire?

The experiment: a target runs a small service that writes one log line for every
connection it *accepts* (as sshd, a mail server or a web server's access log do),
and a packet capture (tcpdump) watches the target's network interface.  A scanner
probes the service's port, and a closed port beside it, first with a connect scan,
then with a SYN scan.

* A connect scan completes the TCP handshake (SYN, SYN/ACK, ACK), so the kernel
  hands the connection to the service, and the service logs it.
* A SYN scan sends a SYN, reads the SYN/ACK and answers with a RST instead of the
  final ACK: the handshake never completes, the service is never told, its log
  stays silent.
* The capture sees every packet of both scans: a firewall log or a packet capture
  on the target is where a SYN scan shows up.

:func:`run_live` runs it for real in a lab of network namespaces (root, tcpdump);
:func:`load_recording` reads the run shipped in ``data/recordings/logging/``
(made with :func:`make_recording`).  Both give a :class:`LoggingExperiment`.

``python -m portlab.course.lessons.nb03 serve --ports 22,80,443`` is the logging service
itself; ``python -m portlab.course.lessons.nb03 record`` re-makes the recording.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ...paths import DATA_DIR

OPEN_PORTS = (22, 80, 443)   # the logging service listens on these (standing in for sshd and a web server)
CLOSED_PORT = 81             # nothing listens here: a closed port for comparison
PORTS = (22, 80, 81, 443)
SCANS = ("connect", "syn")
SCANNER_ADDRESS = "10.77.9.1"
TARGET_ADDRESS = "10.77.9.2"
SERVICE_NAME = "tinyd"
MODULE = "portlab.course.lessons.nb03"   # also right when run as __main__
RECORDING_DIR = DATA_DIR / "recordings" / "logging"

# The experiment's own small network: one scanner, one target, nothing listening but
# our logging service (started by the experiment, not by the lab's own daemon).
SCENARIO_TOML = f"""
name = "logging"
description = "One target whose only service logs every connection it accepts"

[scanner]
address = "{SCANNER_ADDRESS}"

[[hosts]]
name = "target"
address = "{TARGET_ADDRESS}"
tcp = []
"""

READY_TIMEOUT_S = 10.0


def _csv(ports: Iterable[int]) -> str:
    return ",".join(map(str, ports))
SETTLE_S = 0.15   # after a scan, wait this long so its last packets (the RSTs) reach the capture


# ---------------------------------------------------------------------- the logging service

def _log_line(peer: tuple[str, int], port: int) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    return f"{stamp} {SERVICE_NAME}[{os.getpid()}]: accepted connection from {peer[0]} port {peer[1]} on port {port}"


def serve(ports: Sequence[int], address: str = "0.0.0.0", out=None) -> int:
    """Listen on *ports*; log each accepted connection on *out* (stdout), then close it.

    The log line is written when ``accept()`` returns, which is the moment a real
    daemon first learns of a client.  The peer comes from ``accept()`` itself: a
    scanner may already have reset the connection, and then ``getpeername()`` fails.
    """
    out = out or sys.stdout
    stop = threading.Event()

    def _stop(*_args) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    listeners = []
    try:
        for port in ports:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listeners.append(listener)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((address, port))
            listener.listen(128)
            listener.setblocking(False)
        print("ready", file=out, flush=True)
        with selectors.DefaultSelector() as sel:
            for listener in listeners:
                sel.register(listener, selectors.EVENT_READ)
            while not stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    try:
                        conn, peer = key.fileobj.accept()
                    except (BlockingIOError, InterruptedError, ConnectionError):
                        continue
                    print(_log_line(peer, key.fileobj.getsockname()[1]), file=out, flush=True)
                    conn.close()
    finally:
        for listener in listeners:
            listener.close()
    return 0


# ---------------------------------------------------------------------- what was seen

# tcpdump -n -tt -i any:  "1764398400.123456 veth0 In  IP 10.77.9.1.40001 > 10.77.9.2.8080: Flags [S], ..."
_CAPTURE = re.compile(r"^(?P<t>\d+\.\d+)\s.*?IP (?P<src>[\d.]+)\.(?P<sport>\d+) > "
                      r"(?P<dst>[\d.]+)\.(?P<dport>\d+): Flags \[(?P<flags>[^\]]*)\]")
_SERVICE = re.compile(r"^(?P<stamp>\S+) \S+: accepted connection from (?P<src>[\d.]+) port (?P<sport>\d+) "
                      r"on port (?P<port>\d+)")

# tcpdump's flag letters, in the words the course uses.
FLAG_NAMES = {"S": "SYN", "S.": "SYN/ACK", ".": "ACK", "R": "RST", "R.": "RST/ACK", "F.": "FIN/ACK",
              "P.": "PSH/ACK", "FP.": "FIN/PSH/ACK"}


@dataclass(frozen=True)
class Packet:
    """One line of the target's packet capture."""

    t: float
    src: str
    sport: int
    dst: str
    dport: int
    flags: str          # tcpdump's letters: "S", "S.", ".", "R", "R."

    @property
    def kind(self) -> str:
        return FLAG_NAMES.get(self.flags, self.flags)

    @property
    def port(self) -> int:
        """The target's port this packet belongs to (whichever end the target is)."""
        return self.dport if self.dst == TARGET_ADDRESS else self.sport

    @property
    def to_target(self) -> bool:
        return self.dst == TARGET_ADDRESS


@dataclass(frozen=True)
class Entry:
    """One line of the service's own log."""

    t: float
    src: str
    sport: int
    port: int


def parse_capture(lines: Iterable[str]) -> list[Packet]:
    packets = []
    for line in lines:
        m = _CAPTURE.match(line.strip())
        if m:
            packets.append(Packet(float(m["t"]), m["src"], int(m["sport"]), m["dst"], int(m["dport"]), m["flags"]))
    return packets


def parse_service_log(lines: Iterable[str]) -> list[Entry]:
    entries = []
    for line in lines:
        m = _SERVICE.match(line.strip())
        if m:
            t = datetime.fromisoformat(m["stamp"]).timestamp()
            entries.append(Entry(t, m["src"], int(m["sport"]), int(m["port"])))
    return entries


@dataclass
class LoggingExperiment:
    """What the service logged and what the capture saw, during each scan.

    ``phases`` maps each scan type to its (start, end) wall-clock time; a line
    belongs to the scan whose window holds its time stamp.
    """

    service_lines: list[str]
    capture_lines: list[str]
    phases: dict[str, tuple[float, float]]
    states: dict[str, dict[int, str]] = field(default_factory=dict)   # scan -> port -> "state (reason)"
    source: str = "live"             # "live" or "recorded"
    meta: dict = field(default_factory=dict)

    def _phase(self, t: float) -> Optional[str]:
        for scan, (start, end) in self.phases.items():
            if start <= t <= end:
                return scan
        return None

    def packets(self, scan: Optional[str] = None) -> list[Packet]:
        return [p for p in parse_capture(self.capture_lines) if scan is None or self._phase(p.t) == scan]

    def entries(self, scan: Optional[str] = None) -> list[Entry]:
        return [e for e in parse_service_log(self.service_lines) if scan is None or self._phase(e.t) == scan]

    def service_log(self, scan: Optional[str] = None) -> list[str]:
        """The service's log lines (all, or those written during one scan)."""
        keep = {e.t for e in self.entries(scan)}
        return [line for line in self.service_lines
                if (m := _SERVICE.match(line.strip())) and datetime.fromisoformat(m["stamp"]).timestamp() in keep]

    def capture(self, scan: Optional[str] = None) -> list[str]:
        """The capture's lines (all, or those of one scan)."""
        keep = {p.t for p in self.packets(scan)}
        return [line for line in self.capture_lines
                if (m := _CAPTURE.match(line.strip())) and float(m["t"]) in keep]

    def counts(self) -> list[dict[str, object]]:
        """One row per scan: what the wire carried, and what the service wrote down."""
        rows = []
        for scan in self.phases:
            packets = self.packets(scan)
            to_service = [p for p in packets if p.port in OPEN_PORTS and p.to_target]
            rows.append({
                "scan": scan,
                "packets captured": len(packets),
                "probes of open ports": sum(p.flags == "S" for p in to_service),
                "handshakes completed": sum(p.flags == "." for p in to_service),
                "lines in the service's log": len(self.entries(scan)),
            })
        return rows

    def counts_frame(self):
        import pandas as pd
        return pd.DataFrame(self.counts()).set_index("scan")

    def conversation(self, scan: str, port: int = OPEN_PORTS[0]) -> list[str]:
        """The packets of one scan on one port, as short lines for people ("scanner -> target  SYN")."""
        out = []
        for p in self.packets(scan):
            if p.port == port:
                arrow = "scanner -> target" if p.to_target else "target  -> scanner"
                out.append(f"{arrow}  {p.kind}")
        return out

    def side_by_side(self, scan: str):
        """A DataFrame: every capture line and every log line of one scan, in time order."""
        import pandas as pd
        start = self.phases[scan][0]
        rows = [{"ms": round((p.t - start) * 1000, 1), "seen by": "capture",
                 "what": f"{'scanner -> target' if p.to_target else 'target -> scanner'}  {p.kind}  (port {p.port})"}
                for p in self.packets(scan)]
        rows += [{"ms": round((e.t - start) * 1000, 1), "seen by": "service log",
                  "what": f"accepted connection from {e.src} port {e.sport} on port {e.port}"}
                 for e in self.entries(scan)]
        return pd.DataFrame(sorted(rows, key=lambda r: r["ms"]), columns=["ms", "seen by", "what"])


def chart(experiment: LoggingExperiment):
    """Two panels: packets the capture saw, lines the service logged, per scan type."""
    from ..theme import SCAN_COLOURS, Chart, new_figure

    rows = experiment.counts()
    scans = [r["scan"] for r in rows]
    captured = [int(r["packets captured"]) for r in rows]
    logged = [int(r["lines in the service's log"]) for r in rows]
    data = {"scans": scans, "packets captured": captured, "lines in the service's log": logged}

    def build(th):
        fig = new_figure(8.5, 3.0)
        axes = fig.subplots(1, 2)
        for ax, values, title in ((axes[0], captured, "Packet capture on the target"),
                                  (axes[1], logged, "The service's own log")):
            bars = ax.bar(scans, values, color=[SCAN_COLOURS[s] for s in scans], width=0.6)
            for bar, value in zip(bars, values):
                ax.annotate(str(value), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            xytext=(0, 3), textcoords="offset points", ha="center", color=th.foreground)
            ax.set_title(title)
            ax.set_ylim(0, max(captured + [1]) * 1.25)
            ax.set_xlabel("scan type")
        axes[0].set_ylabel("packets")
        axes[1].set_ylabel("log lines")
        return fig

    names = {"connect": "connect", "syn": "SYN"}
    parts = [f"the {names.get(s, s)} scan put {c} packets on the wire and left {n} line{'s' if n != 1 else ''} in the service's log"
             for s, c, n in zip(scans, captured, logged)]
    text = (f"Two bar charts ({experiment.source} run). The packet capture on the target saw both scans: "
            + "; ".join(parts) + ". Only the connect scan reached the service.")
    return Chart(build, text, data, title="Who sees a scan: the wire or the service")


# ---------------------------------------------------------------------- every outcome, from the simulator

SINGLE_HOST = "single-host"
SINGLE_HOST_TARGET = "10.77.0.2"
OUTCOME_PORTS = (22, 81, *range(9000, 9009))


def rule_for(port: int, protocol: str = "tcp", scenario: str = SINGLE_HOST) -> str:
    """What single-host does with *port*: the firewall rule that matches it, or the service behind it."""
    from ... import scenario as scenario_mod

    scen = scenario_mod.resolve(scenario)
    host = scen.hosts[0]
    for rule in (host.firewall.rules if host.firewall else ()):
        if rule.protocol in (None, protocol) and (rule.ports is None or port in rule.ports) and rule.source is None:
            if rule.action == "reject":
                return "reject" if rule.reject_with == "port-unreachable" and "default" in (rule.name or "") \
                    else f"reject with {rule.reject_with}"
            return rule.action
    listening = host.tcp if protocol == "tcp" else host.udp
    return "no rule, service listening" if port in listening else "no rule, nothing listening"


def simulated_scans(ports: Sequence[int] = OUTCOME_PORTS, scans: Sequence[str] = ("connect", "syn", "udp")):
    """The single-host target scanned each way in the simulator (deterministic; sends nothing)."""
    import portlab
    return {scan: portlab.scan(SINGLE_HOST_TARGET, ports=list(ports), scan_type=scan, scenario=SINGLE_HOST,
                               randomize=False, keep_trace=True) for scan in scans}


def outcomes(results=None):
    """One row per (scan, port): the rule on the target and what the scan concluded."""
    import pandas as pd

    results = results or simulated_scans()
    rows = []
    for scan, result in results.items():
        for p in result.hosts[0].ports:
            rows.append({"scan": scan, "port": p.port, "rule on the target": rule_for(p.port, p.protocol),
                         "state": str(p.state), "reason": p.reason, "tries": p.tries})
    return pd.DataFrame(rows)


def outcome_table(results=None):
    """The outcomes side by side: one row per port, the rule, and "state (reason)" per scan type."""
    frame = outcomes(results)
    frame["seen"] = frame["state"] + " (" + frame["reason"] + ")"
    wide = frame.pivot(index="port", columns="scan", values="seen")
    wide.insert(0, "rule (tcp)", [rule_for(p, "tcp") for p in wide.index])
    wide.insert(1, "rule (udp)", [rule_for(p, "udp") for p in wide.index])
    wide.columns.name = None
    return wide[["rule (tcp)", "rule (udp)", *[s for s in ("connect", "syn", "udp") if s in wide.columns]]]


def agreement(results=None, scenario: str = SINGLE_HOST) -> list[dict[str, object]]:
    """Simulator against the live lab's recording of the same scenario, port by port, per scan type.

    Only ports both probed are compared; ``differ`` lists (port, simulated, recorded).
    """
    from ...results import load

    results = results or simulated_scans()
    rows = []
    for scan, result in results.items():
        real = load(DATA_DIR / "recordings" / scenario / f"{scan}.json").hosts[0]
        compared, differ = 0, []
        for p in result.hosts[0].ports:
            q = real.port(p.port, p.protocol)
            if q is None:
                continue
            compared += 1
            if (q.state, q.reason) != (p.state, p.reason):
                differ.append((p.port, f"{p.state} ({p.reason})", f"{q.state} ({q.reason})"))
        rows.append({"scan": scan, "ports compared": compared, "agree": compared - len(differ), "differ": differ})
    return rows


# ---------------------------------------------------------------------- many closed ports: why UDP is slow

CLOSED_FROM = 20001        # on single-host's target nothing listens from here up, and no firewall rule matches
MAX_CLOSED_PORTS = 10000


@dataclass(frozen=True)
class ClosedPortTimes:
    """How long each scan type took over the same closed ports (see :func:`closed_port_times`)."""
    count: int
    rows: tuple[tuple[str, int, float, str], ...]     # (scan, probes sent, simulated seconds, what it found)

    def seconds(self, scan: str) -> float:
        return next(sec for name, _probes, sec, _found in self.rows if name == scan)

    def __str__(self) -> str:
        last = CLOSED_FROM + self.count - 1
        ports = f"port {CLOSED_FROM}" if self.count == 1 else f"ports {CLOSED_FROM}-{last}"
        lines = [f"{self.count} closed {'port' if self.count == 1 else 'ports'} of {SINGLE_HOST_TARGET} "
                 f"({ports}), scanned in the simulator:",
                 f"{'scan':<8} {'probes sent':>11} {'simulated time':>15}   found"]
        lines += [f"{scan:<8} {probes:>11} {seconds:>13.2f} s   {found}" for scan, probes, seconds, found in self.rows]
        return "\n".join(lines)


def closed_port_times(count: int = 10) -> ClosedPortTimes:
    """Scan *count* closed ports of single-host's target with each scan type, in the simulator,
    and say how long each scan took (in simulated time) and how many probes it sent."""
    import portlab
    from ...errors import BadInput

    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_CLOSED_PORTS:
        raise BadInput(f"closed_ports {count!r}: expected a whole number from 1 to {MAX_CLOSED_PORTS}")
    ports = f"{CLOSED_FROM}-{CLOSED_FROM + count - 1}"
    rows = []
    for scan in ("connect", "syn", "udp"):
        result = portlab.scan(SINGLE_HOST_TARGET, ports=ports, scan_type=scan, scenario=SINGLE_HOST, randomize=False)
        found: dict[str, int] = {}
        for p in result.hosts[0].ports:
            found[str(p.state)] = found.get(str(p.state), 0) + 1
        rows.append((scan, sum(p.tries for p in result.hosts[0].ports), round(result.elapsed_s, 2),
                     ", ".join(f"{n} {state}" for state, n in found.items())))
    return ClosedPortTimes(count, tuple(rows))


# ---------------------------------------------------------------------- running it live

def live_skip_reason() -> Optional[str]:
    """Why the live experiment cannot run here, or None when it can."""
    if not sys.platform.startswith("linux"):
        return "it needs Linux network namespaces"
    if os.geteuid() != 0:
        return "it needs root: tcpdump switches to a user of its own, which a user namespace cannot do"
    for tool, package in (("ip", "iproute2"), ("nft", "nftables"), ("tcpdump", "tcpdump")):
        if shutil.which(tool) is None:
            return f"the `{tool}` command is missing (install {package})"
    return None


class _Reader:
    """Collect a process's output lines on a thread, so its pipe never fills up."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._stream = stream
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for line in self._stream:
            self.lines.append(line.rstrip("\n"))

    def join(self, timeout: float = 3.0) -> list[str]:
        self._thread.join(timeout)
        return list(self.lines)


def _wait_for(lines: list[str], word: str, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(word in line for line in lines):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    raise RuntimeError(f"{what} did not start: {' | '.join(lines)[-300:] or 'no output'}")


def _stop(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_live(ports: Sequence[int] = PORTS, scans: Sequence[str] = SCANS, settle: float = SETTLE_S) -> LoggingExperiment:
    """Run the experiment in a fresh lab (root): start the service and tcpdump in the
    target, scan from the scanner namespace once per scan type, tear it all down.

    Takes about a second.  Raises RuntimeError with the reason where it cannot run.
    """
    reason = live_skip_reason()
    if reason:
        raise RuntimeError(f"the live experiment cannot run here: {reason}")
    from ... import scenario as scenario_mod
    from ...lab.run import Lab

    scenario = scenario_mod.loads(SCENARIO_TOML, "nb03-logging")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])
           + (os.pathsep + os.environ["PYTHONPATH"] if os.environ.get("PYTHONPATH") else "")}
    phases: dict[str, tuple[float, float]] = {}
    states: dict[str, dict[int, str]] = {}
    with Lab(scenario) as lab:
        target = lab.netns("target")
        service = subprocess.Popen(["ip", "netns", "exec", target, sys.executable, "-m", MODULE, "serve",
                                    "--ports", _csv(OPEN_PORTS)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        # -n: no name lookups; -l: a line as soon as it is seen; -tt: epoch time stamps
        # (the same clock as time.time(), so lines can be matched to each scan).
        capture = subprocess.Popen(["ip", "netns", "exec", target, "tcpdump", "-n", "-l", "-tt", "-i", "any",
                                    "tcp"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        service_out, capture_out, capture_err = _Reader(service.stdout), _Reader(capture.stdout), _Reader(capture.stderr)
        try:
            _wait_for(service_out.lines, "ready", service, "the logging service")
            _wait_for(capture_err.lines, "listening on", capture, "tcpdump")
            for scan in scans:
                start = time.time()
                result = lab.scan(TARGET_ADDRESS, list(ports), scan, randomize=False)
                time.sleep(settle)
                phases[scan] = (start, time.time())
                states[scan] = {p.port: f"{p.state} ({p.reason})" for p in result.hosts[0].ports}
        finally:
            # tcpdump writes what it still holds when interrupted; the service just stops.
            _stop(capture, signal.SIGINT)
            _stop(service, signal.SIGTERM)
            service_lines = [line for line in service_out.join() if line != "ready"]
            capture_lines = capture_out.join()
            capture_err.join()
    meta = {"kernel": platform.release(), "tcpdump": _tcpdump_version(),
            "made": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    return LoggingExperiment(service_lines, capture_lines, phases, states, "live", meta)


def _tcpdump_version() -> str:
    try:
        out = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "unknown"


# ---------------------------------------------------------------------- the recording

def make_recording(out_dir: Path = RECORDING_DIR) -> LoggingExperiment:
    """Run the experiment live and write it to *out_dir*: service.log, capture.txt, meta.json."""
    from ... import __version__

    experiment = run_live()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "service.log").write_text("\n".join(experiment.service_lines) + "\n")
    (out_dir / "capture.txt").write_text("\n".join(experiment.capture_lines) + "\n")
    meta = {
        "what": "The service's own log and a packet capture on the target, while a connect scan and then a "
                "SYN scan probed the service's port and a closed port.",
        "how": ("A portlab lab (portlab.lab.run.Lab) of two network namespaces built from the scenario below; "
                f"in the target namespace, the logging service `python -m {MODULE} serve --ports {_csv(OPEN_PORTS)}` "
                "(writes one line per accepted connection, at accept()) and `tcpdump -n -l -tt -i any tcp`; "
                "from the scanner namespace, portlab.scan(TARGET, PORTS, scan_type) once per scan type "
                f"(timing -T3, ports in order), {SETTLE_S} s pause after each. "
                f"Made by `sudo python -m {MODULE} record`."),
        "scenario": SCENARIO_TOML.strip(),
        "target": TARGET_ADDRESS, "scanner": SCANNER_ADDRESS,
        "open_ports": list(OPEN_PORTS), "closed_port": CLOSED_PORT, "ports": list(PORTS),
        "phases": {scan: list(window) for scan, window in experiment.phases.items()},
        "states": {scan: {str(port): text for port, text in ports.items()} for scan, ports in experiment.states.items()},
        "portlab": __version__, "python": platform.python_version(),
        **experiment.meta,
    }
    (out_dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return experiment


def load_recording(path: Path = RECORDING_DIR) -> LoggingExperiment:
    """The experiment as recorded in the live lab (no root needed)."""
    path = Path(path)
    meta = json.loads((path / "meta.json").read_text())
    phases = {scan: (float(a), float(b)) for scan, (a, b) in meta["phases"].items()}
    states = {scan: {int(port): text for port, text in ports.items()} for scan, ports in meta.get("states", {}).items()}
    return LoggingExperiment((path / "service.log").read_text().splitlines(),
                             (path / "capture.txt").read_text().splitlines(),
                             phases, states, "recorded", meta)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the logging service")
    serve_p.add_argument("--ports", default=_csv(OPEN_PORTS), help="e.g. 22,80,443")
    serve_p.add_argument("--address", default="0.0.0.0")
    record_p = sub.add_parser("record", help="run the experiment live (root) and write the recording")
    record_p.add_argument("--out", type=Path, default=RECORDING_DIR)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return serve([int(p) for p in args.ports.split(",") if p], args.address)
    experiment = make_recording(args.out)
    for row in experiment.counts():
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
