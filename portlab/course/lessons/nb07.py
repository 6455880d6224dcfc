"""Notebook 07 (NAT and port forwarding): walks, tables and experiments on the home-nat scenarios.

Everything here runs on the simulator except :func:`live_forward_scan` (the lab: Linux, with root or a user namespace of your own).

* :func:`walk`: one first packet from a machine to an address:port, told hop by hop.
* :func:`apart`: NAT and the router's firewall, one at a time: the same probes from
  outside against ``home-nat-nofirewall`` (NAT alone) and ``home-nat`` (NAT and the
  firewall), with who answered and what stopped each (:func:`live_apart`: the same
  in the live lab).
* :func:`timeouts`: how long an idle NAT row lives in the simulator (Linux's conntrack
  defaults) beside the RFCs' minimums.
* :func:`day_at_home`: the inside machines open connections one after another;
  :func:`table_steps` gives the translation table after each one; :func:`late_answer`:
  a slow answer to one of them, before or after its row is forgotten.
* :func:`mapping_demo` / :func:`filtering_demo`: RFC 4787's mapping and filtering
  behaviours, side by side, on a bare :class:`~portlab.sim.nat.NatTable`.
* :func:`hairpin_demo`: an inside machine uses the router's outside address to
  reach a forwarded service, with and without hairpinning.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from ...errors import BadInput
from ...sim import kernel
from ...sim.nat import APDF, BEHAVIOURS, EIM, NatTable
from ...sim.network import SimNetwork, load_scenario

ROUTER_OUTSIDE = "10.77.0.2"
NAS = "192.168.77.20"
#: home-nat without the router's firewall: NAT alone.
NAT_ONLY = "home-nat-nofirewall"
#: The outside scans of this notebook: ports 1-1024 and the forward's port 8080 (1025 ports).
OUTSIDE_PORTS = "1-1024,8080"
# Servers "on the Internet": RFC 5737 documentation addresses, outside every scenario
# network, so the simulator treats them as the world beyond the router (nothing is sent).
SERVER_A = "203.0.113.10"
SERVER_B = "198.51.100.7"


@dataclass(frozen=True)
class Walk:
    sender: str
    target: str
    answer: str
    steps: tuple[str, ...]

    def __str__(self) -> str:
        return "\n".join([f"{self.sender} -> {self.target}: {self.answer}", *(f"   {s}" for s in self.steps)])


def walk(scenario, sender: str, address: str, port: int, protocol: str = "tcp") -> Walk:
    """One first packet from machine *sender* to *address*:*port* and what came back, step by step."""
    net = SimNetwork(load_scenario(scenario))
    answer = net.send(sender, address, port, protocol)
    return Walk(sender, f"{address}:{port}/{protocol}", answer.describe(), tuple(answer.path))


#: An evening at home: who opens which connection (inside host, remote, port, protocol, source port).
EVENING: tuple[tuple[str, str, int, str, int], ...] = (
    ("laptop", SERVER_A, 443, "tcp", 50000),     # a web page
    ("laptop", SERVER_B, 443, "tcp", 50000),     # the same browser port, another site
    ("nas", "203.0.113.53", 53, "udp", 41000),   # the NAS asks DNS for an update server's address
    ("printer", SERVER_A, 443, "tcp", 50000),    # the printer phones home, from the same port number
)


def day_at_home(connections: Sequence[tuple] = EVENING, scenario="home-nat", interval: float = 1.0):
    """The router's NAT table after *connections* (one per second of virtual time)."""
    from ...sim.experiments import nat_table_after
    return nat_table_after(scenario, connections, interval=interval)


def table_steps(connections: Sequence[tuple] = EVENING, scenario="home-nat"):
    """The table after the first 1, 2, ... connections: a list of DataFrames."""
    return [day_at_home(connections[:n], scenario).to_dataframe() for n in range(1, len(connections) + 1)]


@dataclass(frozen=True)
class LateAnswer:
    wait: float
    asker: str          # "NAS"
    inside: str         # its inside endpoint
    server: str         # the server it asked
    outside: str        # the outside endpoint the server answers to
    asked_at: float
    expires: float      # when the question's row is forgotten
    rows: tuple[str, ...]
    fate: str

    def __str__(self) -> str:
        import textwrap
        head = (f"The {self.asker} asked {self.server} at {self.asked_at:g} s, from {self.inside} (outside: "
                f"{self.outside}); that row is forgotten at {self.expires:g} s. The answer arrives "
                f"{self.wait:g} s later, at {self.asked_at + self.wait:g} s. The router's table then holds "
                f"{len(self.rows)} rows:")
        return "\n".join([*textwrap.wrap(head, 92), *(f"   {row}" for row in self.rows),
                          *textwrap.wrap(f"The answer: {self.fate}", 92)])


def late_answer(wait: float, scenario="home-nat") -> LateAnswer:
    """The NAS's DNS question of the evening (:data:`EVENING`) gets its answer *wait*
    seconds after it was asked: the router's table at that moment, and what becomes of
    the answer.  While the question's row lives, the answer is translated back to the
    NAS; once the row is forgotten (idle past its timeout), nothing translates the
    answer, so it is for the router itself, and meets the router's own firewall."""
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait < 10**9:
        raise BadInput(f"wait {wait!r}: expected a number of seconds, 0 or more (such as 10 or 60)")
    table = day_at_home(scenario=scenario)
    host, server, server_port, protocol, _sport = next(c for c in EVENING if c[3] == "udp")
    row = next(r for r in table.entries() if r.protocol == protocol and r.remote == f"{server}:{server_port}")
    outside_port = int(row.outside.rsplit(":", 1)[1])
    rows = table.entries(now=row.last_used + wait)          # forgets what has been idle too long
    inside, _how = table.lookup_inbound(protocol, (server, server_port), outside_port)
    if inside is not None:
        fate = f"translated back to {inside[0]}:{inside[1]}, it reaches the {host.upper()}."
    else:
        # An outside packet the table does not translate is for the router itself; the
        # scanner stands in for the server (both are outside, and nothing translates).
        reply = SimNetwork(load_scenario(scenario)).send("scanner", ROUTER_OUTSIDE, outside_port, protocol)
        verdict = (f"the router drops it ({_stopped_by(scenario, reply)})" if reply.kind == kernel.SILENCE
                   else f"the router answers it ({reply.describe()})")
        fate = (f"no row for {protocol} {outside_port} any more, so nothing translates it: it is for the "
                f"router itself, and {verdict}.")
    return LateAnswer(wait, host.upper(), row.inside, row.remote, row.outside, row.last_used, row.expires,
                      tuple(f"{r.protocol} {r.inside:20} -> {r.remote:17} forgotten at {r.expires:g} s"
                            for r in rows), fate)


def outside_scan(scenario, ports=OUTSIDE_PORTS, scan_type: str = "syn"):
    """A scan of the router's outside address from outside (simulated), by default of
    ports 1-1024 and 8080 (the forward's port): 1025 ports."""
    from ...engine import scan
    result = scan(ROUTER_OUTSIDE, ports, scan_type, scenario=scenario, keep_trace=False)
    return result


def summary(result) -> str:
    """``"1025 ports: 8080 open; 1024 filtered"`` for a one-host result."""
    from collections import Counter
    ports = result.hosts[0].ports
    counts = Counter(p.state.value for p in ports)
    opened = [str(p.port) for p in ports if p.state.value == "open"]
    parts = [f"{', '.join(opened)} open"] if opened else ["nothing open"]
    parts += [f"{n} {state}" for state, n in sorted(counts.items()) if state != "open"]
    return f"{result.hosts[0].address}, {len(ports)} ports: " + "; ".join(parts)


# ---------------------------------------------------------------- NAT and the firewall, apart

#: The probes of section 2: (what it is, address, port).
PROBES = (("router, nothing on 445", ROUTER_OUTSIDE, 445),
          ("router's admin page", ROUTER_OUTSIDE, 80),
          ("NAS, an inside address", NAS, 445))


def _answered_by(scenario, answer) -> str:
    names = {str(a): n for a, n in load_scenario(scenario).addresses().items()}
    if answer.kind in (kernel.SYN_ACK, kernel.RST):
        who = next((line.split(":")[0] for line in reversed(answer.path) if "listening on" in line), "")
        listening = next((line for line in reversed(answer.path) if "listening on" in line), "")
        how = "nothing listens" if "nothing listening" in listening else "its service"
        return f"{who or names.get(answer.responder, answer.responder)} ({how})"
    return "nobody"


def _stopped_by(scenario, answer) -> str:
    if answer.kind not in (kernel.SILENCE,):
        return "nothing"
    line = answer.path[-1]
    name, _, rest = line.partition(" ")
    if rest.startswith("input:"):
        return f"{name}'s input chain: {rest.partition(': ')[2]}"
    if rest.startswith("forward:"):
        router = load_scenario(scenario).machine(name)
        return f'{name}\'s forward rule forward_drop_new_from = "{router.firewall.forward_drop_new_from}"'
    return line


def apart(scan_type: str = "syn"):
    """Section 2's comparison: each probe of :data:`PROBES` scanned from outside in
    ``home-nat-nofirewall`` (NAT alone) and in ``home-nat`` (NAT and the router's
    firewall), with who answered without the firewall and what stopped the probe with it.
    Columns: ``probe, what, NAT alone, answered by, NAT + firewall, stopped by``."""
    import pandas as pd

    from ...engine import scan
    rows = []
    for what, address, port in PROBES:
        row = {"probe": f"{address}:{port}", "what": what}
        for label, scenario in (("NAT alone", NAT_ONLY), ("NAT + firewall", "home-nat")):
            result = scan(address, [port], scan_type, scenario=scenario, keep_trace=False)
            row[label] = str(result.hosts[0].ports[0].state)
            answer = SimNetwork(load_scenario(scenario)).send("scanner", address, port)
            if scenario == NAT_ONLY:
                row["answered by"] = _answered_by(scenario, answer)
            else:
                row["stopped by"] = _stopped_by(scenario, answer)
        rows.append(row)
    return pd.DataFrame(rows, columns=["probe", "what", "NAT alone", "answered by", "NAT + firewall",
                                       "stopped by"])


def live_apart(scan_type: str = "connect") -> dict[str, dict[str, str]]:
    """:data:`PROBES` scanned in the live lab (Linux, with root or a user namespace of your own), once in ``home-nat-nofirewall``
    and once in ``home-nat``: ``{scenario: {"address:port": state}}``."""
    from ...lab.run import Lab
    seen: dict[str, dict[str, str]] = {}
    for scenario in (NAT_ONLY, "home-nat"):
        with Lab(load_scenario(scenario)) as lab:
            states = {}
            for _what, address, port in PROBES:
                result = lab.scan(address, [port], scan_type, timing=5, retries=0, max_timeout=0.2,
                                  keep_trace=False)
                states[f"{address}:{port}"] = str(result.hosts[0].ports[0].state)
            seen[scenario] = states
    return seen


def timeouts(scenario="home-nat"):
    """How long an idle row of the router's NAT table lives in the simulator (the
    scenario's values, Linux's conntrack defaults unless the file says otherwise),
    beside the minimum the RFCs ask of a NAT."""
    import pandas as pd
    router = next(r for r in load_scenario(scenario).routers if r.nat is not None)
    nat = router.nat
    rows = [("UDP, not (yet) a stream", "nf_conntrack_udp_timeout", nat.udp_timeout,
             "RFC 4787 REQ-5: at least 120 s (300 s recommended)"),
            ("UDP stream (answered, still busy after 2 s)", "nf_conntrack_udp_timeout_stream",
             nat.udp_stream_timeout, "RFC 4787 REQ-5: at least 120 s (300 s recommended)"),
            ("TCP, established", "nf_conntrack_tcp_timeout_established", nat.tcp_timeout,
             "RFC 5382 REQ-5: at least 7440 s (2 h 4 min)")]
    return pd.DataFrame([{"row": what, "Linux sysctl": sysctl, "seconds": int(seconds), "RFC minimum": rfc}
                         for what, sysctl, seconds, rfc in rows])


# ---------------------------------------------------------------- RFC 4787

def _table(mapping: str = EIM, filtering: str = APDF) -> NatTable:
    return NatTable(ROUTER_OUTSIDE, mapping=mapping, filtering=filtering, port_allocation="preserve")


def mapping_demo():
    """One inside endpoint (the laptop's port 50000) talks to three remotes, under each mapping
    behaviour: the outside port each remote sees.  Endpoint-independent mapping gives one port for all."""
    import pandas as pd
    inside = ("192.168.77.10", 50000)
    remotes = [(SERVER_A, 443), (SERVER_A, 8443), (SERVER_B, 443)]
    rows = []
    for mapping in BEHAVIOURS:
        table = _table(mapping=mapping)
        for t, remote in enumerate(remotes):
            address, port = table.outbound("udp", inside, remote, now=float(t))
            rows.append({"mapping": mapping, "to remote": f"{remote[0]}:{remote[1]}",
                         "the remote sees": f"{address}:{port}"})
    return pd.DataFrame(rows)


def filtering_demo():
    """The laptop sent to SERVER_A:443 only.  Which packets to that outside port come in,
    under each filtering behaviour?"""
    import pandas as pd
    inside = ("192.168.77.10", 50000)
    senders = [(SERVER_A, 443, "the server it talked to"), (SERVER_A, 8443, "same address, another port"),
               (SERVER_B, 443, "another address")]
    rows = []
    for filtering in BEHAVIOURS:            # EIF, ADF, APDF
        table = _table(filtering=filtering)
        _, port = table.outbound("udp", inside, (SERVER_A, 443), now=0.0)
        for address, sport, what in senders:
            target, _why = table.lookup_inbound("udp", (address, sport), port)
            rows.append({"filtering": filtering, "packet from": f"{address}:{sport} ({what})",
                         "gets in": "yes" if target else "no: not translated, left to the router"})
    return pd.DataFrame(rows)


def hairpin_demo(scenario="home-nat-forward"):
    """The laptop opens http://10.77.0.2:8080 (the router's outside address) from inside,
    with hairpinning on (the default) and off: ``{"on": Walk, "off": Walk}``."""
    scn = load_scenario(scenario)
    router = scn.routers[0]
    off = replace(scn, routers=(replace(router, nat=replace(router.nat, hairpin=False)),))
    return {"on": walk(scn, "laptop", ROUTER_OUTSIDE, 8080), "off": walk(off, "laptop", ROUTER_OUTSIDE, 8080)}


# ---------------------------------------------------------------- live

def live_forward_scan(ports=OUTSIDE_PORTS):
    """``home-nat-forward`` as a live lab (Linux, with root or a user namespace of your own): a connect scan of the router's outside
    address from the lab's scanner.  Returns the result; the lab is torn down on return."""
    from ...lab.run import Lab
    with Lab(load_scenario("home-nat-forward")) as lab:
        # The lab's links lose nothing and answer in microseconds: one try and a short
        # timeout keep 1000 dropped ports from taking minutes.
        return lab.scan(ROUTER_OUTSIDE, ports, "connect", timing=5, retries=0, max_timeout=0.2,
                        keep_trace=False)


def recorded_outside(scenario: str = "home-nat-forward", scan: str = "syn"):
    """The scan of the router's outside address recorded in the live lab
    (``data/recordings/<scenario>/<scan>.json``): ``(ports probed, open ports)``."""
    from ...paths import DATA_DIR
    from ...results import load
    result = load(DATA_DIR / "recordings" / scenario / f"{scan}.json")
    host = next(h for h in result.hosts if h.address == ROUTER_OUTSIDE)
    return len(host.ports), [p.port for p in host.ports if p.state.value == "open"]
