"""Scan timing: how long a scan takes, and why.

Three things make a scan slow, and the charts here show each one:

* **how many ports** it probes (every probe is at least one packet);
* **how many of them are filtered** (a dropped probe gets no answer, so the
  scanner waits for its timeout, then tries again before it gives up);
* **the timing template** (``-T0`` .. ``-T5``): how long the scanner waits, how many
  probes it keeps in flight, and whether it pauses between probes.

The numbers come from the simulator's *virtual* clock (:mod:`portlab.transports.sim`
charges every probe what it would cost on a real network, without sending or
sleeping), from the recordings' ``elapsed_s`` (scans of the live lab) and from a
connect scan of a loopback of the learner's own, timed for real.

Pure functions return the numbers (:func:`timing_data`, :func:`template_data`,
:func:`recorded_vs_simulated`); :func:`measured_loopback` times real scans (of a
loopback of the learner's own, in a private network namespace); the chart
functions return :class:`Chart`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ...paths import DATA_DIR
from ...scenario import Scenario, loads
from ...timing import TEMPLATE_NAMES, TEMPLATES
from ..theme import Chart, Theme, new_figure

TARGET = "10.77.0.2"
#: Open ports of the timing scenario's host: a host that answers something gets the
#: short, RTT-based timeout, as on a real network.
OPEN_PORTS = (22, 80)

#: Lines by share of filtered ports: from the colour of "closed" (every probe answered
#: at once) to the colour of "filtered" (every probe waits for its timeout).
SHARE_COLOURS = ("#0072B2", "#56B4E9", "#F0E442", "#E69F00")
#: Timing templates (Paul Tol's palettes, colours no other chart of the course uses):
#: T0-T2, which send one probe at a time, share one colour.
TEMPLATE_COLOURS = {0: "#CC6677", 1: "#CC6677", 2: "#CC6677", 3: "#88CCEE", 4: "#EE8866", 5: "#BBCC33"}
MARKERS = ("o", "s", "^", "D", "v", "P")
LINESTYLES = ("-", "--", "-.", ":")


# ---- the simulated scenario -------------------------------------------------------------

def timing_scenario(ports: int, filtered_share: float = 0.0) -> Scenario:
    """One host with SSH (22) and HTTP (80) open whose firewall drops the top
    *filtered_share* of ports ``1..ports`` (22 and 80 stay open: accept rules come
    first, and the first matching rule wins); every other port is closed (it answers
    with RST at once)."""
    if not 0.0 <= filtered_share <= 1.0:
        raise ValueError(f"filtered_share {filtered_share!r}: expected a share between 0 and 1")
    dropped = int(round(ports * filtered_share))
    rules = [f'{{ action = "accept", protocol = "tcp", ports = "{p}" }}' for p in OPEN_PORTS]
    if dropped:
        rules.append(f'{{ action = "drop", protocol = "tcp", ports = "{ports - dropped + 1}-{ports}" }}')
    return loads(f"""
name = "timing"
description = "{ports} ports, the top {dropped} dropped by the firewall"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "target"
address = "{TARGET}"
tcp = {list(OPEN_PORTS)}
[hosts.firewall]
policy = "accept"
rules = [{", ".join(rules)}]
""")


def simulate(ports: int, filtered_share: float = 0.0, template: int = 4, scan_type: str = "syn") -> dict:
    """One simulated scan of ports 1..*ports*: its virtual duration and what it found.

    It drives the simulator's transport directly and only counts states (nmap's
    classifier, :func:`portlab.states.classify`), without building a full result:
    a sweep of many scans stays quick.  ``portlab.scan(..., scenario=...)`` gives
    the same duration (a test checks it).
    """
    import asyncio
    from collections import Counter

    from ...states import Probe, ScanType, classify
    from ...timing import template as timing_template
    from ...transports.sim import SimTransport
    kind = ScanType(scan_type)
    transport = SimTransport(timing_scenario(ports, filtered_share), keep_trace=False)
    probes = [Probe(TARGET, port, kind) for port in range(1, ports + 1)]
    states: Counter = Counter()
    sent = 0
    verdicts: dict = {}

    def report(exchange) -> None:
        nonlocal sent
        sent += exchange.tries
        reply = exchange.reply
        state = verdicts.get(id(reply))
        if state is None:
            state = verdicts[id(reply)] = classify(kind, reply).state.value
        states[state] += 1

    coro = transport.run(probes, timing_template(template), report)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
    else:   # inside Jupyter's running loop: run it in a fresh loop on a helper thread
        import concurrent.futures
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, coro).result()
    return {"source": "simulated", "scan_type": kind.value, "template": template, "ports": ports,
            "open": states.get("open", 0), "filtered": states.get("filtered", 0) + states.get("open|filtered", 0),
            "filtered_share": filtered_share, "duration_s": transport.virtual_elapsed, "probes": sent}


def timing_data(port_counts: Sequence[int] = (100, 300, 1000, 3000, 10000),
                filtered_shares: Sequence[float] = (0.0, 0.1, 0.5, 0.9),
                templates: Sequence[int] = (4,), scan_type: str = "syn"):
    """Simulated durations (virtual seconds) for every port count x filtered share x template.

    A DataFrame, one row a scan: ``source, scan_type, template, ports, open,
    filtered, filtered_share, duration_s, probes``.  Deterministic: the simulator has no
    randomness here, so the same arguments give the same numbers on every machine.
    The sweep of the defaults takes well under a second.
    """
    import pandas as pd
    rows = [simulate(n, share, t, scan_type)
            for t in templates for share in filtered_shares for n in port_counts]
    return pd.DataFrame(rows)


def template_data(ports: int = 1000, filtered_share: float = 0.1, scan_type: str = "syn"):
    """One scan under each template T0-T5: a DataFrame with the template's settings
    (``initial_timeout``, ``max_retries``, ``scan_delay``, ``max_parallel``) and its
    simulated ``duration_s``, slowest (T0) first."""
    import pandas as pd
    rows = []
    for level in sorted(TEMPLATES):
        t = TEMPLATES[level]
        row = simulate(ports, filtered_share, level, scan_type)
        row.update(name=TEMPLATE_NAMES[level], initial_timeout=t.initial_timeout, min_timeout=t.min_timeout,
                   max_retries=t.max_retries, scan_delay=t.scan_delay, max_parallel=t.max_parallel,
                   duration=human_duration(row["duration_s"]))
        rows.append(row)
    return pd.DataFrame(rows)


def human_duration(seconds: float) -> str:
    """``0.25 s``, ``4.6 min``, ``3.2 h``, ``3.8 days``: a duration a person can read."""
    if seconds < 60:
        return f"{seconds:.2g} s" if seconds < 10 else f"{seconds:.0f} s"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{seconds:.0f} s"   # pragma: no cover


# ---- measured: recordings and loopback --------------------------------------------------

def _recording_dirs(root: Optional[Path] = None) -> list[Path]:
    root = Path(root) if root else DATA_DIR / "recordings"
    return sorted(p for p in root.iterdir() if (p / "meta.json").is_file())


def recorded_vs_simulated(scenarios: Optional[Iterable[str]] = None, scan_types: Sequence[str] = ("connect", "syn"),
                          root: Optional[Path] = None):
    """Each recording of the live lab beside a simulated rerun of the same scan.

    For every recording (portlab's own JSON, ``-T`` as in its ``meta.json``), the
    simulator scans the same scenario, targets and ports with the same template.
    A DataFrame: ``scenario, scan_type, ports, filtered, recorded_s, simulated_s,
    same_states`` (True when every port's state agrees).
    """
    import pandas as pd

    from ...engine import scan
    from ...results import load
    rows = []
    for folder in _recording_dirs(root):
        if scenarios is not None and folder.name not in set(scenarios):
            continue
        meta = json.loads((folder / "meta.json").read_text())
        for scan_type in scan_types:
            info = meta.get("scans", {}).get(scan_type)
            if not info:
                continue
            recorded = load(folder / info["file"])
            rerun = scan(meta["targets"], info["ports"], scan_type, scenario=meta["scenario"],
                         timing=info.get("timing", 4), keep_trace=False, randomize=False)
            then = {(h.address, p.port, p.protocol): str(p.state) for h, p in recorded.ports()}
            now = {(h.address, p.port, p.protocol): str(p.state) for h, p in rerun.ports()}
            counts = recorded.counts()
            rows.append({"scenario": folder.name, "scan_type": scan_type, "ports": sum(counts.values()),
                         "filtered": counts.get("filtered", 0) + counts.get("open|filtered", 0),
                         "recorded_s": round(recorded.elapsed_s, 3), "simulated_s": round(rerun.elapsed_s, 3),
                         "same_states": then == now})
    return pd.DataFrame(rows)


#: Listeners the loopback measurement starts in its private loopback, so that the scans
#: find something open (ports below 1024 are allowed there: the namespace is the learner's).
MEASURED_LISTENERS = (22, 80)
MEASURED_COLUMNS = ("source", "scan_type", "template", "ports", "open", "filtered", "filtered_share",
                    "duration_s", "probes")


def _measure_inside(port_counts: Sequence[int], host: str, timing: int, listen: Sequence[int]) -> list[dict]:
    """The loopback measurement itself (it runs inside the private network namespace):
    listeners on *listen*, a timed connect scan of ports 1..n for each n, listeners closed."""
    import socket

    from ...engine import scan
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listeners = []
    try:
        for port in listen:
            sock = socket.socket(family, socket.SOCK_STREAM)
            listeners.append(sock)
            sock.bind((host, port))
            sock.listen()
        scan(host, "1-10", "connect", timing=timing, keep_trace=False)   # untimed: the first scan pays for imports
        rows = []
        for n in port_counts:
            t0 = time.perf_counter()
            result = scan(host, f"1-{n}", "connect", timing=timing, keep_trace=False)
            wall = time.perf_counter() - t0
            counts = result.counts()
            rows.append({"source": "loopback", "scan_type": "connect", "template": timing, "ports": n,
                         "open": counts.get("open", 0), "filtered": counts.get("filtered", 0),
                         "filtered_share": counts.get("filtered", 0) / n, "duration_s": wall,
                         "probes": result.probes_sent or n})
        return rows
    finally:
        for sock in listeners:
            sock.close()


def measured_loopback(port_counts: Sequence[int] = (100, 1000, 5000), host: str = "127.0.0.1",
                      timing: int = 4, listen: Sequence[int] = MEASURED_LISTENERS):
    """Real connect scans of loopback ports 1..n, timed with a wall clock, in a loopback
    of the learner's own.

    The scans run in a private network namespace (:mod:`portlab.privatenet`), where
    nothing listens but the *listen* ports this function opens there: on a shared
    machine, ports 1-5000 of the common loopback would be other people's programs.
    Loopback answers at once (open or closed, never filtered), so this is the "no
    filtered ports" line measured for real.  A DataFrame like :func:`timing_data`'s
    with ``source="loopback"``; the numbers differ a little from run to run.
    ``frame.attrs["where"]`` is one line saying where the scans ran; where no private
    namespace can be had, nothing is scanned, the frame is empty and the line says why.
    """
    import ipaddress

    import pandas as pd

    from ...privatenet import run_or
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"host {host!r}: measured_loopback scans loopback only (127.0.0.0/8 or ::1)")
    ran = run_or(list, "notebook did not time live scans of loopback (ports 1-5000 of a shared machine's "
                       "loopback are other people's programs): the chart shows the simulator's lines only",
                 _measure_inside, tuple(port_counts), host, timing, tuple(listen))
    frame = pd.DataFrame(ran.value, columns=list(MEASURED_COLUMNS))
    frame.attrs["where"] = ran.line
    return frame


def _log_axis(axis, values, kind: str) -> None:
    """Plain tick labels on a log axis (``1 s``, ``1 min``; ``1000`` ports), no minor ticks:
    easier to read than powers of ten, and much quicker to draw."""
    from matplotlib.ticker import FixedLocator, NullLocator
    lo, hi = min(v for v in values if v > 0), max(values)
    if kind == "seconds":
        marks = [(0.001, "1 ms"), (0.01, "10 ms"), (0.1, "0.1 s"), (1, "1 s"), (10, "10 s"), (60, "1 min"),
                 (3600, "1 h"), (86400, "1 day"), (86400 * 7, "1 week")]
    else:
        marks = [(10 ** k, f"{10 ** k:,}".replace(",", " ")) for k in range(0, 7)] + [(65535, "65 535")]
    chosen = [(v, t) for v, t in marks if lo / 1.5 <= v <= hi * 1.5]
    axis.set_major_locator(FixedLocator([v for v, _ in chosen]))
    axis.set_ticklabels([t for _, t in chosen])
    axis.set_minor_locator(NullLocator())


# ---- charts -------------------------------------------------------------------------------

def _share_label(share: float) -> str:
    return f"{share:.0%} filtered"


def duration_vs_ports(data=None, measured=None, template: int = 4) -> Chart:
    """Duration against number of ports, one line per share of filtered ports (log-log);
    *measured* (e.g. :func:`measured_loopback`) adds real points."""
    data = timing_data(templates=(template,)) if data is None else data
    data = data[data["template"] == template] if "template" in data else data
    shares = sorted(data["filtered_share"].unique())

    def build(th: Theme):
        fig = new_figure(8.5, 4.2)
        ax = fig.add_subplot()
        for i, share in enumerate(shares):
            rows = data[data["filtered_share"] == share].sort_values("ports")
            ax.plot(rows["ports"], rows["duration_s"], marker=MARKERS[i % len(MARKERS)],
                    linestyle=LINESTYLES[i % len(LINESTYLES)], color=SHARE_COLOURS[min(i, len(SHARE_COLOURS) - 1)],
                    label=f"simulated, {_share_label(share)}")
        if measured is not None and len(measured):
            ax.plot(measured["ports"], measured["duration_s"], marker="X", markersize=9, linestyle="none",
                    color=th.foreground, label="measured: live loopback connect scan")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ys = list(data["duration_s"]) + (list(measured["duration_s"]) if measured is not None else [])
        _log_axis(ax.xaxis, list(data["ports"]), "ports")
        _log_axis(ax.yaxis, ys, "seconds")
        ax.set_xlabel("ports scanned")
        ax.set_ylabel("scan duration (seconds, log scale)")
        ax.set_title(f"More ports, and above all more filtered ports, mean a longer scan (-T{template})")
        ax.grid(True, which="major", alpha=0.5)
        ax.legend(loc="upper left")
        return fig

    biggest = data["ports"].max()
    at = data[data["ports"] == biggest].sort_values("filtered_share")
    parts = ", ".join(f"{human_duration(r.duration_s)} with {r.filtered_share:.0%} filtered" for r in at.itertuples())
    text = (f"Line chart, both axes logarithmic: simulated SYN scan duration at -T{template} against the number "
            f"of ports scanned, one line per share of filtered (dropped) ports. With nothing filtered the "
            f"duration grows in step with the port count. Any filtered port sets a floor of two timeouts (the "
            f"last silent probe waits, is sent again and waits again); once more probes are silent than the "
            f"scanner keeps in flight, the lines with more filtered ports climb higher. At {biggest} ports: {parts}.")
    if measured is not None and len(measured):
        text += (" Crosses mark real connect scans of your own private loopback, where no port is filtered: "
                 + ", ".join(f"{r.ports} ports in {human_duration(r.duration_s)}" for r in measured.itertuples())
                 + ".")
    return Chart(build, text, data, title="scan duration against ports")


def duration_vs_filtered(ports: int = 5000, shares: Sequence[float] = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9),
                         templates: Sequence[int] = (4, 5), data=None) -> Chart:
    """Duration of one scan of *ports* ports against the share of them that is filtered,
    one line per template."""
    data = timing_data((ports,), shares, templates) if data is None else data

    def build(th: Theme):
        fig = new_figure(8.5, 4.0)
        ax = fig.add_subplot()
        for i, level in enumerate(sorted(data["template"].unique())):
            rows = data[data["template"] == level].sort_values("filtered_share")
            ax.plot(rows["filtered_share"] * 100, rows["duration_s"], marker=MARKERS[i % len(MARKERS)],
                    linestyle=LINESTYLES[i % len(LINESTYLES)],
                    color=TEMPLATE_COLOURS.get(int(level), th.foreground),
                    label=f"-T{level} ({TEMPLATE_NAMES[level]})")
        ax.set_xlabel("share of the ports that are filtered (dropped), %")
        ax.set_ylabel("scan duration (seconds)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"A scan of {ports} ports: every dropped probe waits for a timeout")
        ax.grid(True, alpha=0.5)
        ax.legend(loc="upper left")
        return fig

    parts = []
    for level in sorted(data["template"].unique()):
        rows = data[data["template"] == level].sort_values("filtered_share")
        parts.append(f"-T{level} from {human_duration(rows['duration_s'].iloc[0])} with "
                     f"{rows['filtered_share'].iloc[0]:.0%} filtered to {human_duration(rows['duration_s'].iloc[-1])} "
                     f"with {rows['filtered_share'].iloc[-1]:.0%}")
    text = (f"Line chart: simulated SYN scan of {ports} ports, duration against the share of ports a firewall "
            f"drops, one line per timing template. Duration grows in step with the filtered share: "
            + "; ".join(parts) + ".")
    curves = {level: tuple(data[data["template"] == level].sort_values("filtered_share")["duration_s"].round(6))
              for level in sorted(data["template"].unique())}
    same = [level for level in curves if any(curves[other] == curves[level] for other in curves if other < level)]
    if same:
        text += (" Lines that coincide (" + ", ".join(f"-T{level}" for level in same) + " on the one before) wait "
                 "the same minimum timeout here: on a fast network the timeout shrinks to its floor.")
    return Chart(build, text, data, title="scan duration against filtered share")


def templates_chart(data=None, ports: int = 1000, filtered_share: float = 0.1) -> Chart:
    """The same scan under T0-T5: horizontal bars on a log scale, with each template's settings."""
    data = template_data(ports, filtered_share) if data is None else data

    def build(th: Theme):
        fig = new_figure(8.5, 3.8)
        ax = fig.add_subplot()
        rows = data.sort_values("template")
        ys = list(range(len(rows)))[::-1]
        colours = [TEMPLATE_COLOURS[int(t)] for t in rows["template"]]
        hatches = ["//" if p == 1 else "" for p in rows["max_parallel"]]
        bars = ax.barh(ys, rows["duration_s"], color=colours, height=0.6, edgecolor=th.background)
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
        for y, r in zip(ys, rows.itertuples()):
            ax.text(r.duration_s * 1.25, y, f"{r.duration}", va="center", ha="left", color=th.foreground)
        labels = [f"-T{r.template} {r.name}\n{r.initial_timeout:g} s timeout, {r.scan_delay:g} s delay, "
                  + ("one at a time" if r.max_parallel == 1 else f"up to {r.max_parallel} at once")
                  for r in rows.itertuples()]
        ax.set_yticks(ys, labels)
        ax.set_xscale("log")
        ax.set_xlim(right=rows["duration_s"].max() * 40)
        _log_axis(ax.xaxis, list(rows["duration_s"]), "seconds")
        ax.set_xlabel("scan duration (seconds, log scale)")
        ax.set_title(f"One scan of {ports} ports ({filtered_share:.0%} filtered) under each timing template")
        ax.grid(True, axis="x", alpha=0.5)
        from matplotlib.patches import Patch
        ax.legend(handles=[Patch(facecolor=TEMPLATE_COLOURS[0], hatch="//", edgecolor=th.background,
                                 label="one probe at a time, pauses between"),
                           Patch(facecolor=TEMPLATE_COLOURS[3], edgecolor=th.background, label="many probes in flight")],
                  loc="lower right")
        return fig

    rows = data.sort_values("template")
    text = (f"Horizontal bar chart, log scale: a simulated SYN scan of {ports} ports with {filtered_share:.0%} "
            f"filtered under each timing template. " + "; ".join(
                f"-T{r.template} ({r.name}) {r.duration}" for r in rows.itertuples())
            + ". T0 to T2 send one probe at a time and pause between probes; T3 to T5 keep many in flight "
              "(portlab: up to a fixed 1024; nmap: a window that adapts to the network) and wait less for "
              "silent ports.")
    return Chart(build, text, data, title="timing templates")


def recorded_vs_simulated_chart(data=None) -> Chart:
    """Paired bars: each recording's measured duration beside the simulated rerun's."""
    data = recorded_vs_simulated() if data is None else data

    def build(th: Theme):
        fig = new_figure(9, 3.8)
        ax = fig.add_subplot()
        labels = [f"{r.scenario}\n{r.scan_type}" for r in data.itertuples()]
        xs = list(range(len(data)))
        w = 0.4
        # No colour of meaning here: solid = measured, hatched outline = simulated.
        ax.bar([x - w / 2 for x in xs], data["recorded_s"], w, color=th.foreground, alpha=0.8,
               label="recorded in the live lab (measured)")
        ax.bar([x + w / 2 for x in xs], data["simulated_s"], w, facecolor="none", hatch="///",
               edgecolor=th.foreground, label="simulated rerun (virtual time)")
        ax.set_xticks(xs, labels, rotation=40, ha="right", fontsize=8)
        ax.set_ylabel("scan duration (seconds)")
        ax.set_title("Scans recorded in the live lab, beside their simulated reruns")
        ax.grid(True, axis="y", alpha=0.5)
        ax.legend(loc="upper left")
        return fig

    slow = data.sort_values("recorded_s", ascending=False).head(3)
    text = ("Grouped bar chart: for each recording of the live lab, its measured duration beside a simulated "
            "rerun of the same scan. The slowest recordings are "
            + "; ".join(f"{r.scenario} {r.scan_type}: {r.recorded_s:g} s recorded, {r.simulated_s:g} s simulated, "
                        f"{r.filtered} of {r.ports} ports filtered" for r in slow.itertuples())
            + ". The simulator's virtual clock is a model of the costs (a round trip per answer, two timeouts per "
              "silent port); a real scanner also pays for the target's ICMP rate limit and its own pacing.")
    return Chart(build, text, data, title="recorded against simulated")


def gallery() -> dict[str, Chart]:
    """Example charts from simulated and recorded scans (no live scan: the gallery is deterministic)."""
    return {
        "duration-vs-ports": duration_vs_ports(),
        "duration-vs-filtered": duration_vs_filtered(),
        "templates": templates_chart(),
        "recorded-vs-simulated": recorded_vs_simulated_chart(
            recorded_vs_simulated(scan_types=("connect", "syn"))),
    }
