"""Figures for the course notebooks.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot:
no global figure state, nothing to close, no GUI backend needed.  In Jupyter a
returned figure shows as an image (after ``%matplotlib inline``); elsewhere call
``fig.savefig("name.png")``.  The counting is done by small pure functions that
the figures call, so that a notebook can print the same numbers it plots.
"""

from __future__ import annotations

from collections import Counter
from typing import Optional

from matplotlib.figure import Figure

from ... import registry
from ...ranges import RANGES, PortRange, ephemeral_range

# One colour per meaning, used the same way in every figure of the course.
COLOURS = {
    "tcp": "#1f77b4", "udp": "#ff7f0e",
    "assigned": "#2a9d8f", "reserved": "#e9c46a", "unassigned": "#d9d9d9", registry.NO_ENTRY: "#ffffff",
    "system": "#264653", "user": "#2a9d8f", "dynamic": "#e76f51", "ephemeral": "#6d597a",
}
STATUS_ORDER = ("assigned", "reserved", "unassigned", registry.NO_ENTRY)


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


def port_ranges(ephemeral: Optional[tuple[int, int]] = None) -> Figure:
    """The 0-65535 line cut into RFC 6335's ranges, with this OS's ephemeral range below."""
    lo_e, hi_e = ephemeral or ephemeral_range()
    fig = Figure(figsize=(9, 2.6), layout="constrained")
    ax = fig.add_subplot()
    for rng in RANGES:
        ax.barh(1, rng.size, left=rng.lo, color=COLOURS[rng.key], edgecolor="black", height=0.6)
        ax.text((rng.lo + rng.hi) / 2 if rng.key != "system" else rng.hi + 400, 1.45,
                f"{rng.rfc6335_name}\n{rng.lo}-{rng.hi}", ha="center" if rng.key != "system" else "left",
                va="bottom", fontsize=8)
    ax.barh(0, hi_e - lo_e + 1, left=lo_e, color=COLOURS["ephemeral"], edgecolor="black", height=0.6)
    ax.text((lo_e + hi_e) / 2, 0, f"this OS's ephemeral ports {lo_e}-{hi_e}", ha="center", va="center",
            color="white", fontsize=8)
    ax.set_yticks([1, 0], ["IANA (RFC 6335)", "operating system"])
    ax.set_xlim(0, 65536)
    ax.set_ylim(-0.5, 2.3)
    ax.set_xlabel("port number")
    ax.set_title("One port space, two ways to divide it")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def assignments_per_range() -> Figure:
    """Assigned TCP and UDP ports per range: absolute numbers and share of the range."""
    counts = assigned_per_range()
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    width = 0.38
    for i, proto in enumerate(("tcp", "udp")):
        xs = [j + (i - 0.5) * width for j in range(len(RANGES))]
        values = [counts[rng.key][proto] for rng in RANGES]
        shares = [100 * v / rng.size for v, rng in zip(values, RANGES)]
        bars = left.bar(xs, values, width, label=proto.upper(), color=COLOURS[proto])
        left.bar_label(bars, fontsize=8)
        bars = right.bar(xs, shares, width, label=proto.upper(), color=COLOURS[proto])
        right.bar_label(bars, fmt="%.0f%%", fontsize=8)
    labels = [f"{rng.key}\n{rng.lo}-{rng.hi}" for rng in RANGES]
    for ax in (left, right):
        ax.set_xticks(range(len(RANGES)), labels)
        ax.spines[["top", "right"]].set_visible(False)
    left.set_ylabel("ports with an assigned service")
    left.set_title("How many ports are assigned")
    right.set_ylabel("% of the range's ports")
    right.set_title("...and what share of each range that is")
    right.set_ylim(0, 100)
    left.legend(frameon=False)
    return fig


def busiest_blocks(block: int = 1000, top: int = 10) -> Figure:
    """Assigned ports per block of ``block`` ports: the whole space, then the busiest blocks."""
    tcp, udp = assigned_per_block("tcp", block), assigned_per_block("udp", block)
    starts = [i * block for i in range(len(tcp))]
    fig = Figure(figsize=(10, 6.4), layout="constrained")
    overview, ranking = fig.subplots(2, 1, height_ratios=(1, 1.1))

    overview.bar(starts, tcp, width=block * 0.9, align="edge", color=COLOURS["tcp"], label="TCP")
    overview.step([s + block for s in starts], udp, where="pre", color=COLOURS["udp"], label="UDP")
    ceiling = block * 1.3
    for rng in RANGES:
        if rng.lo:
            overview.axvline(rng.lo, color="black", linestyle=":", linewidth=1)
        overview.text(max(rng.lo, 1) + 500 if rng.key != "user" else 12000, ceiling * 0.93,
                      f"{rng.key} ->" if rng.key != "system" else "<- system", fontsize=8, va="top")
    overview.set_xlim(0, 65536)
    overview.set_ylim(0, ceiling)
    overview.set_xlabel(f"port number (blocks of {block})")
    overview.set_ylabel(f"assigned ports\n(of {block} in the block)")
    overview.set_title("Where the assignments are: crowded below 10000, sparse above, none in the dynamic range")
    overview.legend(frameon=False, loc="upper right")

    busiest = sorted(range(len(tcp)), key=lambda i: (-(tcp[i] + udp[i]), i))[:top]
    labels = [f"{starts[i]}-{starts[i] + block - 1}" for i in busiest]
    ys = range(len(busiest))
    ranking.barh([y - 0.2 for y in ys], [tcp[i] for i in busiest], 0.4, color=COLOURS["tcp"], label="TCP")
    ranking.barh([y + 0.2 for y in ys], [udp[i] for i in busiest], 0.4, color=COLOURS["udp"], label="UDP")
    ranking.set_yticks(list(ys), labels)
    ranking.invert_yaxis()
    ranking.set_xlim(0, block)
    ranking.set_xlabel(f"assigned ports in the block (out of {block})")
    ranking.set_title(f"The {top} busiest blocks")
    for ax in (overview, ranking):
        ax.spines[["top", "right"]].set_visible(False)
    return fig


def registry_space(protocol: str = "tcp") -> Figure:
    """Each range as a 100% bar: assigned, reserved, unassigned, no row at all."""
    fig = Figure(figsize=(9, 3.0), layout="constrained")
    ax = fig.add_subplot()
    labels = {"assigned": "assigned", "reserved": "reserved", "unassigned": "unassigned",
              registry.NO_ENTRY: "no IANA row"}
    for y, rng in enumerate(reversed(RANGES)):
        share = status_share(protocol, rng)
        left = 0.0
        for status in STATUS_ORDER:
            pct = 100 * share[status] / rng.size
            ax.barh(y, pct, left=left, color=COLOURS[status], edgecolor="grey", linewidth=0.5,
                    label=labels[status] if y == 0 else None)
            if pct >= 6:
                ax.text(left + pct / 2, y, f"{pct:.0f}%", ha="center", va="center", fontsize=8)
            left += pct
    ax.set_yticks(range(len(RANGES)), [f"{r.key} {r.lo}-{r.hi}" for r in reversed(RANGES)])
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"% of the range's {protocol.upper()} ports")
    ax.set_title(f"How full is each range? ({protocol.upper()})")
    fig.legend(*ax.get_legend_handles_labels(), ncols=4, frameon=False, loc="outside lower center", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig
