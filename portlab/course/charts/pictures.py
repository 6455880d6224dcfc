"""Pictures that explain: three drawings the notebooks show before the numbers.

* :func:`port_building`: a host is a building with a street address, its ports are
  numbered doors, a program listens behind some of them; TCP and UDP are two
  separate sets of doors; a client knocks on one door (notebook 01).
* :func:`nat_topology`: the ``home-nat`` network, the router's translation table
  beside it, and two probes from outside, each stopped where the simulator stops
  it: one by NAT alone (no row for it), one only by the router's firewall rule
  (notebook 07).
* :func:`firewall_places`: where a host firewall, an AWS security group and an
  Azure network security group sit on a packet's way in (notebooks 05 and 06).

Each returns a :class:`~portlab.course.theme.Chart` like every chart of the course:
both themes, its data (``chart.data``) and a text equivalent (``chart.text``).
Colour is never the only cue: a filled door also says who listens, a stopped
probe says where and why in words, a filter box says what it is.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Optional, Sequence

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Polygon, Rectangle

from ...errors import BadInput
from ..theme import STATE_COLOURS, Chart, Theme, new_figure, text_on

#: A door with a program behind it has the colour of an open port; a filter (a firewall
#: of any kind) has the colour of what it makes of ports: filtered.
LISTENING = STATE_COLOURS["open"]
FILTER = STATE_COLOURS["filtered"]
LABEL = 10.0        # points: every label; the notebook shows a 9.5 in figure at ~900 px
SMALL = 9.5


def _box(ax, th: Theme, x: float, y: float, w: float, h: float, text: str = "", *, fill: Optional[str] = None,
         dashed: bool = False, size: float = LABEL, weight: str = "normal", gid: str = "", lw: float = 1.2,
         rounding: float = 0.12) -> None:
    """A box with its text centred; text on a fill takes the fill's readable colour."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=f"round,pad=0,rounding_size={rounding}",
                                facecolor=fill or "none", edgecolor=th.foreground, linewidth=lw,
                                linestyle="--" if dashed else "-", gid=gid or None))
    if text:
        colour = text_on(fill) if fill else th.foreground
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, fontweight=weight,
                color=colour, gid=f"on:{fill}" if fill else None, linespacing=1.25)


def _arrow(ax, th: Theme, start, end, *, dashed: bool = False, colour: Optional[str] = None, lw: float = 1.5,
           gid: str = "") -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=lw,
                                 color=colour or th.foreground, linestyle="--" if dashed else "-",
                                 shrinkA=0, shrinkB=0, gid=gid or None))


# ---- (a) the building and its doors ------------------------------------------------------

#: What the building of notebook 01 holds: port -> the program behind the door (None: nobody).
BUILDING_TCP: dict[int, Optional[str]] = {22: "SSH server", 25: "mail server", 53: None, 80: "web server",
                                          443: "web server"}
BUILDING_UDP: dict[int, Optional[str]] = {22: None, 53: "DNS server", 123: "time server"}


def building_data(address: str = "192.0.2.10", tcp: Optional[dict] = None, udp: Optional[dict] = None,
                  knock: tuple[int, str] = (443, "tcp"), client: tuple[str, int] = ("198.51.100.7", 50312)) -> dict:
    """The building as data: ``address``, ``doors`` (one dict per door: ``protocol, port,
    program`` (None: nobody listens), ``iana`` (the registry's service name for it, or
    ``""``)), ``knock`` (``{"protocol", "port"}``) and ``client`` (``{"address", "port"}``).

    *tcp* and *udp* map port -> program (or None); the door knocked on must be drawn."""
    from ... import registry

    tcp = BUILDING_TCP if tcp is None else tcp
    udp = BUILDING_UDP if udp is None else udp
    try:
        ipaddress.ip_address(address)
        ipaddress.ip_address(client[0])
    except ValueError as exc:
        raise BadInput(f"building: {exc} (expected IP addresses for the host and the client)") from None
    doors = []
    for protocol, mapping in (("tcp", tcp), ("udp", udp)):
        if len(mapping) > 6:
            raise BadInput(f"building: {len(mapping)} {protocol.upper()} doors (expected at most 6, to stay readable)")
        for port, program in sorted(mapping.items()):
            if not 0 <= int(port) <= 65535:
                raise BadInput(f"building: {protocol} port {port} (expected 0-65535)")
            entries = registry.lookup(int(port), protocol)
            doors.append({"protocol": protocol, "port": int(port), "program": program,
                          "iana": entries[0].name if entries else ""})
    port, protocol = knock
    if not any(d["port"] == port and d["protocol"] == protocol for d in doors):
        drawn = ", ".join(f"{d['protocol']} {d['port']}" for d in doors)
        raise BadInput(f"building: the client knocks on {protocol} {port}, which is not drawn "
                       f"(expected one of the doors: {drawn})")
    if not 0 <= client[1] <= 65535:
        raise BadInput(f"building: client port {client[1]} (expected 0-65535)")
    return {"address": address, "doors": doors, "knock": {"protocol": protocol, "port": port},
            "client": {"address": client[0], "port": client[1]}}


def _building_text(data: dict) -> str:
    def listing(protocol: str) -> str:
        parts = []
        for d in data["doors"]:
            if d["protocol"] == protocol:
                parts.append(f"{d['port']} ({d['program']} listens)" if d["program"] else f"{d['port']} (nobody)")
        return ", ".join(parts)

    same = sorted({d["port"] for d in data["doors"] if d["protocol"] == "tcp"}
                  & {d["port"] for d in data["doors"] if d["protocol"] == "udp"})
    k, c = data["knock"], data["client"]
    text = (f"A building stands for a host; its street address is the IP address {data['address']}. Its doors "
            f"are ports, each with a number, in two separate rows: TCP doors {listing('tcp')}; UDP doors "
            f"{listing('udp')}. A filled door has a program listening behind it; a dashed door has nobody. ")
    if same:
        text += (f"Door number {', '.join(map(str, same))} exists in both rows and they are different doors: "
                 "what listens behind one says nothing about the other. ")
    text += (f"On the right a client at {c['address']}, using its own door {c['port']}, knocks on "
             f"{k['protocol'].upper()} door {k['port']} of the building. Only a few of the 65536 TCP and 65536 "
             "UDP doors are drawn.")
    return text


def port_building(address: str = "192.0.2.10", tcp: Optional[dict] = None, udp: Optional[dict] = None,
                  knock: tuple[int, str] = (443, "tcp"), client: tuple[str, int] = ("198.51.100.7", 50312),
                  title: str = "A host is a building; its ports are numbered doors") -> Chart:
    """The building picture of a port (notebook 01): host = building with an address,
    ports = numbered doors in a TCP row and a UDP row, programs behind some doors, a
    client knocking on one of them.  Addresses default to documentation addresses
    (RFC 5737), which belong to nobody."""
    data = building_data(address, tcp, udp, knock, client)
    tcp_ports = [d["port"] for d in data["doors"] if d["protocol"] == "tcp"]
    udp_ports = [d["port"] for d in data["doors"] if d["protocol"] == "udp"]
    # One column per door number, so that TCP 53 stands above UDP 53.
    columns = sorted(set(tcp_ports) | set(udp_ports))
    if len(columns) > 6:
        raise BadInput(f"building: {len(columns)} different door numbers (expected at most 6, to stay readable)")

    def build(th: Theme):
        step, door_w, door_h, x0 = 1.75, 1.0, 1.55, 2.55
        right = x0 + step * (len(columns) - 1) + door_w + 0.6
        fig = new_figure(9.6, 6.1)
        ax = fig.add_subplot()
        ax.set_xlim(0, right + 4.7)
        ax.set_ylim(-0.1, 9.9)
        ax.set_aspect("equal")
        ax.axis("off")
        # The building: a body and a roof with the street address on it.
        ax.add_patch(Rectangle((0.4, 0.95), right - 0.4, 7.0, facecolor="none", edgecolor=th.foreground,
                               linewidth=1.6))
        ax.add_patch(Polygon([(0.15, 7.95), (right + 0.25, 7.95), ((0.4 + right) / 2, 9.75)], closed=True,
                             facecolor="none", edgecolor=th.foreground, linewidth=1.6))
        ax.text((0.4 + right) / 2, 8.62, f"host {data['address']}", ha="center", va="center", fontsize=LABEL + 1.5,
                fontweight="bold", color=th.foreground)
        ax.text((0.4 + right) / 2, 8.18, "(the building's street address)", ha="center", va="center",
                fontsize=SMALL, color=th.foreground)
        ax.plot([0.4, right], [4.45, 4.45], color=th.foreground, linewidth=1.0)
        knock = data["knock"]
        for protocol, floor in (("tcp", 4.45), ("udp", 0.95)):
            ax.text(0.75, floor + 1.75, f"{protocol.upper()}\ndoors", ha="left", va="center", fontsize=LABEL + 0.5,
                    fontweight="bold", color=th.foreground, linespacing=1.2)
            for door in (d for d in data["doors"] if d["protocol"] == protocol):
                x = x0 + step * columns.index(door["port"])
                y = floor + 0.3
                knocked = knock["protocol"] == protocol and knock["port"] == door["port"]
                fill = LISTENING if door["program"] else None
                ax.add_patch(FancyBboxPatch((x, y), door_w, door_h, boxstyle="round,pad=0,rounding_size=0.08",
                                            facecolor=fill or "none", edgecolor=th.foreground,
                                            linewidth=2.6 if knocked else 1.2,
                                            linestyle="-" if fill else "--",
                                            gid=f"door:{protocol}:{door['port']}:{'listening' if fill else 'nobody'}"))
                ax.text(x + door_w / 2, y + door_h / 2, str(door["port"]), ha="center", va="center",
                        fontsize=LABEL + 1.5, fontweight="bold", color=text_on(fill) if fill else th.foreground,
                        gid=f"on:{fill}" if fill else None)
                room = (f"{door['program']}\n({door['iana']})" if door["program"] and door["iana"]
                        else door["program"] or "nobody\nlistens")
                ax.text(x + door_w / 2, y + door_h + 0.12, room, ha="center", va="bottom", fontsize=SMALL,
                        color=th.foreground, linespacing=1.15)
        # The client, knocking from the right.
        cx = right + 0.9
        k_col = columns.index(knock["port"])
        k_floor = 4.45 if knock["protocol"] == "tcp" else 0.95
        ky = k_floor + 0.3 + door_h / 2
        _box(ax, th, cx, ky - 1.35, 3.6, 2.7,
             f"client\n{data['client']['address']}\nfrom its door {data['client']['port']}\n"
             f"knocks on {knock['protocol'].upper()} door {knock['port']}", size=LABEL)
        _arrow(ax, th, (cx - 0.05, ky), (x0 + step * k_col + door_w + 0.08, ky), lw=2.0, gid="knock")
        # The key, in words as well as looks.
        ax.add_patch(FancyBboxPatch((0.5, 0.15), 0.32, 0.5, boxstyle="round,pad=0,rounding_size=0.04",
                                    facecolor=LISTENING, edgecolor=th.foreground, linewidth=1.0))
        ax.text(0.95, 0.4, "a program listens", ha="left", va="center", fontsize=SMALL, color=th.foreground)
        ax.add_patch(FancyBboxPatch((3.35, 0.15), 0.32, 0.5, boxstyle="round,pad=0,rounding_size=0.04",
                                    facecolor="none", edgecolor=th.foreground, linewidth=1.0, linestyle="--"))
        ax.text(3.8, 0.4, "nobody listens", ha="left", va="center", fontsize=SMALL, color=th.foreground)
        ax.text(right + 4.6, 0.4, "a few of the 65536 doors of each kind", ha="right", va="center",
                fontsize=SMALL, color=th.foreground)
        ax.set_title(title, loc="left")
        return fig

    return Chart(build, _building_text(data), data, title)


# ---- (b) NAT and the firewall, on the home-nat network ----------------------------------

#: The connections the inside has open when the picture is drawn (inside host, remote, port,
#: protocol, source port): they are the rows of the table beside the router.
HOME_CONNECTIONS: tuple[tuple[str, str, int, str, int], ...] = (
    ("laptop", "203.0.113.10", 443, "tcp", 50000),
    ("nas", "203.0.113.53", 53, "udp", 41000),
)


def _without_forward_rule(scenario, router_name: str):
    """*scenario* with the router's firewall forward rule removed (the same scenario if it has none)."""
    routers = []
    for router in scenario.routers:
        fw = router.firewall
        if router.name == router_name and fw is not None and getattr(fw, "forward_drop_new_from", None):
            router = dataclasses.replace(router, firewall=dataclasses.replace(fw, forward_drop_new_from=None))
        routers.append(router)
    return dataclasses.replace(scenario, routers=tuple(routers))


def nat_data(scenario="home-nat", connections: Sequence[tuple] = HOME_CONNECTIONS, port: int = 445,
             inside_host: str = "nas", protocol: str = "tcp") -> dict:
    """What the NAT picture draws, all of it from the simulator.

    Returns ``scenario, router, outside, inside, outside_network, inside_network, scanner``,
    ``hosts`` (the inside machines: ``name, address, tcp, udp``), ``rows`` (the NAT
    table after *connections*, as :func:`portlab.course.charts.nat.mapping_rows`),
    ``forward_rule`` (the network the router's firewall drops new connections from, or
    None), ``probes`` and ``reply``.

    ``probes`` are two first packets from the scanner, A to the router's outside
    address and B to *inside_host*, both on *protocol* *port*; each has ``label, to,
    answer, path`` (the simulator's walk), ``row`` (whether the NAT table has a row
    for it), ``stopped_by`` (``"nat"``: no row, so it is for the router itself and
    never reaches the inside; ``"firewall"``: only the router's forward rule stops it,
    shown by ``without_rule``, the same packet in the same network without that rule;
    None: it got in) and ``reached`` (the machine that answered, if any).
    ``reply`` (C) is the answer to the first connection: through its row, to the inside.
    """
    from ...sim.experiments import nat_table_after
    from ...sim.kernel import SILENCE
    from ...sim.network import SCAN_SOURCE_PORT, load_scenario
    from .nat import mapping_rows

    base = load_scenario(scenario)
    routers = [r for r in base.routers if r.nat is not None]
    if len(routers) != 1:
        raise BadInput(f"NAT picture: scenario {base.name} has {len(routers)} NAT routers (expected exactly one)")
    router = routers[0]
    if not connections:
        raise BadInput("NAT picture: no connections (expected at least one, to fill the table)")
    outside = str(router.interface(router.nat.outside).address)
    inside_net = next(n for n in base.networks if n.name in router.inside)
    inside_addr = str(router.interface(inside_net.name).address)
    hosts = [h for h in base.hosts if h.address in inside_net.cidr]
    target = next((h for h in hosts if h.name == inside_host), None)
    if target is None:
        raise BadInput(f"NAT picture: {inside_host!r} is not inside {base.name} "
                       f"(expected one of {', '.join(h.name for h in hosts)})")
    addresses = {str(a): name for a, name in base.addresses().items()}
    table = nat_table_after(base, connections)
    net = table.network
    bare = nat_table_after(_without_forward_rule(base, router.name), connections).network

    def probe(label: str, address: str) -> dict:
        answer = net.send("scanner", address, port, protocol)
        other = bare.send("scanner", address, port, protocol)
        row = None
        if address == outside:
            row = table.lookup_inbound(protocol, (str(base.scanner.address), SCAN_SOURCE_PORT), port)[0]
        reached = addresses.get(answer.responder) if answer.kind != SILENCE else None
        reached_without = addresses.get(other.responder) if other.kind != SILENCE else None
        inside_names = {h.name for h in hosts}
        if address == outside and row is None:
            stopped_by = "nat"
        elif reached not in inside_names and reached_without in inside_names:
            stopped_by = "firewall"
        else:
            stopped_by = None
        return {"label": label, "to": f"{address}:{port}/{protocol}", "answer": answer.describe(),
                "path": list(answer.path), "row": address != outside or row is not None,
                "stopped_by": stopped_by, "reached": reached,
                "without_rule": {"answer": other.describe(), "reached": reached_without}}

    host, _remote, rport, rproto = tuple(connections[0])[:4]
    first = next(r for r in mapping_rows(table) if r["inside_name"] == host and r["protocol"] == rproto)
    out_port = int(first["outside"].rpartition(":")[2])
    remote_addr = first["peers"][0].rpartition(":")[0]
    into, how = table.lookup_inbound(rproto, (remote_addr, int(rport)), out_port)
    return {
        "scenario": base.name, "router": router.name, "outside": outside, "inside": inside_addr,
        "outside_network": str(next(n.cidr for n in base.networks if n.name == router.nat.outside)),
        "inside_network": str(inside_net.cidr), "scanner": str(base.scanner.address),
        "hosts": [{"name": h.name, "address": str(h.address), "tcp": list(h.tcp), "udp": list(h.udp)} for h in hosts],
        "rows": mapping_rows(table),
        "forward_rule": getattr(router.firewall, "forward_drop_new_from", None) if router.firewall else None,
        "probes": [probe("A", outside), probe("B", str(target.address))],
        "reply": {"label": "C", "from": f"{remote_addr}:{rport}", "to": f"{outside}:{out_port}",
                  "protocol": rproto, "inside": f"{into[0]}:{into[1]}" if into else None,
                  "inside_name": addresses.get(into[0]) if into else None, "how": how},
    }


def _probe_words(p: dict, data: dict) -> str:
    """One probe's fate in a sentence (the legend under the picture and the text equivalent)."""
    what = f"{p['label']}: to {p['to'].rsplit('/', 1)[0]}"
    if p["stopped_by"] == "nat":
        then = (" Here the router's own input rule then drops it." if p["answer"] == "no answer"
                else f" The router answers it itself ({p['answer']}).")
        return (f"{what} (the router's own address). NAT has no row for it, so it is for the router itself "
                f"and never reaches the inside: that is NAT alone.{then}")
    name = p["reached"] or (p["without_rule"]["reached"] or "")
    if p["stopped_by"] == "firewall":
        return (f"{what} ({p['without_rule']['reached']}). Addressed to the inside, NAT translates nothing; "
                f"only the firewall's forward rule stops it. Without that rule it gets in "
                f"({p['without_rule']['answer']}).")
    if p["reached"] and not data["forward_rule"]:
        return (f"{what} ({p['reached']}). Addressed to the inside, NAT translates nothing, and this router has "
                f"no firewall rule to stop it: it gets in ({p['answer']}).")
    return f"{what}: {p['answer']}" + (f", from {name}" if name and name not in p["answer"] else "") + "."


def _nat_text(data: dict) -> str:
    hosts = "; ".join(f"{h['name']} {h['address']} (TCP {', '.join(map(str, h['tcp'])) or 'none'}"
                      + (f", UDP {', '.join(map(str, h['udp']))})" if h["udp"] else ")") for h in data["hosts"])
    rows = "; ".join(f"{r['protocol']} {r['inside_name'] + ' ' if r['inside_name'] else ''}{r['inside']} goes "
                     f"out as {r['outside']} to {', '.join(r['peers'])}" for r in data["rows"])
    c = data["reply"]
    reply = (f"C: the answer from {c['from']} to {c['to']} finds its row and is translated to "
             f"{c['inside_name'] or ''} {c['inside']}"
             + ("; the firewall lets it pass, as part of a known connection." if data["forward_rule"] else ".")
             if c["inside"] else f"C: the answer from {c['from']} finds no row.")
    firewall = ("then the firewall's forward rule, which drops new connections from outside" if data["forward_rule"]
                else "and no firewall forward rule")
    return (f"Scenario {data['scenario']}. On the left the Internet ({data['outside_network']} plays it) with the "
            f"scanner at {data['scanner']}. In the middle the home router: outside address {data['outside']}, inside "
            f"address {data['inside']}; inside it, first NAT (its translation table), {firewall}. On the right "
            f"the home network {data['inside_network']}: {hosts}. The NAT table under it has "
            f"{len(data['rows'])} rows: {rows}. "
            + " ".join(_probe_words(p, data) for p in data["probes"]) + " " + reply)


def nat_topology(scenario="home-nat", connections: Sequence[tuple] = HOME_CONNECTIONS, port: int = 445,
                 inside_host: str = "nas", title: Optional[str] = None) -> Chart:
    """The NAT picture of notebook 07: the home network, the router with NAT and its
    firewall, the translation table under them, and three packets from outside, each
    drawn where the simulator stops or delivers it (see :func:`nat_data`)."""
    data = nat_data(scenario, connections, port, inside_host)
    title = title or "Where NAT acts, and where the router's firewall acts"
    a, b = data["probes"]
    c = data["reply"]
    hosts = data["hosts"]
    if len(hosts) > 3:
        raise BadInput(f"NAT picture: {len(hosts)} inside machines (expected at most 3, to stay readable)")

    import textwrap
    words = [_probe_words(a, data), _probe_words(b, data)]
    if c["inside"]:
        words.append(f"C: the answer to the {c['inside_name']}'s connection comes to {c['to']}: its row translates it "
                     f"to {c['inside']}" + (", and the firewall lets it pass (it belongs to a known connection)."
                                            if data["forward_rule"] else "."))
    legend = [textwrap.fill(w, 122) for w in words]
    line = 0.34                                   # one 9.5 pt line, in data units (0.49 in each)
    legend_h = sum(line * (t.count("\n") + 1) + 0.22 for t in legend)
    table_h = 1.1 + 0.42 + 0.45 * len(data["rows"])
    top, base = 15.2, 6.8                         # the topology occupies base..top
    bottom = base - 0.3 - legend_h - table_h

    def build(th: Theme):
        fig = new_figure(9.8, 0.49 * (top - bottom) + 0.45)
        ax = fig.add_subplot()
        ax.set_xlim(0, 20)
        ax.set_ylim(bottom, top)
        ax.axis("off")
        lane = {"A": 11.45, "B": 9.75, "C": 8.0}
        # The Internet.
        ax.add_patch(FancyBboxPatch((0.1, base + 0.2), 3.3, 6.9, boxstyle="round,pad=0,rounding_size=0.3",
                                    facecolor="none", edgecolor=th.foreground, linewidth=1.0, linestyle=(0, (4, 3))))
        ax.text(0.3, base + 6.95, "the Internet", ha="left", va="top", fontsize=LABEL, fontstyle="italic",
                color=th.foreground)
        _box(ax, th, 0.3, lane["B"] - 0.6, 2.9, lane["A"] - lane["B"] + 1.2, f"scanner\n{data['scanner']}",
             weight="bold")
        _box(ax, th, 0.3, lane["C"] - 0.7, 2.9, 1.4, f"web server\n{c['from'].rpartition(':')[0]}")
        # The router: NAT first, then the firewall's forward rule.
        rx0, rx1 = 7.55, 13.15
        nat_x, nat_w, fw_x, fw_w = 7.8, 2.7, 10.75, 2.15
        col_y, col_top = base + 0.5, base + 6.35
        ax.add_patch(FancyBboxPatch((rx0, base + 0.2), rx1 - rx0, 6.9, boxstyle="round,pad=0,rounding_size=0.2",
                                    facecolor="none", edgecolor=th.foreground, linewidth=1.8, gid="router"))
        ax.text((rx0 + rx1) / 2, base + 7.95, f"home {data['router']}", ha="center", va="center",
                fontsize=LABEL + 1, fontweight="bold", color=th.foreground)
        ax.text(rx0, base + 7.3, f"outside {data['outside']}", ha="left", va="bottom", fontsize=SMALL,
                color=th.foreground)
        ax.text(rx1, base + 7.3, f"inside {data['inside']}", ha="right", va="bottom", fontsize=SMALL,
                color=th.foreground)
        _box(ax, th, nat_x, col_y, nat_w, col_top - col_y, "", gid="nat")
        ax.text(nat_x + nat_w / 2, col_top - 0.15, "NAT\n(the table below)", ha="center", va="top",
                fontsize=SMALL, color=th.foreground, linespacing=1.15)
        rule = data["forward_rule"]
        _box(ax, th, fw_x, col_y, fw_w, col_top - col_y, "", fill=FILTER if rule else None, dashed=not rule,
             gid="firewall")
        on = {"color": text_on(FILTER), "gid": f"on:{FILTER}"} if rule else {"color": th.foreground}
        ax.text(fw_x + fw_w / 2, col_top - 0.15, "firewall\nforward rule:\nnew from\noutside: drop" if rule
                else "firewall:\nno forward\nrule", ha="center", va="top", fontsize=SMALL, linespacing=1.15, **on)
        # The home network: the probed host on lane B, the answered one on lane C, others above.
        hx = 14.85
        ax.add_patch(FancyBboxPatch((hx, base + 0.2), 5.05, 6.9, boxstyle="round,pad=0,rounding_size=0.3",
                                    facecolor="none", edgecolor=th.foreground, linewidth=1.0, linestyle=(0, (4, 3))))
        ax.text(hx + 0.2, base + 6.95, f"home {data['inside_network']}", ha="left", va="top", fontsize=LABEL,
                fontstyle="italic", color=th.foreground)
        slots: dict[str, float] = {}
        for h in hosts:
            if h["address"] == b["to"].partition(":")[0]:
                slots[h["name"]] = lane["B"]
            elif h["name"] == c["inside_name"]:
                slots[h["name"]] = lane["C"]
        free = [y for y in (lane["A"], lane["B"], lane["C"]) if y not in slots.values()]
        for h in hosts:
            if h["name"] not in slots:
                slots[h["name"]] = free.pop(0)
        for h in hosts:
            ports = "TCP " + " ".join(map(str, h["tcp"]))
            if h["udp"]:
                ports += "  UDP " + " ".join(map(str, h["udp"]))
            _box(ax, th, hx + 0.3, slots[h["name"]] - 0.65, 4.45, 1.3, f"{h['name']} {h['address']}\n{ports}",
                 size=SMALL, gid=f"host:{h['name']}")

        def cross(x: float, y: float, label: str) -> None:
            d = 0.3
            for dx in (-d, d):
                ax.plot([x - d, x + d], [y - dx, y + dx], color=th.foreground if not rule or label == "A"
                        else text_on(FILTER), linewidth=3.2, solid_capstyle="round", gid=f"stop:{label}")

        def tag(y: float, text: str) -> None:
            ax.text(3.5, y + 0.12, text, ha="left", va="bottom", fontsize=SMALL, fontweight="bold",
                    color=th.foreground)
        # A: to the router's own address: NAT has no row for it.
        ya = lane["A"]
        _arrow(ax, th, (3.2, ya), (nat_x - 0.05, ya), lw=2.0, gid="probe:A")
        tag(ya, f"A  {a['to'].rsplit('/', 1)[0]}")
        if a["stopped_by"] == "nat":
            cross(nat_x + 0.5, ya, "A")
            ax.text(nat_x + 1.0, ya, "no row", ha="left", va="center", fontsize=SMALL, color=th.foreground)
        # B: to an inside address: nothing for NAT to do, the forward rule decides.
        yb = lane["B"]
        tag(yb, f"B  {b['to'].rsplit('/', 1)[0]}")
        ax.text(nat_x + nat_w / 2, yb + 0.12, "nothing to\ntranslate", ha="center", va="bottom",
                fontsize=SMALL - 0.5, color=th.foreground, linespacing=1.1)
        if b["stopped_by"] == "firewall":
            _arrow(ax, th, (3.2, yb), (fw_x + fw_w / 2 - 0.35, yb), lw=2.0, gid="probe:B")
            cross(fw_x + fw_w / 2, yb, "B")
            _arrow(ax, th, (fw_x + fw_w + 0.05, yb), (hx + 0.25, yb), dashed=True, lw=1.4, gid="probe:B-without-rule")
            ax.text((fw_x + fw_w + hx) / 2, yb + 0.12, "without\nthe rule", ha="center", va="bottom",
                    fontsize=SMALL - 0.5, color=th.foreground, linespacing=1.05)
        else:
            _arrow(ax, th, (3.2, yb), (hx + 0.25, yb), lw=2.0, gid="probe:B-in")
        # C: the answer to an inside machine's connection, through its row.
        yc = lane["C"]
        if c["inside"]:
            _arrow(ax, th, (3.2, yc), (hx + 0.25, yc), lw=2.0, gid="reply:C")
            tag(yc, f"C  {c['to']}")
            ax.text(nat_x + nat_w / 2, yc + 0.12, f"row \u2192 {c['inside_name'] or c['inside']}", ha="center",
                    va="bottom", fontsize=SMALL - 0.5, color=th.foreground)
            if rule:
                ax.text(fw_x + fw_w / 2, yc + 0.12, "known: pass", ha="center", va="bottom", fontsize=SMALL - 0.5,
                        **on)
        # The key, in words.
        y = base - 0.3
        for text in legend:
            ax.text(0.15, y, text, ha="left", va="top", fontsize=SMALL, color=th.foreground, linespacing=1.2)
            y -= line * (text.count("\n") + 1) + 0.22
        # The table, under everything.
        y -= 0.2
        ax.text(0.15, y, "The router's NAT table (one row per mapping)", ha="left", va="top", fontsize=LABEL,
                fontweight="bold", color=th.foreground)
        y -= 0.6
        cols = (("protocol", 0.3), ("inside endpoint", 2.4), ("outside endpoint", 8.0), ("remote (peer)", 13.0))
        for name, x in cols:
            ax.text(x, y, name, ha="left", va="top", fontsize=SMALL, fontweight="bold", color=th.foreground)
        ax.plot([0.15, 19.85], [y - 0.42, y - 0.42], color=th.foreground, linewidth=0.8)
        y -= 0.55
        for r in data["rows"]:
            who = f"{r['inside_name']} " if r["inside_name"] else ""
            values = (r["protocol"], f"{who}{r['inside']}", r["outside"], ", ".join(r["peers"]))
            for (_, x), value in zip(cols, values):
                ax.text(x, y, value, ha="left", va="top", fontsize=SMALL, color=th.foreground, gid="row")
            y -= 0.45
        ax.set_title(title, loc="left")
        return fig

    return Chart(build, _nat_text(data), data, title)


# ---- (c) where a firewall sits -------------------------------------------------------------

#: The three places, outermost first; each item is ("container", label, [items]),
#: ("filter", text) or ("box", text).  The packet goes down through the filters and boxes.
_PROGRAM = ("box", "web server,\nlistening on port 443")
PLACES: dict[str, dict] = {
    "host": {
        "title": "Host firewall",
        "items": [("container", "the server", [
            ("box", "network interface"),
            ("container", "its OS", [
                ("filter", "① host firewall\n(nftables, Windows\nDefender Firewall)"),
                _PROGRAM])])],
        "note": "Part of the machine's own OS:\nits admin writes the rules there.",
        "note_alone": "Part of the machine's own operating system (OS):\nits input chain judges what comes in,"
                      "\nits output chain what the server sends out.",
        "where": "in the operating system of the machine itself",
        "checks": ["the host firewall, inside the operating system"],
    },
    "aws": {
        "title": "AWS security group",
        "items": [("container", "VPC", [("container", "subnet", [("container", "EC2 instance", [
            ("filter", "① security group,\non the instance's\nnetwork interface"),
            ("container", "its OS", [
                ("filter", "② host firewall\n(if it has one)"),
                _PROGRAM])])])])],
        "note": "AWS's network applies the group:\nthe OS never sees what it drops.",
        "where": "attached to the instance's network interface(s), outside its operating system",
        "checks": ["the security group on the instance's network interface",
                   "the host firewall in the operating system, if it has one"],
    },
    "azure": {
        "title": "Azure NSG",
        "items": [("container", "VNet", [("container", "subnet", [
            ("filter", "① NSG on the subnet"),
            ("container", "VM", [
                ("filter", "② NSG on the NIC\n(network interface)"),
                ("container", "its OS", [
                    ("filter", "③ host firewall\n(if it has one)"),
                    _PROGRAM])])])])],
        "note": "In: subnet NSG, then NIC NSG;\nout: the reverse. Both must allow.",
        "where": "attached to a subnet and/or a network interface (NIC); when both have one, both apply",
        "checks": ["the NSG on the subnet", "the NSG on the VM's network interface (NIC)",
                   "the host firewall in the operating system, if it has one"],
    },
}
KINDS = tuple(PLACES)


def _lines(text: str) -> int:
    return text.count("\n") + 1


def _layout(items, x0: float, x1: float, top: float, out: list, depth: int = 0) -> float:
    """Place *items* between x0 and x1 from *top* down; append drawables to *out*
    (``(kind, x, y, w, h, text, depth)``) and return the lowest y used."""
    y = top
    for item in items:
        kind = item[0]
        if kind == "container":
            _, label, children = item
            bottom = _layout(children, x0 + 0.35, x1 - 0.35, y - 0.72, out, depth + 1) - 0.3
            out.append(("container", x0, bottom, x1 - x0, y - bottom, label, depth))
            y = bottom - 0.2
        else:
            text = item[1]
            h = 0.3 + 0.47 * _lines(text)
            w = min(x1 - x0 - 0.5, 6.4)
            x = (x0 + x1 - w) / 2
            y -= 0.55  # room for the arrow from what came before
            out.append((kind, x, y - h, w, h, text, depth))
            y -= h
    return y


def places_data(kinds: Sequence[str] = KINDS) -> list[dict]:
    """One dict per place (``kind, title, where, checks`` in the order a packet coming in
    meets them, ``note``), for the kinds asked, in the order asked."""
    kinds = tuple(kinds)
    if not kinds:
        raise BadInput("firewall places: no kind asked (expected some of host, aws, azure)")
    for kind in kinds:
        if kind not in PLACES:
            raise BadInput(f"firewall places: {kind!r} (expected one of {', '.join(KINDS)})")
    return [{"kind": k, "title": PLACES[k]["title"], "where": PLACES[k]["where"], "checks": list(PLACES[k]["checks"]),
             "note": PLACES[k]["note"].replace("\n", " ")} for k in kinds]


def _places_text(data: list[dict]) -> str:
    parts = []
    for d in data:
        order = "; then ".join(d["checks"])
        parts.append(f"{d['title']}: {d['where']}. A packet from the Internet to a web server on port 443 "
                     f"meets, in order: {order}; only then the web server. {d['note']}")
    lead = ("Side by side, " if len(data) > 1 else "")
    return lead + " ".join(parts)


def firewall_places(kinds: Sequence[str] = KINDS, title: Optional[str] = None) -> Chart:
    """Where each kind of firewall sits on a packet's way in (notebooks 05 and 06): a host
    firewall in the machine's operating system; an AWS security group on the instance's
    network interface, outside the OS; an Azure NSG on the subnet and/or the NIC, both
    applied.  Filters are drawn in the colour of "filtered" and numbered in the order a
    packet coming in meets them."""
    data = places_data(kinds)
    title = title or ("Where the firewall sits" if len(data) > 1 else f"Where the {data[0]['title'].lower()} sits")

    def build(th: Theme):
        layouts = []
        for d in data:
            out: list = []
            bottom = _layout(PLACES[d["kind"]]["items"], 0.15, 9.85, 0.0, out)
            layouts.append((out, bottom))
        note_y = min(b for _, b in layouts) - 0.35   # the notes side by side, under the deepest panel
        lowest = note_y - (1.35 if len(data) > 1 else 1.75)
        height_units = 1.3 - lowest
        fig = new_figure(3.2 * len(data) if len(data) > 1 else 4.2, 0.36 * height_units + 0.5)
        axes = fig.subplots(1, len(data), squeeze=False)[0]
        for ax, d, (out, bottom) in zip(axes, data, layouts):
            ax.set_xlim(0, 10)
            ax.set_ylim(lowest, 1.3)
            ax.axis("off")
            if len(data) > 1:
                ax.set_title(d["title"], fontsize=LABEL + 1.5, fontweight="bold")
            ax.text(5, 1.0, "a packet from the Internet,\nto port 443", ha="center", va="top", fontsize=SMALL,
                    color=th.foreground, linespacing=1.2)
            previous = (5, 0.05)
            for kind, x, y, w, h, text, depth in out:
                if kind == "container":
                    ax.add_patch(Rectangle((x, y), w, h, facecolor="none", edgecolor=th.foreground,
                                           linewidth=1.0, linestyle=(0, (4, 3)), gid=f"container:{text}"))
                    ax.text(x + 0.2, y + h - 0.12, text, ha="left", va="top", fontsize=SMALL, fontstyle="italic",
                            color=th.foreground)
                    continue
                _box(ax, th, x, y, w, h, text, fill=FILTER if kind == "filter" else None, size=SMALL,
                     gid=f"{kind}:{d['kind']}:{text.splitlines()[0]}")
                _arrow(ax, th, previous, (5, y + h), gid="packet")
                previous = (5, y)
            place = PLACES[d["kind"]]
            note = place["note"] if len(data) > 1 else place.get("note_alone", place["note"])
            ax.text(5, note_y, note, ha="center", va="top", fontsize=SMALL,
                    color=th.foreground, linespacing=1.25)
        fig.suptitle(title, x=0.01, ha="left", fontsize=12)
        return fig

    return Chart(build, _places_text(data), data, title)


def gallery() -> dict[str, Chart]:
    """The course's pictures (``make figures`` renders them)."""
    return {
        "port-building": port_building(),
        "nat-topology": nat_topology(),
        "nat-topology-nofirewall": nat_topology("home-nat-nofirewall",
                                                title="NAT alone, without the router's firewall"),
        "firewall-places": firewall_places(),
        "firewall-places-host": firewall_places(("host",)),
    }
