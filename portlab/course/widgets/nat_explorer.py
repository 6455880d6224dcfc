"""The NAT explorer: inside machines open connections, the translation table fills, an
outside scan shows what got through.

:class:`NatLab` is the logic, plain Python over :mod:`portlab.sim.nat` and
:mod:`portlab.sim.experiments`: it keeps the list of connections the learner opened
and replays them on a fresh simulated network whenever something changes (the
RFC 4787 mapping or filtering behaviour, a port forward), so what is shown is always
what that NAT would hold after exactly those connections.  :class:`NatExplorer` is
the skin.

RFC 4787 in two sentences.  *Mapping* says when two connections from one inside
endpoint share an outside port: always (endpoint-independent), only to the same
peer address (address-dependent), or only to the same peer address and port
(address-and-port-dependent).  *Filtering* says who may send in through a mapping:
anyone (endpoint-independent), the addresses the inside sent to (address-dependent),
or only the exact address:port pairs it sent to (address-and-port-dependent, what
Linux does).
"""

from __future__ import annotations

import html
import ipaddress
from dataclasses import replace
from typing import Optional, Sequence

import ipywidgets as widgets

from ...errors import BadInput
from ...scenario import Forward
from ...sim.experiments import nat_table_after
from ...sim.nat import BEHAVIOURS
from ...sim.network import SCAN_SOURCE_PORT, load_scenario
from ...states import ScanType, classify
from ...transports.sim import observed_reply
from ..charts.nat import mapping_rows, nat_table
from ..theme import STATE_COLOURS, text_on

#: Peers on the outside a learner can pick: the scanner, and two Internet servers
#: (addresses from the documentation ranges, outside every scenario network).
INTERNET_PEERS = ("203.0.113.10", "198.51.100.7")


class NatLab:
    """A NAT router of *scenario* (one with exactly one NAT router) and the connections
    its inside machines opened, replayed on demand.

    ``open(host, peer, port, protocol, sport)`` adds a connection; ``mapping`` and
    ``filtering`` choose RFC 4787 behaviours; ``forward`` (a :class:`Forward` or
    ``None``) is the port forward, switched with ``forward_on``.  ``table()`` is the
    router's :class:`~portlab.sim.nat.NatTable` after the connections, ``rows()`` its
    mappings, ``outside_scan()`` what a scan of the outside address reports.
    """

    def __init__(self, scenario="home-nat", *, forward: Optional[Forward] = None, seed: int = 0) -> None:
        self.base = load_scenario(scenario)
        routers = [r for r in self.base.routers if r.nat is not None]
        if len(routers) != 1:
            raise BadInput(f"scenario {self.base.name} has {len(routers)} NAT routers (expected exactly one)")
        self.router = routers[0]
        nat = self.router.nat
        self.mapping = nat.mapping
        self.filtering = nat.filtering
        self.seed = seed
        self.connections: list[tuple] = []
        inside = set(self.router.inside)
        self.inside_hosts = [h for h in self.base.hosts if h.network in inside]
        # The forward to toggle: the scenario's own, else the first inside TCP service on 8080.
        self.forward_on = bool(nat.forwards)
        if forward is None and nat.forwards:
            forward = nat.forwards[0]
        if forward is None:
            # A web page is what people forward most: prefer an inside host serving 80 or 443.
            webby = [h for h in self.inside_hosts if {80, 443} & set(h.tcp)]
            host = next(iter(webby), None) or next((h for h in self.inside_hosts if h.tcp), None)
            if host is not None:
                port = next((p for p in (80, 443) if p in host.tcp), host.tcp[0])
                forward = Forward("tcp", 8080, host.address, port)
        self.forward = forward
        self.outside_address = str(self.router.interface(nat.outside).address)

    # -- what the learner does

    def open(self, host: str, peer: str, port: int, protocol: str = "tcp", sport: Optional[int] = None) -> dict:
        """Inside machine *host* opens a connection to *peer*:*port*; returns the mapping it used."""
        names = [h.name for h in self.inside_hosts]
        if host not in names:
            raise BadInput(f"{host!r} is not an inside machine (expected one of {', '.join(names)})")
        connection = (host, peer, int(port), protocol) + ((int(sport),) if sport is not None else ())
        self._check(connection)
        self.connections.append(connection)
        table = self.table()
        inside = str(self.base.machine(host).address)
        rows = [r for r in mapping_rows(table) if r["inside"].startswith(inside + ":")
                and any(p.startswith(f"{peer}:{port}") for p in r["peers"])]
        return rows[-1] if rows else {}

    def connect_from_outside(self, port: int, protocol: str = "tcp") -> dict:
        """The scanner, a peer on the outside, opens a connection to the router's outside
        *port*.  A forward lets it in (a ``forward`` row joins the table), and so does a
        mapping whose filtering allows this peer; otherwise NAT does not translate it and
        it is for the router itself (its firewall, its services).  Returns what that peer
        sees: ``port, protocol, state, reason, path, leads_to`` (the inside endpoint a
        forward sends it to, else ``None``), ``nat`` (how the NAT table judged it:
        ``forward``, ``mapping``, ``filtered`` -- a mapping holds the port but its
        filtering turns this peer away -- or ``no-mapping``), ``mapping`` (the mapping
        row holding the port, if any), ``peer`` and ``filtering``."""
        # The scanner's own source port, the one its scans use too, so the NAT judges
        # this connection and a scan of the same port alike.
        connection = ("scanner", self.outside_address, int(port), protocol, SCAN_SOURCE_PORT)
        self._check(connection)
        table = self.table()
        sessions = len(table)
        peer = (str(self.base.scanner.address), SCAN_SOURCE_PORT)
        _, how = table.lookup_inbound(protocol, peer, int(port))
        held = next((r for r in mapping_rows(table) if r["kind"] == "dynamic" and r["protocol"] == protocol
                     and r["outside"] == f"{self.outside_address}:{int(port)}"), None)
        self.connections.append(connection)
        seen = self.outside_scan([int(port)], "udp" if protocol == "udp" else "syn")[0]
        if len(self.table()) == sessions:
            # Turned away: it left nothing in the table, so it is no part of the history
            # to replay (a forward switched on later must not let it in after the fact).
            self.connections.pop()
        forward = self.forward if self.forward_on else None
        leads = (f"{forward.to_address}:{forward.to_port}"
                 if forward is not None and (forward.protocol, forward.port) == (protocol, int(port)) else None)
        return {**seen, "leads_to": leads, "nat": how, "mapping": held,
                "peer": f"{peer[0]}:{peer[1]}", "filtering": self.filtering}

    def _check(self, connection: tuple) -> None:
        """Let the experiments API judge a new connection before it joins the list."""
        nat_table_after(self.scenario(), self.connections + [connection], seed=self.seed)

    def clear(self) -> None:
        self.connections = []

    # -- the network those choices make

    def scenario(self):
        """The scenario with the chosen behaviours and the forward (when on)."""
        nat = replace(self.router.nat, mapping=self.mapping, filtering=self.filtering,
                      forwards=(self.forward,) if (self.forward_on and self.forward) else ())
        routers = tuple(replace(r, nat=nat) if r.name == self.router.name else r for r in self.base.routers)
        return replace(self.base, routers=routers)

    def table(self):
        """The router's NAT table after every connection, one a second of virtual time."""
        for name, value in (("mapping", self.mapping), ("filtering", self.filtering)):
            if value not in BEHAVIOURS:
                raise BadInput(f"{name} {value!r} (expected one of {', '.join(BEHAVIOURS)})")
        return nat_table_after(self.scenario(), self.connections, seed=self.seed)

    def rows(self) -> list[dict]:
        return mapping_rows(self.table())

    def scan_ports(self) -> list[int]:
        """1-1024, the forward's port, and every outside port a mapping holds."""
        return sorted(set().union(*self.scan_port_groups().values()))

    def scan_port_groups(self) -> dict[str, set[int]]:
        """Why each port is in the outside scan: ``{"1-1024": ..., "forward": ...,
        "mappings": ...}`` (the system ports, the forward's outside port whether it is
        on or off, the outside ports mappings hold; a port may be in two groups)."""
        groups: dict[str, set[int]] = {"1-1024": set(range(1, 1025)), "forward": set(), "mappings": set()}
        if self.forward is not None:
            groups["forward"].add(self.forward.port)
        for row in self.rows():
            groups["mappings"].add(int(row["outside"].rpartition(":")[2]))
        return groups

    def outside_scan(self, ports: Optional[Sequence[int]] = None, scan_type: str = "syn") -> list[dict]:
        """A scan of the router's outside address by the scanner, on the network the
        connections left behind (so live mappings count, as far as filtering lets the
        scanner in).  One dict a port: ``port, protocol, state, reason``."""
        table = self.table()
        net = table.network
        scan = ScanType(scan_type)
        protocol = scan.protocol
        dst = int(ipaddress.IPv4Address(self.outside_address))
        rows = []
        for port in (ports if ports is not None else self.scan_ports()):
            answer = net.scan_answer(dst, int(port), protocol)
            verdict = classify(scan, observed_reply(answer, scan))
            rows.append({"port": int(port), "protocol": protocol, "state": str(verdict.state),
                         "reason": verdict.reason, "path": answer.path})
        return rows


def findings(rows: Sequence[dict]) -> tuple[list[dict], dict]:
    """The ports of an outside scan worth showing (anything but the common state), and
    the common state with its count."""
    from collections import Counter
    if not rows:
        return [], {}
    (state, reason), count = Counter((r["state"], r["reason"]) for r in rows).most_common(1)[0]
    shown = [r for r in rows if (r["state"], r["reason"]) != (state, reason)]
    return shown, {"state": state, "reason": reason, "count": count}


def table_html(rows: Sequence[dict]) -> str:
    """The mappings as an HTML table (one row per mapping)."""
    if not rows:
        return "<i>The NAT table is empty: nothing inside has opened a connection yet.</i>"
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                   for h in ("protocol", "inside", "outside", "peers", "kind"))
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(str(c))}</td>" for c in (
            r["protocol"], f"{r['inside_name']} {r['inside']}".strip(), r["outside"], ", ".join(r["peers"]),
            "port forward" if r["kind"] == "forward" else "opened from inside")) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _ports_scanned(count: int, groups: Optional[dict]) -> str:
    """``"1027 ports (1-1024, the forward's 8080, 2 ports mappings hold (50000, 50001))"``."""
    if not groups:
        return f"{count} ports"
    extra = []
    forward = sorted(groups.get("forward", ()))
    if forward:
        extra.append(f"the forward's {', '.join(map(str, forward))}")
    mapped = sorted(p for p in groups.get("mappings", ()) if p > 1024 and p not in forward)
    if mapped:
        extra.append(f"{len(mapped)} port{'s' if len(mapped) != 1 else ''} mappings hold "
                     f"({', '.join(map(str, mapped))})")
    return f"{count} ports (1-1024" + "".join(f", {e}" for e in extra) + ")"


def _mapping_note(row: dict, filtering: str) -> str:
    who = f"{row['inside_name']} " if row.get("inside_name") else ""
    return (f"a NAT mapping: {who}{row['inside']} opened it to {', '.join(row['peers'])} "
            f"({filtering} filtering)")


def scan_html(target: str, rows: Sequence[dict], forward: Optional[Forward], forward_on: bool,
              mappings: Sequence[dict] = (), filtering: str = "", groups: Optional[dict] = None) -> str:
    """The outside scan as HTML: how many ports and why that many, the common state in
    one line, then every other port with what it is (a port forward, a NAT mapping).
    *mappings* are the table's rows (:func:`~portlab.course.charts.nat.mapping_rows`),
    *groups* :meth:`NatLab.scan_port_groups`."""
    shown, common = findings(rows)
    mapped = {(m["protocol"], int(m["outside"].rpartition(":")[2])): m for m in mappings if m["kind"] == "dynamic"}
    parts = [f"<p>Outside scan of <code>{target}</code>, {_ports_scanned(len(rows), groups)}: "]
    if common:
        parts.append(f"{common['count']} are {common['state']} ({html.escape(common['reason'])})")
    parts.append(". Everything else:</p>" if shown else ". Nothing else stands out.</p>")
    shown_keys = set()
    for r in shown:
        shown_keys.add((r["protocol"], r["port"]))
        fill = STATE_COLOURS.get(r["state"], "#888888")
        lead = ""
        if forward is not None and forward_on and r["port"] == forward.port and r["protocol"] == forward.protocol:
            lead = f" &rarr; port forward to {forward.to_address}:{forward.to_port}"
        elif (r["protocol"], r["port"]) in mapped:
            row = mapped[(r["protocol"], r["port"])]
            lead = (f" &rarr; {html.escape(_mapping_note(row, filtering))}: the filtering let the scanner in, "
                    f"and this is {html.escape(row.get('inside_name') or row['inside'])}'s own answer")
        parts.append(f"<div><span style='background:{fill};color:{text_on(fill)};padding:1px 6px'>"
                     f"{r['protocol']} {r['port']} {r['state']} ({html.escape(r['reason'])})</span>{lead}</div>")
    scanned = {(r["protocol"], r["port"]) for r in rows}
    for key, row in sorted(mapped.items()):
        if key in scanned and key not in shown_keys:
            parts.append(f"<div>{key[0]} {key[1]} is {html.escape(_mapping_note(row, filtering))}, but the "
                         "filtering does not let the scanner in, so that port looks like the others</div>")
    return "".join(parts)


def title_html(lab: NatLab) -> str:
    """The explorer's heading: the router (by its name, unless the name says no more than
    "router"), its outside address and the inside machines."""
    name = lab.router.name
    who = "The NAT router" if "router" in name.lower() else f"The NAT router <code>{html.escape(name)}</code>"
    return (f"<b>{who}</b>: outside address <code>{lab.outside_address}</code>, inside "
            f"{', '.join(html.escape(h.name) for h in lab.inside_hosts)}.")


def _router_fate(seen: dict) -> str:
    """What became of a packet NAT did not translate: the router's own answer."""
    if any(" input: drop" in line or " input: reject" in line for line in seen.get("path", ())):
        return "it is dropped by the router's own firewall (its input chain)"
    if seen["state"] == "open":
        return "the router's own service on that port answers"
    if seen["state"] == "closed":
        return "nothing listens on that port of the router, so it answers with a reset"
    return "nothing answers"


def outside_message(seen: dict) -> str:
    """Why a connection from outside to the router's outside address ended as it did:
    the port forward, a mapping and its filtering, or the router itself."""
    filtering = seen.get("filtering", "")
    if seen.get("leads_to"):
        return f"got in: the port forward sends it to {seen['leads_to']}"
    row = seen.get("mapping")
    if seen.get("nat") == "mapping" and row is not None:
        return (f"got in through {_mapping_note(row, filtering)}, which lets this peer in; "
                f"the answer is {row.get('inside_name') or row['inside']}'s own")
    if seen.get("nat") == "filtered" and row is not None:
        allowed = ("the remote address:port pairs it was opened to" if filtering == "address-and-port-dependent"
                   else "the remote addresses it was opened to")
        return (f"port {seen['port']} has {_mapping_note(row, filtering)}, and that filtering lets in only "
                f"{allowed}; this peer ({seen.get('peer', 'the scanner')}) is not one, so NAT does not "
                f"translate the packet: it is for the router itself, and {_router_fate(seen)}")
    return ("no port forward and no mapping for it, so NAT has no row to translate it by: it is for the "
            f"router itself, and {_router_fate(seen)}")


class NatExplorer(widgets.VBox):
    """Open connections from inside machines, watch the NAT table, switch RFC 4787
    behaviours and a port forward, scan from outside.

    For tests: ``.host``, ``.peer``, ``.port``, ``.protocol``, ``.sport`` (controls),
    ``.open_button``, ``.mapping``, ``.filtering``, ``.forward`` (a toggle),
    ``.outside_port`` and ``.outside_button`` (the scanner connects from outside),
    ``.scan_button``, ``.table`` (HTML), ``.rows`` (its mappings), ``.scan`` (HTML),
    ``.last_scan`` (its rows), ``.chart`` (an Output showing ``.diagram``, the
    :func:`~portlab.course.charts.nat.nat_table` chart), ``.message``, and ``.lab``
    (the :class:`NatLab` behind it)."""

    def __init__(self, scenario="home-nat") -> None:
        self.lab = NatLab(scenario)
        lab = self.lab
        scanner = str(lab.base.scanner.address)
        self.host = widgets.Dropdown(options=[h.name for h in lab.inside_hosts], description="Inside host")
        self.peer = widgets.Combobox(options=list(INTERNET_PEERS) + [scanner], value=INTERNET_PEERS[0],
                                     description="Peer", ensure_option=False,
                                     placeholder="an outside address")
        self.port = widgets.BoundedIntText(value=443, min=1, max=65535, description="Peer port")
        self.protocol = widgets.Dropdown(options=["tcp", "udp"], value="tcp", description="Protocol")
        self.sport = widgets.BoundedIntText(value=50000, min=1, max=65535, description="Source port",
                                            tooltip="the inside program's own port")
        self.open_button = widgets.Button(description="Open connection", button_style="primary")
        self.clear_button = widgets.Button(description="Clear table")
        style = {"description_width": "initial"}
        self.mapping = widgets.Dropdown(options=BEHAVIOURS, value=lab.mapping, description="Mapping (RFC 4787)",
                                        style=style, layout=widgets.Layout(width="32em"))
        self.filtering = widgets.Dropdown(options=BEHAVIOURS, value=lab.filtering,
                                          description="Filtering (RFC 4787)", style=style,
                                          layout=widgets.Layout(width="32em"))
        fwd = lab.forward
        label = (f"Port forward: {fwd.protocol} {fwd.port} \u2192 {fwd.to_address}:{fwd.to_port}"
                 if fwd else "No inside service to forward to")
        self.forward = widgets.ToggleButton(value=lab.forward_on, description=label, disabled=fwd is None,
                                            icon="check" if lab.forward_on else "",
                                            layout=widgets.Layout(width="auto"))
        self.scan_button = widgets.Button(description="Scan from outside")
        self.outside_port = widgets.BoundedIntText(value=fwd.port if fwd else 8080, min=1, max=65535,
                                                   description="Router port", style=style)
        self.outside_button = widgets.Button(description="Connect from outside",
                                             layout=widgets.Layout(width="auto"),
                                             tooltip="the scanner, out on the Internet, connects to this "
                                                     "port of the router's outside address")
        self.message = widgets.HTML()
        self.table = widgets.HTML()
        self.chart = widgets.Output()
        self.scan = widgets.HTML("<i>Scan from outside to see what the Internet can reach.</i>")
        self.last_scan: list[dict] = []

        self.open_button.on_click(lambda _b: self.open_connection())
        self.clear_button.on_click(lambda _b: self._clear())
        self.scan_button.on_click(lambda _b: self.run_scan())
        self.outside_button.on_click(lambda _b: self.connect_from_outside())
        self.mapping.observe(self._behaviour, names="value")
        self.filtering.observe(self._behaviour, names="value")
        self.forward.observe(self._toggle_forward, names="value")
        self._show_table()
        super().__init__([
            widgets.HTML(title_html(lab)),
            widgets.HBox([self.host, self.peer]), widgets.HBox([self.port, self.protocol]),
            widgets.HBox([self.sport, self.open_button, self.clear_button]),
            widgets.HBox([self.mapping, self.filtering]), widgets.HBox([self.forward, self.scan_button]),
            widgets.HBox([self.outside_port, self.outside_button]),
            self.message, self.table, self.chart, self.scan])

    # -- actions

    def open_connection(self) -> None:
        try:
            self.lab.open(self.host.value, self.peer.value.strip(), self.port.value, self.protocol.value,
                          self.sport.value)
        except BadInput as err:
            self.message.value = f"<span style='color:var(--jp-error-color1, #b00020)'>{html.escape(str(err))}</span>"
            return
        except Exception as err:     # a learner must never meet a traceback here
            self.message.value = f"<span style='color:var(--jp-error-color1, #b00020)'>{html.escape(type(err).__name__)}: {html.escape(str(err))}</span>"
            return
        self.message.value = ""
        self._show_table()

    def connect_from_outside(self) -> dict:
        """The scanner connects to the router's outside address on the chosen port."""
        port = self.outside_port.value
        try:
            seen = self.lab.connect_from_outside(port, self.protocol.value)
        except Exception as err:     # BadInput or worse: one line, never a traceback
            self.message.value = f"<span style='color:var(--jp-error-color1, #b00020)'>{html.escape(str(err))}</span>"
            return {}
        target = f"{self.lab.outside_address}:{port}"
        what = html.escape(outside_message(seen))
        self.message.value = (f"Connection from outside ({html.escape(str(self.lab.base.scanner.address))}) to "
                              f"<code>{target}</code>/{seen['protocol']}: <b>{seen['state']}</b> "
                              f"({html.escape(seen['reason'])}): {what}.")
        self._show_table()
        return seen

    def _clear(self) -> None:
        self.lab.clear()
        self._show_table()

    def _behaviour(self, _change=None) -> None:
        self.lab.mapping, self.lab.filtering = self.mapping.value, self.filtering.value
        self._show_table()
        self.scan.value = "<i>Behaviour changed: scan again to see what the outside can reach now.</i>"

    def _toggle_forward(self, change) -> None:
        self.lab.forward_on = bool(change["new"])
        self.forward.icon = "check" if self.lab.forward_on else ""
        self._show_table()
        self.run_scan()

    def run_scan(self) -> list[dict]:
        rows = self.lab.outside_scan()
        self.scan.value = scan_html(self.lab.outside_address, rows, self.lab.forward, self.lab.forward_on,
                                    self.lab.rows(), self.lab.filtering, self.lab.scan_port_groups())
        self.last_scan = rows
        return rows

    def _show_table(self) -> None:
        table = self.lab.table()
        rows = mapping_rows(table)
        self.rows = rows
        self.table.value = table_html(rows)
        self.diagram = nat_table(table)
        from IPython import get_ipython
        if get_ipython() is None:
            return       # outside Jupyter (tests, scripts) there is nowhere to draw
        self.chart.clear_output(wait=True)
        with self.chart:
            from IPython.display import display
            display(self.diagram)


def nat_explorer(scenario="home-nat") -> NatExplorer:
    """The NAT explorer for *scenario* (one NAT router); see :class:`NatExplorer`."""
    return NatExplorer(scenario)
