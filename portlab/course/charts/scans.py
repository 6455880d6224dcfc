"""Three ways side by side: one target under a connect, a SYN and a UDP scan.

A grid with one row per scan type and one column per port, each cell coloured by
the state that scan saw and labelled with its reason.  Read down a column to see
the same port (and the same firewall rule) look different to each scan: a rule
``reject`` is *closed* to connect(), *filtered* to a SYN scan and *closed* to UDP.

:func:`side_by_side_data` lines the results up (pure); :func:`side_by_side` draws
them; :func:`three_ways` runs the three simulated scans and draws them in one call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Union

from matplotlib.patches import Rectangle

from ...results import ScanResult
from ...states import ScanType
from ..theme import STATE_COLOURS, Chart, Theme, new_figure, text_on

ORDER = ("connect", "syn", "udp")
NAMES = {"connect": "TCP connect", "syn": "TCP SYN", "udp": "UDP"}
MAX_COLUMNS = 30


@dataclass
class SideBySide:
    """The grid: ``cells[scan][port] = (state, reason)``; a port a scan did not probe is absent."""

    host: str
    scans: list[str]                           # row order
    ports: list[int]                           # column order
    cells: dict[str, dict[int, tuple[str, str]]]
    services: dict[int, str]                   # port -> a service name any result gave it
    dropped: int = 0                           # ports left out (too many to show)

    def row(self, scan: str) -> list[Optional[tuple[str, str]]]:
        return [self.cells[scan].get(p) for p in self.ports]

    def differing(self, scans: Sequence[str] = ("connect", "syn")) -> list[int]:
        """Ports whose state differs between *scans* (by default the two TCP scans, which ask
        the same port; a UDP scan asks a different service that happens to share the number)."""
        out = []
        for p in self.ports:
            states = {self.cells[s][p][0] for s in scans if s in self.cells and p in self.cells[s]}
            if len(states) > 1:
                out.append(p)
        return out


def _as_mapping(results: Union[Mapping[str, ScanResult], Sequence[ScanResult]]) -> dict[str, ScanResult]:
    if isinstance(results, Mapping):
        return {str(ScanType(k).value): r for k, r in results.items() if r is not None}
    return {ScanType(r.scan_type).value: r for r in results if r is not None}


def side_by_side_data(results: Union[Mapping[str, ScanResult], Sequence[ScanResult]],
                      host: Optional[str] = None, ports: Optional[Sequence[int]] = None) -> SideBySide:
    """Line up the results per port.  *results*: ``{"connect": r1, "syn": r2, "udp": r3}`` or a list.

    *ports* defaults to every port a result lists; past MAX_COLUMNS only ports some scan
    did not call by its host's most common state are kept (the ones worth reading).
    """
    by_scan = _as_mapping(results)
    if not by_scan:
        raise ValueError("side by side needs at least one result")
    scans = [s for s in ORDER if s in by_scan]
    address = host
    cells: dict[str, dict[int, tuple[str, str]]] = {}
    services: dict[int, str] = {}
    for scan in scans:
        result = by_scan[scan]
        h = result.host(address) if address else result.hosts[0]
        address = address or h.address
        proto = ScanType(scan).protocol
        cells[scan] = {p.port: (p.state.value, p.reason) for p in h.ports if p.protocol == proto}
        for p in h.ports:
            if p.service and p.port not in services:
                services[p.port] = p.service
    if ports is None:
        chosen = sorted({p for row in cells.values() for p in row})
        if len(chosen) > MAX_COLUMNS:
            common = {}
            for scan, row in cells.items():
                states = [v[0] for v in row.values()]
                common[scan] = max(set(states), key=states.count) if states else None
            chosen = [p for p in chosen if any(p in cells[s] and cells[s][p][0] != common[s] for s in scans)]
    else:
        chosen = sorted(set(ports))
    dropped = max(0, len(chosen) - MAX_COLUMNS)
    return SideBySide(address or "", scans, chosen[:MAX_COLUMNS], cells, services, dropped)


def describe(data: SideBySide) -> str:
    """The text equivalent: per port, what each scan saw."""
    parts = []
    for p in data.ports:
        seen = [f"{NAMES[s]} {data.cells[s][p][0]} ({data.cells[s][p][1]})" for s in data.scans
                if p in data.cells[s]]
        parts.append(f"port {p}: " + ", ".join(seen))
    differ = data.differing() if {"connect", "syn"} <= set(data.scans) else []
    head = (f"The same host {data.host} scanned {len(data.scans)} ways ({', '.join(NAMES[s] for s in data.scans)}), "
            f"{len(data.ports)} ports. ")
    tail = ""
    if {"connect", "syn"} <= set(data.scans):
        tail = (f" TCP connect and TCP SYN disagree on {len(differ)} port{'s' if len(differ) != 1 else ''} "
                f"({', '.join(map(str, differ))})." if differ
                else " TCP connect and TCP SYN agree on every port.")
    more = f" {data.dropped} more ports are not shown." if data.dropped else ""
    return head + "; ".join(parts) + "." + tail + more


#: Characters of a service name that fit one column's width at the tick font size.
ROOM = 11
TICK_SIZE = 8.5


def service_label(name: str, room: int = ROOM) -> str:
    """A service name whole, for a column's label: past *room* characters it breaks after
    a hyphen ("ogs-\nserver"); a long name without one stays on its line (its label is set
    smaller instead, see :func:`tick_size`).  Never cut: "cslistener", not "cslisten…"."""
    if len(name) <= room:
        return name
    cut = name.rfind("-", 0, room)
    if cut <= 0:
        return name
    return name[:cut + 1] + "\n" + service_label(name[cut + 1:], room)


def tick_size(label: str, room: int = ROOM) -> float:
    """The font size for a column label: the usual size, smaller for a line longer than *room*."""
    longest = max((len(line) for line in label.splitlines()), default=0)
    return TICK_SIZE if longest <= room else TICK_SIZE * room / longest


def _draw(data: SideBySide, th: Theme, title: str):
    n = max(len(data.ports), 1)
    fig = new_figure(min(1.5 + 0.95 * n, 22), 1.6 + 0.85 * len(data.scans))
    ax = fig.add_subplot()
    for r, scan in enumerate(data.scans):
        for c, port in enumerate(data.ports):
            cell = data.cells[scan].get(port)
            if cell is None:
                ax.add_patch(Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, fill=False, edgecolor=th.muted,
                                       linestyle=":", linewidth=1))
                ax.text(c + 0.5, r + 0.5, "not\nscanned", ha="center", va="center", fontsize=7.5,
                        color=th.foreground)
                continue
            state, reason = cell
            fill = STATE_COLOURS[state]
            ax.add_patch(Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, color=fill))
            ink = text_on(fill)
            ax.text(c + 0.5, r + 0.4, state.replace("|", "|\n"), ha="center", va="center", fontsize=8.5,
                    fontweight="bold", color=ink, gid=f"on-fill:{fill}")
            ax.text(c + 0.5, r + 0.8, reason, ha="center", va="center", fontsize=6.8, color=ink,
                    gid=f"on-fill:{fill}")
    ax.set_xlim(0, n)
    ax.set_ylim(len(data.scans), 0)
    ax.set_yticks([r + 0.5 for r in range(len(data.scans))], [NAMES[s] for s in data.scans])
    labels = [f"{p}\n{service_label(data.services.get(p, ''))}" for p in data.ports]
    ax.set_xticks([c + 0.5 for c in range(len(data.ports))], labels, fontsize=TICK_SIZE)
    for tick, label in zip(ax.get_xticklabels(), labels):
        tick.set_fontsize(tick_size(label))
    ax.xaxis.tick_top()
    ax.tick_params(length=0)
    ax.spines[["left", "bottom", "top", "right"]].set_visible(False)
    ax.set_title(title)
    if data.dropped:
        ax.text(0, len(data.scans) + 0.15, f"{data.dropped} more ports not shown", va="top", fontsize=8.5)
    return fig


def side_by_side(connect: Optional[ScanResult] = None, syn: Optional[ScanResult] = None,
                 udp: Optional[ScanResult] = None, host: Optional[str] = None,
                 ports: Optional[Sequence[int]] = None, title: Optional[str] = None) -> Chart:
    """The grid for whichever of the three results are given."""
    data = side_by_side_data({"connect": connect, "syn": syn, "udp": udp}, host, ports)
    title = title or f"One host, three scans: {data.host}"
    return Chart(lambda th: _draw(data, th, title), describe(data), data, title)


def three_ways(target: str, ports: Union[str, Sequence[int]] = "22,53,80,81,9000-9008",
               scenario: str = "single-host", **scan_options) -> Chart:
    """Scan *target* of a simulated *scenario* with connect, SYN and UDP, and draw them side by side."""
    import portlab
    results = {kind: portlab.scan(target, ports=ports, scan_type=kind, scenario=scenario, **scan_options)
               for kind in ORDER}
    return side_by_side(**results, title=f"{target} in {scenario}: connect, SYN and UDP")


# -- examples for `python -m portlab.course.figures` -----------------------------------

def gallery() -> dict[str, Chart]:
    """The firewall table of single-host three ways; a recording; a web server."""
    from ...paths import DATA_DIR
    from ...results import load

    rec = DATA_DIR / "recordings" / "single-host"
    recorded = {kind: load(rec / f"{kind}.json") for kind in ORDER}
    return {
        "single-host-sim": three_ways("10.77.0.2", "22,53,80,81,9000-9008", scenario="single-host"),
        "single-host-recorded": side_by_side(**recorded, ports=[22, 53, 80, 81, *range(9000, 9009)],
                                             title="10.77.0.2, recorded in the live lab: connect, SYN and UDP"),
        "web-server-sim": three_ways("10.77.0.10", "22,53,80,443,3306,8080", scenario="web-server"),
    }
