"""Notebook 01's charts: the port space, its ranges, and what IANA's registry holds.

Every chart function returns a :class:`portlab.course.theme.Chart` (a light and a
dark figure, the numbers plotted, and a text equivalent).  The counting is done by
small pure functions beside the charts, so a notebook can print what it plots.

Colours say one thing each: a colour is an RFC 6335 *range* (system, user,
dynamic) or this OS's *ephemeral* range, and nothing else.  What varies inside a
range is drawn with fill patterns, never with another colour: UDP bars are hatched
beside solid TCP bars, and a port's registry status is solid (assigned), hatched
(reserved), a tint mixed with the page's background (listed as unassigned) or an empty outline
(no row at all).
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

import matplotlib.colors
from matplotlib.patches import Patch

from ... import registry
from ...ranges import RANGES, PortRange, ephemeral_range
from ..theme import Chart, Theme, new_figure, text_on

#: The three RFC 6335 ranges and the OS's ephemeral range: one colour each, used for
#: nothing else in the course (Paul Tol's light/muted palettes; colour-blind safe, and
#: mid-bright so that they read on a white page and on a dark one).
RANGE_COLOURS = {"system": "#88CCEE", "user": "#BBCC33", "dynamic": "#CC6677"}
EPHEMERAL_COLOUR = "#FFAABB"

#: Registry status -> how its part of a bar is drawn (same colour, other pattern).
STATUS_ORDER = ("assigned", "reserved", "unassigned", registry.NO_ENTRY)
STATUS_LABELS = {"assigned": "assigned to a service", "reserved": "reserved by IANA",
                 "unassigned": "listed as unassigned", registry.NO_ENTRY: "no IANA row (see text)"}
PROTOCOL_HATCH = {"tcp": "", "udp": "//"}

#: How strong the "listed as unassigned" tint is, per theme: paler than a solid fill, yet
#: on the dark page still 3:1 against the background (WCAG's minimum for a graphic),
#: where a 30% tint of a mid-bright colour all but disappears into the near-black.
TINT = {"light": 0.3, "dark": 0.55}
#: The neutral fill of the status legend's swatches (the bars carry the range colours).
SWATCH = {"light": "#b0b0b0", "dark": "#b8b8b8"}

LABEL_SIZE = 10  # no label below this: readable at the notebook's width


# ---- the numbers -------------------------------------------------------------------

def assigned_per_range(protocols: tuple[str, ...] = ("tcp", "udp")) -> dict[str, dict[str, int]]:
    """``{range key: {protocol: number of ports with an assigned service}}``."""
    counts: dict[str, dict[str, int]] = {rng.key: {} for rng in RANGES}
    for proto in protocols:
        status = registry.port_status(proto)
        for rng in RANGES:
            counts[rng.key][proto] = sum(1 for s in status[rng.lo:rng.hi + 1] if s == "assigned")
    return counts


def assigned_per_block(protocol: str, block: int = 1000) -> list[int]:
    """Assigned ports in each block of ``block`` ports: index i covers i*block .. (i+1)*block-1."""
    status = registry.port_status(protocol)
    counts = [0] * (len(status) // block + (1 if len(status) % block else 0))
    for port, s in enumerate(status):
        if s == "assigned":
            counts[port // block] += 1
    return counts


def status_share(protocol: str, rng: PortRange) -> dict[str, int]:
    """How many ports of ``rng`` are assigned / reserved / unassigned / without a row."""
    found = Counter(registry.port_status(protocol)[rng.lo:rng.hi + 1])
    return {s: found.get(s, 0) for s in STATUS_ORDER}


def busiest(block: int = 1000, top: int = 10) -> list[dict[str, int]]:
    """The ``top`` blocks with the most assigned TCP+UDP ports, busiest first."""
    tcp, udp = assigned_per_block("tcp", block), assigned_per_block("udp", block)
    order = sorted(range(len(tcp)), key=lambda i: (-(tcp[i] + udp[i]), i))[:top]
    return [{"first": i * block, "last": min(i * block + block - 1, 65535), "tcp": tcp[i], "udp": udp[i]}
            for i in order]


def _range_of(port: int) -> PortRange:
    return next(rng for rng in RANGES if rng.lo <= port <= rng.hi)


def _style(th: Theme, ax) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=LABEL_SIZE)


def tinted(colour: str, th: Theme) -> tuple[float, float, float]:
    """*colour* as a tint: mixed with the theme's background by :data:`TINT` (an opaque colour,
    so the swatch, the bar and a contrast check all see the same thing)."""
    share = TINT[th.name]
    fg, bg = matplotlib.colors.to_rgb(colour), matplotlib.colors.to_rgb(th.background)
    return tuple(share * f + (1 - share) * b for f, b in zip(fg, bg))


def status_swatches(th: Theme) -> list[Patch]:
    """The legend's four swatches, one per registry status (same fill, other pattern)."""
    grey = SWATCH[th.name]
    return [Patch(facecolor=grey, edgecolor=th.foreground, label=STATUS_LABELS["assigned"]),
            Patch(facecolor=grey, edgecolor=th.foreground, hatch="xx", label=STATUS_LABELS["reserved"]),
            Patch(facecolor=tinted(grey, th), edgecolor=th.foreground, label=STATUS_LABELS["unassigned"]),
            Patch(fill=False, edgecolor=th.muted, linestyle="--", label=STATUS_LABELS[registry.NO_ENTRY])]


def _protocol_legend(th: Theme) -> list[Patch]:
    return [Patch(facecolor=th.muted, edgecolor=th.foreground, hatch=PROTOCOL_HATCH[p], label=p.upper())
            for p in ("tcp", "udp")]


# ---- the charts --------------------------------------------------------------------

def port_ranges(ephemeral: Optional[tuple[int, int]] = None) -> Chart:
    """The 0-65535 line cut into RFC 6335's ranges, with this OS's ephemeral range below."""
    lo_e, hi_e = ephemeral or ephemeral_range()
    data = {"ranges": [{"key": r.key, "name": r.rfc6335_name, "older_name": r.older_name, "first": r.lo,
                        "last": r.hi} for r in RANGES],
            "ephemeral": {"first": lo_e, "last": hi_e}}

    def build(th: Theme):
        fig = new_figure(9.5, 3.2)
        ax = fig.add_subplot()
        for rng in RANGES:
            colour = RANGE_COLOURS[rng.key]
            ax.barh(1, rng.size, left=rng.lo, color=colour, edgecolor=th.foreground, linewidth=0.8, height=0.7)
            label = f"{rng.rfc6335_name}\n{rng.lo}-{rng.hi}"
            if rng.key == "system":  # 1024 ports are too thin to hold their label
                ax.annotate(label, (rng.hi, 1.3), xytext=(rng.hi + 1500, 1.55), fontsize=LABEL_SIZE,
                            va="bottom", ha="left", arrowprops={"arrowstyle": "-", "color": th.foreground})
            else:
                ax.text((rng.lo + rng.hi) / 2, 1, label, ha="center", va="center", fontsize=LABEL_SIZE,
                        color=text_on(colour))
        ax.barh(0, hi_e - lo_e + 1, left=lo_e, color=EPHEMERAL_COLOUR, edgecolor=th.foreground,
                linewidth=0.8, height=0.7)
        ax.text((lo_e + hi_e) / 2, 0, f"this OS's ephemeral ports\n{lo_e}-{hi_e}", ha="center", va="center",
                fontsize=LABEL_SIZE, color=text_on(EPHEMERAL_COLOUR))
        ax.set_yticks([1, 0], ["IANA (RFC 6335)", "this operating system"])
        ax.set_xlim(0, 65536)
        ax.set_ylim(-0.5, 2.2)
        ax.set_xticks([0, 16384, 32768, 49152, 65535])
        ax.set_xlabel("port number")
        ax.set_title("One port space, two ways to divide it")
        _style(th, ax)
        return fig

    overlap = max(0, min(hi_e, 49151) - max(lo_e, 1024) + 1)
    text = (f"A horizontal line of port numbers from 0 to 65535. The top bar shows IANA's three ranges: "
            f"System Ports 0-1023, User Ports 1024-49151 and Dynamic Ports 49152-65535 "
            f"(also known as the private or ephemeral ports). The bottom bar shows the range this operating system picks "
            f"client ports from, {lo_e}-{hi_e}"
            + (f", of which {overlap} ports lie in IANA's user range." if overlap else ", inside IANA's dynamic range."))
    return Chart(build, text, data, "port ranges")


def assignments_per_range() -> Chart:
    """Assigned TCP and UDP ports per range: absolute numbers and share of the range."""
    counts = assigned_per_range()

    def build(th: Theme):
        fig = new_figure(9.5, 3.9)
        left, right = fig.subplots(1, 2)
        width = 0.38
        for i, proto in enumerate(("tcp", "udp")):
            xs = [j + (i - 0.5) * width for j in range(len(RANGES))]
            values = [counts[rng.key][proto] for rng in RANGES]
            shares = [100 * v / rng.size for v, rng in zip(values, RANGES)]
            colours = [RANGE_COLOURS[rng.key] for rng in RANGES]
            for ax, ys, fmt in ((left, values, "%d"), (right, shares, "%.0f%%")):
                bars = ax.bar(xs, ys, width, color=colours, edgecolor=th.foreground, linewidth=0.8,
                              hatch=PROTOCOL_HATCH[proto])
                ax.bar_label(bars, fmt=fmt, fontsize=LABEL_SIZE, padding=2)
        labels = [f"{rng.key}\n{rng.lo}-{rng.hi}" for rng in RANGES]
        for ax in (left, right):
            ax.set_xticks(range(len(RANGES)), labels)
            _style(th, ax)
        left.set_ylabel("ports with an assigned service")
        left.set_title("How many ports are assigned")
        left.set_ylim(0, max(counts["user"].values()) * 1.15)
        right.set_ylabel("% of the range's ports")
        right.set_title("...and what share of each range that is")
        right.set_ylim(0, 100)
        left.legend(handles=_protocol_legend(th), frameon=False, fontsize=LABEL_SIZE, loc="upper left")
        return fig

    parts = []
    for rng in RANGES:
        tcp, udp = counts[rng.key]["tcp"], counts[rng.key]["udp"]
        parts.append(f"{rng.key} ports {rng.lo}-{rng.hi}: {tcp} TCP ({100 * tcp / rng.size:.0f}%) and "
                     f"{udp} UDP ({100 * udp / rng.size:.0f}%)")
    text = ("Two bar charts of ports with an assigned service, TCP bars solid and UDP bars hatched, "
            "coloured by range. " + "; ".join(parts) + ".")
    return Chart(build, text, counts, "assignments per range")


def busiest_blocks(block: int = 1000, top: int = 10) -> Chart:
    """Assigned ports per block of ``block`` ports: the whole space, then the busiest blocks."""
    tcp, udp = assigned_per_block("tcp", block), assigned_per_block("udp", block)
    ranking = busiest(block, top)
    data = {"block": block, "tcp": tcp, "udp": udp, "busiest": ranking}

    def build(th: Theme):
        fig = new_figure(10, 6.8)
        overview, ranked = fig.subplots(2, 1, height_ratios=(1, 1.15))
        starts = [i * block for i in range(len(tcp))]
        colours = [RANGE_COLOURS[_range_of(min(s + block // 2, 65535)).key] for s in starts]  # the range most of the block is in
        overview.bar(starts, tcp, width=block * 0.9, align="edge", color=colours, label="TCP")
        overview.step([s + block for s in starts], udp, where="pre", color=th.foreground, linewidth=1.2,
                      label="UDP (line)")
        for rng in RANGES[1:]:
            overview.axvline(rng.lo, color=th.muted, linestyle=":", linewidth=1.2)
        overview.set_xlim(0, 65536)
        overview.set_ylim(0, block * 1.1)
        overview.set_xlabel(f"port number (blocks of {block})")
        overview.set_ylabel(f"assigned ports\n(of {block} in the block)")
        overview.set_title("Where the assignments are: crowded low, sparse above 10000, none in the dynamic range")
        handles = [Patch(color=RANGE_COLOURS[r.key], label=f"{r.key} range (TCP bars)") for r in RANGES]
        handles.append(overview.get_lines()[0])
        overview.legend(handles=handles, frameon=False, loc="upper right", fontsize=LABEL_SIZE)

        ys = range(len(ranking))
        bar_colours = [RANGE_COLOURS[_range_of(min(b["first"] + block // 2, 65535)).key] for b in ranking]
        for offset, proto in ((-0.2, "tcp"), (0.2, "udp")):
            bars = ranked.barh([y + offset for y in ys], [b[proto] for b in ranking], 0.4, color=bar_colours,
                               edgecolor=th.foreground, linewidth=0.6, hatch=PROTOCOL_HATCH[proto])
            ranked.bar_label(bars, fontsize=LABEL_SIZE - 1, padding=2)
        ranked.set_yticks(list(ys), [f"{b['first']}-{b['last']}" for b in ranking])
        ranked.invert_yaxis()
        ranked.set_xlim(0, block * 1.08)
        ranked.set_xlabel(f"assigned ports in the block (out of {block})")
        ranked.set_title(f"The {top} busiest blocks")
        ranked.legend(handles=_protocol_legend(th), frameon=False, fontsize=LABEL_SIZE, loc="lower right")
        for ax in (overview, ranked):
            _style(th, ax)
        return fig

    first = ranking[0]
    text = (f"Top: assigned ports in each block of {block}, from 0 to 65535; most assignments sit below "
            f"10000, few between 10000 and 49151, none from 49152 up. Bottom: the {top} busiest blocks; the "
            f"busiest is {first['first']}-{first['last']} with {first['tcp']} TCP and {first['udp']} UDP "
            f"assignments. " + ", ".join(f"{b['first']}-{b['last']}: {b['tcp']} TCP/{b['udp']} UDP"
                                         for b in ranking[1:]) + ".")
    return Chart(build, text, data, "busiest blocks")


def registry_space(protocol: str = "tcp") -> Chart:
    """Each range as a 100% bar split by registry status (assigned, reserved, unassigned, no row)."""
    shares = {rng.key: status_share(protocol, rng) for rng in RANGES}

    def draw(ax, th: Theme, y: float, left: float, width: float, colour: str, status: str) -> str:
        """Draw one status piece; return the colour its label text should have."""
        if status == "assigned":
            ax.barh(y, width, left=left, color=colour, edgecolor=th.foreground, linewidth=0.6)
            return text_on(colour)
        if status == "reserved":
            ax.barh(y, width, left=left, color=colour, edgecolor=th.foreground, linewidth=0.6, hatch="xx")
            return text_on(colour)  # its label sits on a solid patch of the fill (see build)
        if status == "unassigned":
            ax.barh(y, width, left=left, color=tinted(colour, th), edgecolor=th.foreground, linewidth=0.6)
            return text_on(matplotlib.colors.to_hex(tinted(colour, th)))
        ax.barh(y, width, left=left, fill=False, edgecolor=th.muted, linewidth=1.2, linestyle="--")
        return th.foreground

    def build(th: Theme):
        fig = new_figure(9.5, 3.4)
        ax = fig.add_subplot()
        order = list(reversed(RANGES))
        for y, rng in enumerate(order):
            left = 0.0
            for status in STATUS_ORDER:
                pct = 100 * shares[rng.key][status] / rng.size
                if pct <= 0:
                    continue
                ink = draw(ax, th, y, left, pct, RANGE_COLOURS[rng.key], status)
                # A label only where it fits: the words from 16% of the width, the number alone from 5%.
                word = status if status != registry.NO_ENTRY else "no row"
                if pct >= 5:
                    # The hatch would run through a label: give the label a patch of plain fill.
                    patch = ({"boxstyle": "square,pad=0.15", "facecolor": RANGE_COLOURS[rng.key], "linewidth": 0}
                             if status == "reserved" else None)
                    ax.text(left + pct / 2, y, f"{pct:.0f}% {word}" if pct >= 16 else f"{pct:.0f}%",
                            ha="center", va="center", fontsize=LABEL_SIZE, color=ink, bbox=patch)
                left += pct
        ax.set_yticks(range(len(order)), [f"{r.key}\n{r.lo}-{r.hi}" for r in order])
        ax.set_xlim(0, 100)
        ax.set_xlabel(f"% of the range's {protocol.upper()} ports")
        ax.set_title(f"How full is each range? ({protocol.upper()}; colour = range, pattern = status)")
        fig.legend(handles=status_swatches(th), ncols=4, frameon=False, loc="outside lower center",
                   fontsize=LABEL_SIZE)
        _style(th, ax)
        return fig

    parts = []
    for rng in RANGES:
        s = shares[rng.key]
        parts.append(f"{rng.key} {rng.lo}-{rng.hi}: " + ", ".join(
            f"{100 * s[k] / rng.size:.1f}% {STATUS_LABELS[k]}" for k in STATUS_ORDER if s[k]))
    text = (f"Three 100% bars, one per range, for {protocol.upper()}: " + "; ".join(parts) + ". "
            "'No IANA row' means the registry's file has no line for the port at all: IANA leaves the "
            "dynamic range 49152-65535 out entirely, since it never assigns there, and a few other ports "
            "are simply missing.")
    return Chart(build, text, shares, f"registry space {protocol}")


def gallery() -> dict[str, Chart]:
    """Every chart of this module, from the shipped IANA registry (``make figures`` renders them)."""
    return {
        "port-ranges": port_ranges((32768, 60999)),
        "assignments-per-range": assignments_per_range(),
        "busiest-blocks": busiest_blocks(),
        "registry-space-tcp": registry_space("tcp"),
    }
