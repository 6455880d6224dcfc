"""Packet sequence diagrams: one port's exchange, packet by packet, from the scan's own trace.

Two vertical lanes (the scanner on the left, the target on the right), time running
down, one arrow per event the transport recorded: a SYN out, a SYN/ACK, RST, UDP
datagram or ICMP error back, a ``connect()`` call, a timer that ran out.  At the
bottom, the verdict the classifier drew from it (state and reason).

Every transport writes its trace in its own words (``TraceEvent.summary``):

* simulator: ``SYN 10.77.0.1:40001 > 10.77.0.2:22``, ``ICMP 3/13 admin-prohibited from 10.77.0.2``,
  ``connect() 10.77.0.1:40001 > 10.77.0.2:22``, ``connect() failed: EHOSTUNREACH (ICMP 3/1 ...)``;
* raw SYN and UDP: ``SYN a:p > b:q``, ``SYN/ACK ...``, ``RST ...``, ``UDP :p > b:q (0 bytes)``,
  ``ICMP unreachable code 3 from 127.0.0.1``;
* connect: ``SYN → 127.0.0.1:22 (connect(), try 1)``, ``SYN/ACK ← connect() succeeded; closed with RST``,
  ``RST ← connect() → ECONNREFUSED``, ``connect() → EHOSTUNREACH``, ``no reply within 0.100s (try 1)``.

:func:`parse_event` turns any of them into an :class:`Arrow`; :func:`sequence_data`
does it for a whole port; :func:`sequence_diagram` draws it.  A packet the trace
does not hold (the RST a scanner's kernel sends after a SYN/ACK it never asked
for) is not drawn: a note under the diagram says it happens.
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple, Optional, Sequence

from matplotlib import patheffects
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ...results import PortResult, ScanResult
from ...sim.kernel import ICMP_CODE_NAMES, ICMP_RATELIMIT_S, XRLIM_BURST_FACTOR
from ...states import ScanType
from ...results import TraceEvent
from ..theme import PACKET_COLOURS, STATE_COLOURS, Chart, Theme, contrast, new_figure, text_on

SCANNER, TARGET = "scanner", "target"
#: errno names a connect() gets from an ICMP error (Linux icmp_err_convert).
ICMP_ERRNOS = {"EHOSTUNREACH", "ENETUNREACH", "EACCES", "ENOPROTOOPT", "EPERM", "EHOSTDOWN"}
BIG_GAP = 0.005      # seconds: a pause longer than this gets extra room and a label


class Arrow(NamedTuple):
    """One trace event as the diagram draws it."""

    t: float          # seconds since the scan started (the transport's clock; virtual in the simulator)
    source: str       # "scanner" or "target" (a timer is scanner -> scanner)
    dest: str
    label: str        # what the arrow says
    kind: str         # a key of PACKET_COLOURS: syn, syn-ack, ack, rst, udp, icmp, timeout, call (or "other")


_ADDR = r"(?P<src>[\w.:\[\]]*?):(?P<sport>\d+) > (?P<dst>[\w.:\[\]]+?):(?P<dport>\d+)"
_ICMP_SIM = re.compile(r"ICMP (?P<type>\d+)/(?P<code>\d+) ?(?P<name>[\w-]*) from (?P<who>[\w.:]+)")
_ICMP_RAW = re.compile(r"ICMP unreachable code (?P<code>\d+) from (?P<who>[\w.:]+)")
_BYTES = re.compile(r"\((?P<n>\d+) bytes\)")
_TRY = re.compile(r"try (?P<n>\d+)")
_ERRNO = re.compile(r"\b(E[A-Z]+)\b")
# A witness round's conclusion (portlab.transports.witness.dropped_because).
_WITNESS = re.compile(r"while port (?P<port>\d+) behind it got its ICMP error")


def _icmp_label(code: int, who: str) -> str:
    # "from" goes when it is the target itself (sequence_data knows; a router answering stays named).
    name = ICMP_CODE_NAMES.get(code, "unreachable")
    return f"ICMP type 3 code {code} ({name}) from {who}"


def _destinations(trace: Sequence[TraceEvent]) -> set[str]:
    """The addresses the scanner sent to, as the trace writes them."""
    found = set()
    for e in trace:
        if e.direction != "sent":
            continue
        m = re.search(_ADDR, e.summary) or re.search(r"→ (?P<dst>[\w.:]+?):(?P<dport>\d+)", e.summary)
        if m:
            found.add(m.group("dst"))
    return found


def parse_event(event: TraceEvent) -> Arrow:
    """One trace event (from any transport) as an arrow; unknown text keeps its own words."""
    s, t = event.summary, event.t
    out = event.direction == "sent"
    fwd = (SCANNER, TARGET) if out else (TARGET, SCANNER)

    if s.startswith("no reply within"):
        m = re.search(r"within ([\d.]+)s", s)
        wait = f" {float(m.group(1)) * 1000:.0f} ms" if m else ""
        tr = _TRY.search(s)
        return Arrow(t, SCANNER, SCANNER, f"no reply within{wait}" + (f" (try {tr.group('n')})" if tr else ""),
                     "timeout")
    if s.startswith("no reply"):
        # The scanner's own conclusion after the witness rounds (transports/witness.py).
        return Arrow(t, SCANNER, SCANNER, s, "timeout")
    if s.startswith("send failed"):
        return Arrow(t, SCANNER, SCANNER, s, "call")

    icmp = _ICMP_SIM.search(s) or _ICMP_RAW.search(s)
    errno = _ERRNO.search(s)
    if "connect()" in s and not out:
        # What connect() returned, and (where the transport knows) the packet behind it.
        if "succeeded" in s or s.endswith("connected"):
            return Arrow(t, TARGET, SCANNER, "SYN/ACK → connect() succeeds", "syn-ack")
        name = errno.group(1) if errno else "an error"
        if icmp:
            return Arrow(t, TARGET, SCANNER, _icmp_label(int(icmp.group("code")), icmp.group("who"))
                         + f" → {name}", "icmp")
        if name == "ECONNREFUSED":
            return Arrow(t, TARGET, SCANNER, "RST → connect() fails, ECONNREFUSED", "rst")
        if name in ICMP_ERRNOS:
            return Arrow(t, TARGET, SCANNER, f"an ICMP error → connect() fails, {name}", "icmp")
        return Arrow(t, SCANNER, SCANNER, f"connect() fails, {name}", "call")
    if "connect()" in s and out:
        if s.startswith("SYN"):
            return Arrow(t, SCANNER, TARGET, "SYN, sent by connect()", "syn")
        return Arrow(t, SCANNER, TARGET, "connect(): the kernel sends a SYN", "call")
    if icmp:
        return Arrow(t, *fwd, _icmp_label(int(icmp.group("code")), icmp.group("who")), "icmp")
    if s.startswith("SYN/ACK"):
        return Arrow(t, *fwd, "SYN/ACK", "syn-ack")
    if s.startswith("SYN"):
        return Arrow(t, *fwd, "SYN", "syn")
    if s.startswith("RST"):
        return Arrow(t, *fwd, "RST", "rst")
    if s.startswith("ACK"):
        return Arrow(t, *fwd, "ACK", "ack")
    if s.startswith("UDP"):
        size = _BYTES.search(s)
        what = "UDP datagram" if out else "UDP reply"
        return Arrow(t, *fwd, what + (f" ({size.group('n')} bytes)" if size else ""), "udp")
    return Arrow(t, *fwd, s, "other")


def sequence_data(port_result: PortResult) -> list[Arrow]:
    """The arrows of one port's exchange, one per trace event, in order; retries say their try."""
    arrows = [parse_event(e) for e in port_result.trace]
    for dst in _destinations(port_result.trace):
        arrows = [a._replace(label=a.label.replace(f" from {dst}", "")) for a in arrows]
    sends = [i for i, a in enumerate(arrows) if a.source == SCANNER and a.dest == TARGET]
    if len(sends) > 1:
        for n, i in enumerate(sends, 1):
            a = arrows[i]
            arrows[i] = a._replace(label=f"{a.label} (try {n})")
    return arrows


def waits(arrows: Sequence[Arrow], port_result: PortResult) -> list[tuple[int, str]]:
    """Silences worth a label: ``(index of the arrow after which the scanner waited, text)``.

    A send followed by another send means the first went unanswered and the timer
    ran out; a send at the very end of a no-response port means the scanner gave up.
    Traces that record the timer themselves (connect's "no reply within") need none.
    """
    found = []
    for i, a in enumerate(arrows):
        if not (a.source == SCANNER and a.dest == TARGET):
            continue
        nxt = arrows[i + 1] if i + 1 < len(arrows) else None
        if nxt is not None and nxt.source == SCANNER and nxt.dest == TARGET:
            found.append((i, f"no reply for {(nxt.t - a.t) * 1000:.0f} ms: send again"))
        elif nxt is None and port_result.reason == "no-response":
            found.append((i, "no reply: the scanner gives up"))
    return found


def notes(port_result: PortResult, scan_type: str, arrows: Sequence[Arrow]) -> list[str]:
    """What the learner should know that the arrows do not show."""
    out = []
    kinds = [a.kind for a in arrows]
    if not arrows:
        out.append("This result kept no packet trace (recordings keep only the verdict). "
                   "Scan with keep_trace=True, or in the simulator, to see the packets.")
        return out
    if scan_type == "syn" and "syn-ack" in kinds and not any(a.kind == "rst" and a.source == SCANNER
                                                            for a in arrows):
        out.append("Not in the trace: the scanner's kernel answers the SYN/ACK with an RST, because no "
                   "program asked for that connection. That RST also removes the target's half-open entry at once.")
    if scan_type == "connect" and "syn-ack" in kinds:
        out.append("Not in the trace: the kernel completes the handshake with an ACK, then the scanner "
                   "closes the connection at once (with an RST).")
    if scan_type == "connect" and any("ECONNREFUSED" in a.label for a in arrows):
        out.append("connect() reports only an error number: ECONNREFUSED means a RST came back, "
                   "or an ICMP port-unreachable did.")
    sends = sum(1 for a in arrows if a.source == SCANNER and a.dest == TARGET)
    if scan_type == "udp" and sends > 1 and kinds[-1] == "icmp":
        out.append(f"The first {sends - 1} tr{'y' if sends == 2 else 'ies'} met silence: the target held its "
                   f"ICMP error back. Linux sends one peer a burst of {XRLIM_BURST_FACTOR} ICMP errors, then "
                   f"one per net.ipv4.icmp_ratelimit ({ICMP_RATELIMIT_S * 1000:.0f} ms); earlier ports of "
                   "the scan had spent the burst, so the scanner asked again until the error came.")
    if port_result.reason == "no-response":
        tries = sum(1 for a in arrows if a.source == SCANNER and a.dest == TARGET)
        witness = _WITNESS.search(arrows[-1].label)
        if witness:
            out.append(f"Silence after {tries} tries, while port {witness.group('port')} of the same host, "
                       f"asked right after the last one, got its ICMP error: the target could still send "
                       f"errors, so this packet was dropped, not answered. The port is "
                       f"{port_result.state.value}.")
        else:
            out.append(f"Silence after {tries} tr{'y' if tries == 1 else 'ies'}: a scanner cannot tell a "
                       f"dropped packet from a lost one, so it says {port_result.state.value}.")
    return out


def _lanes(port_result: PortResult, host: Optional[str]) -> tuple[str, str]:
    """Lane titles: the addresses the trace names, else plain words."""
    scanner = "scanner"
    for e in port_result.trace:
        m = re.search(_ADDR, e.summary)
        if m and e.direction == "sent" and m.group("src"):
            scanner = f"scanner\n{m.group('src')}"
            break
    target = f"target\n{host}:{port_result.port}/{port_result.protocol}" if host else \
        f"target\nport {port_result.port}/{port_result.protocol}"
    return scanner, target


def _rows(arrows: Sequence[Arrow]) -> list[float]:
    """Where each arrow lands on the (downward) time axis: evenly, with room for long pauses."""
    ys, y = [], 0.0
    for i, a in enumerate(arrows):
        if i:
            y += 1.7 if a.t - arrows[i - 1].t > BIG_GAP else 1.0
        ys.append(y)
    return ys


def _ms(t: float) -> str:
    return f"{t * 1000:.1f} ms"


def _draw(port_result: PortResult, arrows: list[Arrow], upto: int, scan_type: str, host: Optional[str],
          th: Theme, title: str):
    shown = arrows[:upto]
    ys = _rows(arrows)
    last = ys[-1] if ys else 0.0
    height = 2.6 + 0.55 * (last + 1) + 0.3 * len(notes(port_result, scan_type, arrows))
    fig = new_figure(8.4, min(height, 14))
    ax = fig.add_subplot()
    x_scan, x_tgt = 0.0, 1.0
    top, bottom = -1.0, last + 1.9 + (0.9 if any(i == len(arrows) - 1 for i, _t in waits(arrows, port_result)) else 0)
    for x, name in zip((x_scan, x_tgt), _lanes(port_result, host)):
        ax.plot([x, x], [top + 0.25, bottom - 0.9], color=th.muted, linewidth=2, zorder=1)
        ax.text(x, top, name, ha="center", va="bottom", fontsize=10, fontweight="bold")

    t0 = arrows[0].t if arrows else 0.0
    ticks, tick_labels = [], []
    for a, y in zip(shown, ys):
        colour = PACKET_COLOURS.get(a.kind, th.foreground)
        # Grey packet colours (timeouts) vanish on the dark page: lines take the theme's colour there.
        line = th.foreground if a.kind in ("timeout", "other") else colour
        if a.source == a.dest:   # a timer or a local error: a loop on the scanner's lane
            patch = FancyArrowPatch((x_scan, y - 0.55), (x_scan, y), connectionstyle="arc3,rad=-0.9",
                                    arrowstyle="-|>", mutation_scale=12, color=line, linestyle="--",
                                    linewidth=1.4, zorder=3)
            ax.add_patch(patch)
            ax.text(x_scan + 0.12, y - 0.3, a.label, ha="left", va="center", fontsize=9, style="italic")
        else:
            start, end = (x_scan, x_tgt) if a.source == SCANNER else (x_tgt, x_scan)
            y0, y1 = (y, y + 0.5) if a.source == SCANNER else (y - 0.5, y)
            arrow = FancyArrowPatch((start, y0), (end, y1), arrowstyle="-|>", mutation_scale=16,
                                    color=line, linewidth=2.2, zorder=3, shrinkA=0, shrinkB=0)
            if contrast(line, th.background) < 2:
                # The pale UDP yellow nearly vanishes on white: a thin outline in the text colour keeps it seen.
                arrow.set_path_effects([patheffects.withStroke(linewidth=3.4, foreground=th.foreground)])
            ax.add_patch(arrow)
            # The label runs along its arrow, just above it (read left to right whichever way it points).
            (xl, yl), (xr, yr) = sorted([(start, y0), (end, y1)])
            ax.text((xl + xr) / 2, (yl + yr) / 2 - 0.04, a.label, ha="center", va="bottom", fontsize=9,
                    rotation=math.degrees(math.atan2(yr - yl, xr - xl)), rotation_mode="anchor",
                    transform_rotates_text=True,
                    bbox=dict(boxstyle="round,pad=0.15", facecolor=th.background, edgecolor="none", alpha=0.85))
        ticks.append(y)
        tick_labels.append(_ms(a.t - t0))
    for i, text in waits(arrows, port_result):
        if i >= len(shown) or (text.endswith("again") and i + 1 >= len(shown)):
            continue
        y_from = ys[i] + 0.5
        y_to = ys[i + 1] if i + 1 < len(ys) else y_from + 0.9
        ax.annotate("", (x_scan - 0.06, y_to), (x_scan - 0.06, y_from),
                    arrowprops=dict(arrowstyle="|-|", color=th.foreground, linewidth=1, shrinkA=0, shrinkB=0,
                                    mutation_scale=4))
        ax.text(x_scan + 0.04, (y_from + y_to) / 2, text, ha="left", va="center", fontsize=8.5,
                style="italic", color=th.foreground)

    # The verdict, once every packet is on the page (below the last wait, if the scanner gave up).
    gave_up = any(i == len(arrows) - 1 for i, _text in waits(arrows, port_result))
    y_v = last + (2.2 if gave_up else 1.3)
    if upto >= len(arrows):
        fill = STATE_COLOURS.get(port_result.state.value, th.muted)
        ax.add_patch(FancyBboxPatch((-0.06, y_v - 0.32), 1.12, 0.64, boxstyle="round,pad=0.02",
                                    facecolor=fill, edgecolor="none", zorder=2))
        ax.text(0.5, y_v, f"verdict: {port_result.state.value} ({port_result.reason}), "
                f"after {port_result.tries} tr{'y' if port_result.tries == 1 else 'ies'}",
                ha="center", va="center", fontsize=10.5, fontweight="bold", color=text_on(fill), zorder=4,
                gid=f"on-fill:{fill}")
        for k, note in enumerate(notes(port_result, scan_type, arrows)):
            ax.text(-0.25, y_v + 0.75 + 0.65 * k, _wrap(note, 95), ha="left", va="top", fontsize=8.5,
                    color=th.foreground)
    else:
        ax.text(0.5, y_v, f"packet {upto} of {len(arrows)}: the verdict comes after the last one",
                ha="center", va="center", fontsize=9.5, style="italic", color=th.foreground)

    ax.set_xlim(-0.3, 1.3)
    n_notes = len(notes(port_result, scan_type, arrows)) if upto >= len(arrows) else 0
    ax.set_ylim(y_v + 0.6 + 0.65 * n_notes, top - 0.6)   # inverted: time runs down
    ax.set_yticks(ticks, tick_labels)
    ax.set_ylabel("time since the first packet (scanner's clock)")
    ax.set_xticks([])
    ax.spines[["top", "right", "bottom"]].set_visible(False)
    ax.set_title(title)
    return fig


def _wrap(text: str, width: int) -> str:
    import textwrap
    return "\n".join(textwrap.wrap(text, width))


def describe(port_result: PortResult, arrows: Sequence[Arrow], scan_type: str, host: Optional[str],
             verdict: bool = True) -> str:
    """The text equivalent: each event in order, then the verdict and the notes."""
    where = f"port {port_result.port}/{port_result.protocol}" + (f" on {host}" if host else "")
    head = f"{_scan_name(scan_type)} scan of {where}. "
    t0 = arrows[0].t if arrows else 0.0
    steps = []
    for a in arrows:
        who = ("the scanner's timer" if a.kind == "timeout" else "the scanner" if a.source == SCANNER
               else "the target side")
        steps.append(f"at {_ms(a.t - t0)} {who}: {a.label}")
    body = ("; ".join(steps) + ". ") if steps else ""
    if not verdict:
        return (head + body + "The verdict comes after the last packet.").strip()
    said = f"Verdict: {port_result.state.value} ({port_result.reason}). "
    return (head + body + said + " ".join(notes(port_result, scan_type, arrows))).strip()


def _scan_name(scan_type: str) -> str:
    return {"connect": "Connect", "syn": "SYN", "udp": "UDP"}.get(scan_type, scan_type)


def _find(result: ScanResult, port: int, protocol: str, host: Optional[str]) -> tuple[PortResult, str]:
    hosts = [result.host(host)] if host is not None else result.hosts
    for h in hosts:
        found = h.port(port, protocol)
        if found is not None:
            return found, h.address
    where = f" on {host}" if host else ""
    raise KeyError(f"port {port}/{protocol} is not in this result{where} (or was folded into a count)")


def sequence_diagram(result: ScanResult, port: int, protocol: Optional[str] = None, host: Optional[str] = None,
                     upto: Optional[int] = None) -> Chart:
    """The exchange for one port of *result*; *upto* draws only the first k arrows (the stepper)."""
    scan_type = ScanType(result.scan_type).value
    protocol = protocol or ScanType(result.scan_type).protocol
    port_result, address = _find(result, port, protocol, host)
    arrows = sequence_data(port_result)
    k = len(arrows) if upto is None else max(0, min(upto, len(arrows)))
    complete = k >= len(arrows)
    # Part way through (the stepper), the title and text keep the verdict back: it is the punchline.
    title = f"{_scan_name(scan_type)} scan, port {port}/{protocol}" + (f": {port_result.state.value}" if complete else "")
    data = {"arrows": arrows[:k], "all_arrows": arrows, "state": port_result.state.value,
            "reason": port_result.reason, "tries": port_result.tries, "host": address,
            "notes": notes(port_result, scan_type, arrows)}
    text = describe(port_result, arrows[:k], scan_type, address, verdict=complete)
    return Chart(lambda th: _draw(port_result, arrows, k, scan_type, address, th, title), text, data, title)


# -- the words of the packet stepper -------------------------------------------------

def explain(arrow: Arrow, port: int, protocol: str = "tcp") -> str:
    """One sentence on what this packet is and what it tells the scanner."""
    retry = re.search(r"\(try (\d+)\)", arrow.label)
    again = retry is not None and retry.group(1) != "1"
    if arrow.kind == "timeout" and _WITNESS.search(arrow.label):
        return (f"The scanner asked port {port} once more and, right behind it, a port that rejects with an "
                "ICMP error. That error came back, so the target was still allowed to send errors: the "
                f"silence of port {port} is a drop, not an error its rate limit swallowed.")
    if arrow.kind == "timeout":
        return f"The scanner's timer runs out: {arrow.label}. It cannot tell yet whether the packet was dropped or lost."
    if arrow.kind == "call" and arrow.source == SCANNER and arrow.dest == TARGET:
        return (f"The scanner calls connect() for port {port}" + (" again" if again else "")
                + ": its kernel sends a SYN and reports back only how the attempt ended.")
    if arrow.kind == "syn":
        if again:
            return f"No answer yet, so the scanner sends the SYN again ({arrow.label[arrow.label.index('try'):-1]})."
        via = " (the kernel does it for connect())" if "connect()" in arrow.label else ""
        return f"The scanner sends a SYN{via}: it asks to open a connection to port {port}."
    if arrow.kind == "syn-ack":
        return (f"The target answers SYN/ACK: a program listens on port {port} and accepts the connection, "
                "so the port is open.")
    if arrow.kind == "rst" and arrow.source == TARGET:
        return (f"The target answers RST: nothing accepts connections on port {port} "
                "(no program listens, or a firewall resets), so the port is closed.")
    if arrow.kind == "rst":
        return "The scanner sends RST: it tears the connection down at once."
    if arrow.kind == "udp" and arrow.source == SCANNER:
        if again:
            return f"Still nothing, so the scanner sends the datagram again ({arrow.label[arrow.label.index('try'):-1]})."
        return (f"The scanner sends a UDP datagram to port {port}. UDP has no handshake: "
                "the only question is whether anything comes back.")
    if arrow.kind == "udp":
        return f"A UDP reply comes back: a service on port {port} answered, so the port is open."
    if arrow.kind == "icmp":
        code = re.search(r"code (\d+)", arrow.label)
        errno = re.search(r"\b(E[A-Z]+)\b", arrow.label)
        if errno and errno.group(1) == "ECONNREFUSED":
            return ("An ICMP port-unreachable comes back. The kernel turns it into ECONNREFUSED, the same error "
                    "a RST gives, so connect() cannot tell them apart: the port is called closed.")
        if errno:
            return (f"An ICMP destination-unreachable comes back ({arrow.label.split(' → ')[0]}); connect() sees "
                    f"only the error {errno.group(1)}: something refused the packet, so the port is filtered.")
        if code and code.group(1) == "3" and protocol == "udp":
            return ("An ICMP port-unreachable (type 3, code 3) comes back: the target's kernel says nothing "
                    f"listens on UDP port {port}, so it is closed.")
        return (f"An ICMP destination-unreachable comes back ({arrow.label}): a firewall or router refused "
                "the packet and said so, so the port is filtered" + (
                    " (a UDP scan would read code 3 as closed)" if code and code.group(1) == "3" else "") + ".")
    return f"The trace says: {arrow.label}."


# -- examples for `python -m portlab.course.figures` -----------------------------------

def gallery() -> dict[str, Chart]:
    """Sequence diagrams of real traces: simulated SYN, connect and UDP outcomes, and loopback."""
    import portlab
    charts: dict[str, Chart] = {}
    for scan_type, ports in (("syn", (22, 81, 9000, 9004)), ("connect", (22, 9001)), ("udp", (53, 54, 9000))):
        result = portlab.scan("10.77.0.2", ports=",".join(map(str, ports)), scan_type=scan_type,
                              scenario="single-host", keep_trace=True)
        for port in ports:
            charts[f"sim-{scan_type}-{port}"] = sequence_diagram(result, port)
    # Among many ICMP-answering ports, one waits for the target's ICMP rate limit: retries, then an answer.
    result = portlab.scan("10.77.0.2", ports="22,53,81,9000-9008", scan_type="udp", scenario="single-host",
                          keep_trace=True, randomize=False)
    slowest = max((p for p in result.hosts[0].ports if p.rtt is not None), key=lambda p: p.tries)
    charts["sim-udp-rate-limited"] = sequence_diagram(result, slowest.port)
    live = portlab.scan("127.0.0.1", ports="1", scan_type="connect", keep_trace=True)
    charts["loopback-connect-1"] = sequence_diagram(live, 1)
    from ..machine import machine
    if machine().raw_sockets:   # hand-built packets need root: shown where this machine allows them
        for scan_type in ("syn", "udp"):
            live = portlab.scan("127.0.0.1", ports="1", scan_type=scan_type, keep_trace=True)
            charts[f"loopback-{scan_type}-1"] = sequence_diagram(live, 1)
    return charts
