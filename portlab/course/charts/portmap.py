"""The port map: what one scan found across the whole port space, 0 to 65535.

A full-range scan is 65535 verdicts, almost all of them the same (closed, or
filtered behind a default-deny firewall).  The map shows both halves of that
story: a strip of the whole space, cut into bins of 256 ports and coloured by the
share of each state in the bin, so a learner sees *where* the scan looked; and a
zoom strip on the few ports that matter, the ones whose state differs from the
host's most common one, each labelled with its number and service.

:func:`portmap_data` does the counting (pure, no drawing); :func:`port_map` draws it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.patches import Rectangle

from ...results import STATE_ORDER, HostResult, ScanResult
from ...states import ScanType
from ..theme import STATE_COLOURS, Chart, Theme, new_figure, text_on

BIN_SIZE = 256                 # 65536 / 256 = 256 bins: one bin is a few pixels wide
ZOOM_MAX = 40                  # cells in the zoom strip; more would not be readable
TEXT_LIST_MAX = 8              # ports named per state in the text equivalent
UNSCANNED = "not scanned"
# RFC 6335's ranges: (first port, last port, name), marked on the strip.
RANGES = ((0, 1023, "system"), (1024, 49151, "user"), (49152, 65535, "dynamic"))
SCAN_NAMES = {"connect": "Connect", "syn": "SYN", "udp": "UDP"}


@dataclass
class PortMapData:
    """The numbers the port map plots, for one host and one protocol."""

    host: str
    protocol: str
    counts: dict[str, int]                 # state -> ports, extraports included (nmap's order)
    default_state: Optional[str]           # the most common state: the one the map does not list
    interesting: list[tuple[int, str, str, Optional[str]]]   # (port, state, reason, service), by port
    bins: list[dict[str, int]]             # bin i covers i*BIN_SIZE ..: state -> ports in it
    unplaced: dict[str, int] = field(default_factory=dict)   # state -> ports the file counts but does not name

    @property
    def scanned(self) -> int:
        return sum(self.counts.values())


def _pick_host(result: ScanResult, host: Optional[str]) -> HostResult:
    if host is not None:
        return result.host(host)
    if not result.hosts:
        raise ValueError("this result has no hosts: nothing to map")
    return result.hosts[0]


def _protocol(result: ScanResult, protocol: Optional[str]) -> str:
    return protocol or ScanType(result.scan_type).protocol


def portmap_data(result: ScanResult, host: Optional[str] = None,
                 protocol: Optional[str] = None) -> PortMapData:
    """Count one host's ports by state, per bin of the port space, and pick the interesting ones.

    *host* defaults to the first host, *protocol* to the scan's (tcp for connect/SYN,
    udp for UDP).  Ports a recording folds into ``extraports`` count as well; where
    the file names them they are placed in their bins, else they are ``unplaced``.
    """
    h = _pick_host(result, host)
    proto = _protocol(result, protocol)
    n_bins = 65536 // BIN_SIZE
    bins: list[Counter[str]] = [Counter() for _ in range(n_bins)]
    tally: Counter[str] = Counter()
    unplaced: Counter[str] = Counter()
    ports = [p for p in h.ports if p.protocol == proto]
    for p in ports:
        state = str(p.state.value if hasattr(p.state, "value") else p.state)
        tally[state] += 1
        bins[p.port // BIN_SIZE][state] += 1
    for extra in h.extraports:
        if extra.protocol != proto:
            continue
        state = str(extra.state.value if hasattr(extra.state, "value") else extra.state)
        tally[state] += extra.count
        if extra.ports:
            for number in extra.ports:
                bins[number // BIN_SIZE][state] += 1
            unplaced[state] += extra.count - len(extra.ports)
        else:
            unplaced[state] += extra.count
    counts = {s: tally[s] for s in STATE_ORDER if tally[s]}
    # Ties go to the state nmap lists first, so the choice does not depend on dict order.
    default = max(counts, key=lambda s: (counts[s], -STATE_ORDER.index(s))) if counts else None
    interesting = sorted((p.port, str(p.state.value), p.reason, p.service)
                         for p in ports if p.state != default)
    return PortMapData(h.address, proto, counts, default, interesting,
                       [dict(b) for b in bins], {s: n for s, n in unplaced.items() if n})


def _port_list(items: list[tuple[int, str, str, Optional[str]]]) -> str:
    named = [f"{port} {service}" if service else str(port) for port, _s, _r, service in items[:TEXT_LIST_MAX]]
    more = f" and {len(items) - TEXT_LIST_MAX} more" if len(items) > TEXT_LIST_MAX else ""
    return ", ".join(named) + more


def describe(data: PortMapData) -> str:
    """The text equivalent: how many ports in each state, which ones, and the rest."""
    if not data.counts:
        return f"The scan recorded no {data.protocol.upper()} ports on {data.host}."
    parts = []
    for state, n in data.counts.items():
        if state == data.default_state:
            continue
        listed = [item for item in data.interesting if item[1] == state]
        verb = "is" if n == 1 else "are"
        parts.append(f"{n} {verb} {state} ({_port_list(listed)})" if listed else f"{n} {verb} {state}")
    total = data.scanned
    head = f"Of {total} {data.protocol.upper()} port{'s' if total != 1 else ''} scanned on {data.host}, "
    rest = data.counts.get(data.default_state, 0)
    if not parts:
        return head + f"all are {data.default_state}."
    tail = f"the rest ({rest}) {data.default_state}"
    text = head + ", ".join(parts) + f", {tail}."
    if total < 65535:
        text += f" The other {65535 - total} ports were not scanned."
    if data.unplaced:
        text += (" The file gives only the count of "
                 + ", ".join(f"{n} {s}" for s, n in data.unplaced.items())
                 + " ports, not their numbers, so the map cannot place them.")
    return text


def _draw(data: PortMapData, th: Theme, title: str):
    fig = new_figure(10, 4.4)
    strip, zoom = fig.subplots(2, 1, height_ratios=(1.25, 1))
    unscanned_colour = th.muted

    # -- the whole space: each bin a column, its height split by the share of each state.
    # One image (a column of pixels per bin) rather than 256 x 7 bars: as many patches take seconds to draw.
    rows = 100
    image = np.zeros((rows, len(data.bins), 4))
    shown_states = [s for s in STATE_ORDER if s in data.counts]
    for col, b in enumerate(data.bins):
        filled = 0
        for state in shown_states:
            n = round(rows * b.get(state, 0) / BIN_SIZE)
            if b.get(state, 0) and n == 0:
                n = 1   # a state present in a bin keeps at least one pixel row
            image[filled:filled + n, col] = to_rgba(STATE_COLOURS[state])
            filled += n
        image[min(filled, rows):, col] = to_rgba(unscanned_colour)
    strip.imshow(image, extent=(0, 65536, 0, 1), origin="lower", aspect="auto", interpolation="nearest")
    legend_states = shown_states + ([UNSCANNED] if data.scanned < 65535 else [])
    for state in legend_states:
        strip.add_patch(Rectangle((0, 0), 0, 0, color=STATE_COLOURS.get(state, unscanned_colour), label=state))
    # A tick above the strip for every interesting port: one port is too thin to see in a bin.
    for port, state, _reason, _service in data.interesting:
        strip.plot([port, port], [1.08, 1.45], color=STATE_COLOURS[state], linewidth=1.6,
                   solid_capstyle="butt")
    for lo, hi, name in RANGES:
        if lo:
            strip.axvline(lo, ymin=0, ymax=0.8, color=th.foreground, linewidth=0.8, linestyle=":")
        # The system range is 1/64 of the axis: its name starts there instead of centring.
        x, ha = (lo, "left") if name == "system" else ((lo + hi) / 2, "center")
        strip.text(x, 1.58, f"{name} {lo}-{hi}", fontsize=8.5, color=th.foreground, va="bottom", ha=ha)
    strip.set_xlim(0, 65536)
    strip.set_ylim(0, 1.9)
    strip.set_yticks([0.5, 1.26], ["share of bin", "ports that\nmatter"])
    strip.set_xticks([0, 16384, 32768, 49152, 65535])
    strip.set_xlabel(f"port number (each column: {BIN_SIZE} ports)")
    strip.spines[["left"]].set_visible(False)
    strip.tick_params(axis="y", length=0)
    strip.set_title(title)
    handles, labels = strip.get_legend_handles_labels()
    strip.legend(handles, labels, ncols=len(labels), loc="upper right", frameon=False,
                 bbox_to_anchor=(1.0, 1.32), fontsize=8.5, handlelength=1.2, columnspacing=1.0)

    # -- the zoom strip: one cell per interesting port, labelled.
    shown = data.interesting[:ZOOM_MAX]
    zoom.set_axis_off()
    if not shown:
        zoom.text(0.5, 0.5, f"Every scanned port is {data.default_state}: nothing to zoom in on.",
                  ha="center", va="center", transform=zoom.transAxes, color=th.foreground)
        return fig
    vertical = len(shown) > 12
    # A cell is about 900/n pixels wide: long service names are cut (the text equivalent has them whole).
    room = 14 if vertical else max(5, int(900 / max(len(shown), 8) / 8))
    for i, (port, state, _reason, service) in enumerate(shown):
        fill = STATE_COLOURS[state]
        zoom.add_patch(Rectangle((i + 0.05, 0), 0.9, 1, color=fill))
        if service and len(service) > room:
            service = service[:room - 1] + "…"
        label = f"{port} {service}" if vertical and service else f"{port}\n{service}" if service else str(port)
        # gid names the fill behind the label, so a contrast check knows what the text sits on.
        zoom.text(i + 0.5, 0.5, label, ha="center", va="center", color=text_on(fill), gid=f"on-fill:{fill}",
                  fontsize=8 if vertical else 9, rotation=90 if vertical else 0)
    zoom.set_xlim(0, max(len(shown), 8))
    zoom.set_ylim(-0.35, 1.05)
    more = len(data.interesting) - len(shown)
    rest = data.counts.get(data.default_state, 0)
    caption = (f"Zoom: the {len(data.interesting)} ports not {data.default_state}"
               + (f" (first {len(shown)} shown)" if more else "")
               + f"; the other {rest} scanned ports are {data.default_state}")
    zoom.text(0, -0.12, caption, ha="left", va="top", fontsize=9, color=th.foreground)
    return fig


def port_map(result: ScanResult, host: Optional[str] = None, protocol: Optional[str] = None,
             title: Optional[str] = None) -> Chart:
    """The port map of one host of *result* (the first, unless *host* names one)."""
    data = portmap_data(result, host, protocol)
    title = title or (f"{SCAN_NAMES[ScanType(result.scan_type).value]} scan of {data.host}: "
                      f"{data.scanned} {data.protocol.upper()} ports")
    return Chart(lambda th: _draw(data, th, title), describe(data), data, title)


# -- examples for `python -m portlab.course.figures` -----------------------------------

def gallery() -> dict[str, Chart]:
    """Port maps of real results: full-range simulated scans, a recording, live loopback."""
    import portlab
    from ...paths import DATA_DIR
    from ...results import load

    charts = {
        "single-host-syn-all": port_map(portlab.scan("10.77.0.2", ports="-", scan_type="syn",
                                                     scenario="single-host", keep_trace=False)),
        "web-server-connect-1-1024": port_map(portlab.scan("10.77.0.10", ports="1-1024", scan_type="connect",
                                                           scenario="web-server", keep_trace=False)),
        "recording-single-host-udp": port_map(load(DATA_DIR / "recordings" / "single-host" / "udp.json")),
    }
    charts["loopback-connect-all"] = port_map(portlab.scan("127.0.0.1", ports="-", keep_trace=False))
    return charts
