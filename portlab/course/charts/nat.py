"""NAT, drawn: the translation table and what an outside scan sees.

A NAT router (network address translation) lets a whole home network share one
outside address.  When an inside machine opens a connection, the router writes a
*mapping* in its translation table: inside address:port <-> outside address:port,
and remembers which peer it talks to.  Answers from that peer come back through
the mapping; a packet nobody inside asked for finds no mapping and is dropped.
A *port forward* is a mapping written by hand: one outside port always leads to one
inside service, so anyone outside can reach it.

* :func:`mapping_rows` / :func:`nat_table`: the table as a diagram, one row per
  mapping (inside endpoint -> outside endpoint -> the peers it talks to).
* :func:`before_after` / :func:`nat_before_after`: a scan of the router's outside
  address before and after a change (a forward), from the simulator.
"""

from __future__ import annotations

from typing import Iterable, Optional, Sequence

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ...sim.experiments import nat_exposure, nat_table_after
from ...sim.nat import NatRow, NatTable
from ..theme import STATE_COLOURS, Chart, Theme, new_figure, text_on


# ---- the translation table ---------------------------------------------------------------

def _names(table) -> dict[str, str]:
    """Address -> machine name, when the table came from a simulated network."""
    net = getattr(table, "network", None)
    if net is None:
        return {}
    return {str(address): name for address, name in net.scenario.addresses().items()}


def mapping_rows(table, names: Optional[dict[str, str]] = None) -> list[dict]:
    """One dict per mapping of *table* (a :class:`NatTable` or its ``entries()``):
    ``protocol, inside, outside, peers`` (the remote endpoints it talks to, in order),
    ``kind`` (``dynamic``: opened from inside; ``forward``: a port forward someone
    outside used), ``inside_name`` (the inside machine, when known) and ``expires``
    (virtual seconds, the latest of its sessions)."""
    entries: Sequence[NatRow] = table.entries() if isinstance(table, NatTable) else list(table)
    names = names if names is not None else _names(table)
    rows: dict[tuple, dict] = {}
    for entry in entries:
        key = (entry.protocol, entry.inside, entry.outside, entry.kind)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {"protocol": entry.protocol, "inside": entry.inside, "outside": entry.outside,
                               "peers": [], "kind": entry.kind,
                               "inside_name": names.get(entry.inside.rpartition(":")[0], ""),
                               "expires": entry.expires}
        row["peers"].append(entry.remote)
        row["expires"] = max(row["expires"], entry.expires)
    return list(rows.values())


def _table_text(rows: list[dict], outside: str) -> str:
    if not rows:
        return (f"The NAT table of {outside} is empty: no inside machine has opened a connection, so "
                f"NAT has no row to translate a packet arriving at {outside} by.")
    parts = []
    for r in rows:
        who = f"{r['inside_name']} " if r["inside_name"] else ""
        peers = ", ".join(r["peers"])
        if r["kind"] == "forward":
            parts.append(f"{r['protocol']} port forward: {peers} reached {r['outside']}, "
                         f"which leads to {who}{r['inside']}")
        else:
            parts.append(f"{r['protocol']} {who}{r['inside']} goes out as {r['outside']} to {peers}")
    return (f"The NAT table of {outside} has {len(rows)} mapping{'s' if len(rows) != 1 else ''}: "
            + "; ".join(parts) + ".")


def nat_table(table, *, names: Optional[dict[str, str]] = None, title: Optional[str] = None) -> Chart:
    """The translation table as a diagram: one row per mapping, inside endpoint ->
    outside endpoint -> peers (arrows point the way the first packet went: outwards for
    a connection opened inside, inwards for a port forward)."""
    rows = mapping_rows(table, names)
    outside = getattr(table, "outside_address", None) or (rows[0]["outside"].rpartition(":")[0] if rows else "")
    behaviour = ""
    if isinstance(table, NatTable):
        behaviour = f" ({table.mapping} mapping, {table.filtering} filtering)"
    title = title or f"NAT table of {outside}{behaviour}"

    def build(th: Theme):
        n = max(len(rows), 1)
        fig = new_figure(10.0, 1.3 + 0.7 * n)
        ax = fig.add_subplot()
        ax.set_xlim(-0.1, 3.1)
        ax.set_ylim(n - 0.4, -0.95)
        ax.axis("off")
        columns = ((0.5, "inside endpoint"), (1.55, f"outside endpoint (router {outside})"),
                   (2.6, "peer on the outside"))
        for x, text in columns:
            ax.text(x, -0.7, text, ha="center", va="center", fontsize=10, fontweight="bold", color=th.foreground)
        if not rows:
            ax.text(1.55, 0, "empty: nothing inside has opened a connection", ha="center", va="center",
                    color=th.foreground, fontsize=10)
        for y, row in enumerate(rows):
            inside = f"{row['inside_name']} {row['inside']}" if row["inside_name"] else row["inside"]
            peers = row["peers"]
            peer_text = "\n".join(peers[:2]) + (f" (+{len(peers) - 2} more)" if len(peers) > 2 else "")
            boxes = ((0.5, inside), (1.55, row["outside"]), (2.6, peer_text))
            for x, text in boxes:
                ax.add_patch(FancyBboxPatch((x - 0.42, y - 0.28), 0.84, 0.56, boxstyle="round,pad=0,rounding_size=0.08",
                                            facecolor="none", edgecolor=th.foreground, linewidth=1.0,
                                            gid=f"mapping:{y}"))
                ax.text(x, y, text, ha="center", va="center", fontsize=9.5, color=th.foreground)
            inwards = row["kind"] == "forward"
            for a, b in ((0.92, 1.13), (1.97, 2.18)):
                start, end = (b, a) if inwards else (a, b)
                ax.add_patch(FancyArrowPatch((start, y), (end, y), arrowstyle="-|>", mutation_scale=14,
                                             color=th.foreground, linewidth=1.4))
            tag = f"{row['protocol']}, port forward" if inwards else f"{row['protocol']}"
            ax.text(1.03, y - 0.36, tag, ha="center", va="bottom", fontsize=8.5, color=th.foreground)
        ax.set_title(title, loc="left")
        return fig

    return Chart(build, _table_text(rows, outside), rows, title)


# ---- before and after a forward -------------------------------------------------------------

def before_after(before="home-nat", after="home-nat-forward", *, forwards: Optional[Iterable] = None,
                 ports=None, scan_type: str = "syn") -> dict:
    """A scan of the NAT router's outside address in scenario *before* and in *after*
    (or *before* with *forwards* added), from :func:`portlab.sim.experiments.nat_exposure`.

    Returns ``{"target", "scan_type", "rows", "others", "scanned"}``: *rows* the ports
    that are open on either side or changed (``port, before, before_reason, after,
    after_reason, changed, leads_to``), *others* how many other ports were scanned and
    the states they had (``{"count", "before", "after"}`` with the most common state
    each side), *scanned* how many ports the scan had in all (rows + others).
    """
    frame = nat_exposure(before, None if forwards is not None else after, forwards=forwards,
                         ports=ports, scan_type=scan_type, everything=True)
    records = frame.to_dict("records")
    shown = [r for r in records if r["changed"] or "open" in (r["before"], r["after"])]
    rest = [r for r in records if r not in shown]

    def common(key: str) -> str:
        from collections import Counter
        if not rest:
            return ""
        (state, reason), _ = Counter((r[key], r[key + "_reason"]) for r in rest).most_common(1)[0]
        return f"{state} ({reason})"

    rows = [{k: r[k] for k in ("port", "protocol", "before", "before_reason", "after", "after_reason",
                                "changed", "leads_to")} for r in shown]
    return {"target": records[0]["target"] if records else "", "scan_type": scan_type, "rows": rows,
            "others": {"count": len(rest), "before": common("before"), "after": common("after")},
            "scanned": len(records)}


def nat_before_after(before="home-nat", after="home-nat-forward", *, forwards: Optional[Iterable] = None,
                     ports=None, scan_type: str = "syn", title: Optional[str] = None) -> Chart:
    """What a scan from outside finds on the router's outside address, before and after
    (a port forward, usually): the ports that differ or are open, then the rest in one line."""
    data = before_after(before, after, forwards=forwards, ports=ports, scan_type=scan_type)
    rows, others = data["rows"], data["others"]
    title = title or (f"A {scan_type.upper()} scan of {data['target']} ({data['scanned']} ports) "
                      "from outside, before and after")

    def build(th: Theme):
        n = len(rows) + (1 if others["count"] else 0)
        fig = new_figure(8.0, 1.4 + 0.55 * max(n, 1))
        ax = fig.add_subplot()
        ax.set_xlim(-0.6, 3.7)
        ax.set_ylim(max(n, 1) - 0.5, -1.0)
        ax.axis("off")
        for x, text in ((0.9, "before"), (1.9, "after")):
            ax.text(x, -0.75, text, ha="center", va="center", fontsize=10.5, fontweight="bold",
                    color=th.foreground)
        ax.text(2.5, -0.75, "leads to (inside)", ha="left", va="center", fontsize=10.5, fontweight="bold",
                color=th.foreground)
        for y, row in enumerate(rows):
            ax.text(-0.55, y, f"{row['protocol']} {row['port']}", ha="left", va="center", fontsize=10,
                    color=th.foreground)
            for x, side in ((0.9, "before"), (1.9, "after")):
                fill = STATE_COLOURS[row[side]]
                ax.add_patch(Rectangle((x - 0.45, y - 0.38), 0.9, 0.76, facecolor=fill,
                                       edgecolor=th.foreground if row["changed"] else "none", linewidth=1.5,
                                       gid=f"{side}:{row['port']}:{row[side]}"))
                ax.text(x, y, f"{row[side]}\n{row[side + '_reason']}", ha="center", va="center", fontsize=8.5,
                        color=text_on(fill), gid=f"on:{fill}")
            if row["leads_to"]:
                ax.text(2.5, y, f"\u2192 {row['leads_to']}", ha="left", va="center", fontsize=10,
                        color=th.foreground)
        if others["count"]:
            y = len(rows)
            same = others["before"] == others["after"]
            what = (f"the other {others['count']} ports: {others['before']}"
                    + ("" if same else f" before, {others['after']} after"))
            ax.text(-0.55, y, what, ha="left", va="center", fontsize=10, color=th.foreground)
        ax.set_title(title, loc="left")
        return fig

    parts = []
    for r in rows:
        change = "changed" if r["changed"] else "unchanged"
        lead = f", leading to {r['leads_to']}" if r["leads_to"] else ""
        parts.append(f"{r['protocol']} {r['port']} was {r['before']} ({r['before_reason']}) and is "
                     f"{r['after']} ({r['after_reason']}), {change}{lead}")
    text = (f"{scan_type.upper()} scan of the NAT router's outside address {data['target']} from outside, "
            f"{data['scanned']} ports. "
            + ("; ".join(parts) + ". " if parts else "No port is open or changed. ")
            + (f"The other {others['count']} of the {data['scanned']} ports scanned: {others['before']} before, "
               f"{others['after']} after." if others["count"] else ""))
    return Chart(build, text, data, title)


def gallery() -> dict[str, Chart]:
    """NAT charts from the shipped home-nat scenarios (``make figures`` renders them)."""
    connections = [("laptop", "203.0.113.10", 443, "tcp", 50000),
                   ("laptop", "198.51.100.7", 443, "tcp", 50000),
                   ("nas", "203.0.113.53", 53, "udp", 41000),
                   ("printer", "203.0.113.10", 443, "tcp", 50000)]
    from ..widgets.nat_explorer import NatLab   # the explorer's logic, no widgets involved
    forwarded = NatLab("home-nat-forward")
    forwarded.open("laptop", "203.0.113.10", 443, "tcp", 50000)
    forwarded.connect_from_outside(8080)
    return {
        "table-home": nat_table(nat_table_after("home-nat", connections)),
        "table-forward-used": nat_table(forwarded.table(),
                                            title="NAT table of 10.77.0.2: a connection out, and one in "
                                                  "through the port forward"),
        "before-after-forward": nat_before_after("home-nat", "home-nat-forward"),
    }
