"""The scan engine: targets × ports → probes → a transport → exchanges → states.

``scan()`` / ``scan_async()`` are the one public way to scan.  The order of work is
fixed on purpose: parse everything, run the scope guard, *then* build the
transport and ask it ``check()``, and only then send.  A refused or malformed scan
therefore never opens a socket.  Classification is :func:`portlab.states.classify`;
the engine adds nothing to nmap's rules.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import ipaddress
import random
import threading
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import attrgetter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from .errors import BadInput, MissingPrivilege
from .fdlimit import max_in_flight
from .gcpause import paused
from .portcolumns import PortColumns, picker
from .portspec import PortSpec, parse_ports
from .progress import Progress, Throttle
from .results import ExtraPorts, HostResult, PortNumbers, ScanResult
from .scope import ScopeGuard, running_labs
from .states import PortState, Probe, ScanType, classify
from .targets import Target, parse_targets, sort_key
from .timing import Timing, template
from .transports.base import Exchange, ExchangeColumns, Transport

DEFAULT_PORTS = "top1000"   # nmap's default

# Transport classes by name ("module:Class"), imported only when a scan asks for one.
TRANSPORTS: dict[str, str] = {
    "connect": "portlab.transports.connect:ConnectTransport",
    "raw": "portlab.transports.raw:RawSynTransport",
    "udp": "portlab.transports.udp:UdpTransport",
    "sim": "portlab.transports.sim:SimTransport",
    "replay": "portlab.transports.replay:ReplayTransport",
}
DEFAULT_TRANSPORT = {ScanType.CONNECT: "connect", ScanType.SYN: "raw", ScanType.UDP: "udp"}


def transport_class(name: str) -> type:
    """The Transport subclass registered as *name*."""
    try:
        where = TRANSPORTS[name]
    except KeyError:
        raise BadInput(f"transport {name!r}: expected one of {', '.join(TRANSPORTS)}") from None
    module_name, _, class_name = where.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            raise BadInput(f"transport {name!r} is not available in this portlab build") from None
        raise
    return getattr(module, class_name)


def _timing(timing: Union[int, str, Timing], **overrides: Any) -> Timing:
    base = timing if isinstance(timing, Timing) else template(timing)
    for key in ("retries", "max_parallel"):
        value = overrides.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0
                                  or (key == "max_parallel" and value < 1)):
            raise BadInput(f"{key} {value!r}: expected a whole number >= {1 if key == 'max_parallel' else 0}")
    for key in ("rate", "min_timeout", "max_timeout"):
        value = overrides.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value <= 0):
            raise BadInput(f"{key} {value!r}: expected a number > 0")
    changes = {"max_retries": overrides.get("retries"), "rate": overrides.get("rate"),
               "min_timeout": overrides.get("min_timeout"), "max_timeout": overrides.get("max_timeout"),
               "max_parallel": overrides.get("max_parallel")}
    result = base.with_overrides(**changes)
    if result.min_timeout > result.max_timeout:
        raise BadInput(f"min_timeout {result.min_timeout} is above max_timeout {result.max_timeout}")
    if result.initial_timeout > result.max_timeout or result.initial_timeout < result.min_timeout:
        result = result.with_overrides(
            initial_timeout=min(max(result.initial_timeout, result.min_timeout), result.max_timeout))
    return result


def _scan_type(scan_type: Union[str, ScanType]) -> ScanType:
    try:
        return ScanType(scan_type)
    except ValueError:
        raise BadInput(f"scan type {scan_type!r}: expected connect, syn or udp") from None



def _running_lab_routes(directory: Optional[Path] = None) -> list[tuple[str, str, list]]:
    """(lab prefix, scanner namespace, networks) of every complete running lab."""
    return [(lab.prefix, lab.scanner_netns, lab.networks) for lab in running_labs(directory)
            if lab.scanner_netns and lab.networks]


def lab_netns_for(addresses: Sequence[str], directory: Optional[Path] = None) -> Optional[str]:
    """The scanner namespace of the running lab whose networks hold *addresses*, or None
    when none of them is in a lab.

    A lab's networks are reachable only from inside its namespaces (the root namespace
    has ``unreachable`` guard routes for them), so a scan of them runs in the lab's
    scanner namespace.  One scan runs in one namespace: targets in two labs, or in a
    lab and elsewhere, are BadInput.
    """
    labs = _running_lab_routes(directory)
    if not labs:
        return None
    homes: dict[str, Optional[tuple[str, str]]] = {}
    for address in addresses:
        ip = ipaddress.ip_address(address)
        found = {(prefix, netns) for prefix, netns, networks in labs
                 if any(ip.version == net.version and ip in net for net in networks)}
        if len(found) > 1:
            raise BadInput(f"target {address} lies in the networks of several running labs "
                           f"({', '.join(sorted(p for p, _ in found))}); expected netns= naming "
                           f"the scanner namespace to scan from")
        homes[address] = found.pop() if found else None
    in_labs = {home for home in homes.values() if home is not None}
    if not in_labs:
        return None
    if len(in_labs) > 1:
        a, b = sorted(in_labs)[:2]
        raise BadInput(f"targets span two running labs ({a[0]}, {b[0]}); expected the "
                       f"targets of one lab per scan (a scan runs in one lab's namespace)")
    (prefix, netns), = in_labs
    outside = [address for address, home in homes.items() if home is None]
    if outside:
        raise BadInput(f"targets mix the running lab {prefix} with {outside[0]}, which is not "
                       f"in it; expected the targets of one lab per scan (a scan runs in one "
                       f"namespace: the lab's, {netns})")
    return netns


def _rootless_holder(netns: Optional[str]) -> Optional[dict]:
    """The lab process of this user's rootless lab that owns namespace *netns* (its
    scanner's or a machine's), unless this process already lives inside it; else None."""
    if netns is None:
        return None
    for lab in running_labs():
        if lab.holder and (netns.startswith(lab.prefix + "-") or netns.startswith(lab.prefix + ".")):
            from .lab import userns
            return None if userns.inside(lab.holder) else lab.holder
    return None


async def _scan_in_rootless_lab(holder: dict, request: "ScanRequest") -> ScanResult:
    # A user namespace can only be joined by a single-threaded process: a child joins
    # it, runs the very same scan in the lab's scanner namespace, and hands back the result.
    from .lab import userns
    from .scope import state_dir
    return await userns.scan_in_lab(holder, str(state_dir()), request.targets, request.kwargs())


def _without_other_users_ports(targets: Sequence[Target], ports: list[int], kind: ScanType) -> list[int]:
    """*ports* less those other users listen on, for a scan of loopback on a shared
    machine, said in one line (:mod:`portlab.shared` has the rule); else *ports*."""
    from .shared import narrow, tell
    narrowed = narrow([t.address for t in targets], ports, kind.protocol)
    if narrowed is None:
        return ports
    tell(narrowed.line)
    return narrowed.ports


def _require_netns_privilege(netns: str, why: str) -> None:
    from .privilege import CAP_SYS_ADMIN, has_capability

    # CAP_SYS_ADMIN: what setns() into a network namespace needs.
    if not has_capability(CAP_SYS_ADMIN):
        raise MissingPrivilege(f"{why}; entering its namespace {netns} needs root "
                               f"(CAP_SYS_ADMIN): run the scan as root (e.g. sudo)")


def build_probes(targets: Sequence[Target], ports: Sequence[int], scan_type: ScanType,
                 randomize: bool = True, seed: Optional[int] = None) -> list[Probe]:
    """Probes ordered by port then host; shuffled when *randomize* (nmap shuffles ports)."""
    probes = [Probe(t.address, port, scan_type) for port in ports for t in targets]
    if randomize:
        random.Random(seed).shuffle(probes)
    return probes


#: A scan of more probes than this runs in host groups, one after the other (nmap
#: does the same), so its probes and exchanges are never all in memory at once.
GROUP_PROBES = 1 << 18
#: A scan of more ports than this (hosts × ports) keeps each host's commonest
#: non-open answer as a count with a compact port list (nmap's "Not shown: 65530
#: closed ports", ExtraPorts), not one PortResult per port: a /24 × 65535 result
#: would otherwise need gigabytes.  Smaller scans, all the course's, list every port.
FOLD_PORTS = 1 << 20


def host_groups(targets: Sequence[Target], port_count: int) -> list[list[Target]]:
    """Targets cut into groups of at most GROUP_PROBES probes (at least one host each)."""
    size = max(1, GROUP_PROBES // max(1, port_count))
    return [list(targets[i:i + size]) for i in range(0, len(targets), size)] or [[]]


class Collector:
    """The report a scan hands its transport: it receives exchanges, one at a time or
    as columns (possibly from a transport's worker threads), and counts them."""

    def __init__(self, total: int, progress: Optional[Progress]):
        self.exchanges: list[Exchange] = []
        self.batches: list[ExchangeColumns] = []
        self.count = 0           # exchanges received in columns, this group
        self.before = 0          # exchanges of the host groups already assembled
        self.throttle = Throttle(progress, total) if progress is not None else None
        # Two loops may report columns at once: the count's += is not atomic.
        self._lock = threading.Lock()

    def __call__(self, exchange: Exchange) -> None:
        exchanges = self.exchanges
        exchanges.append(exchange)  # list.append is atomic under the GIL
        if self.throttle is not None:
            self.throttle.update(self.before + self.count + len(exchanges))

    def columns(self, batch: ExchangeColumns) -> None:
        with self._lock:
            self.batches.append(batch)
            self.count += len(batch.ports)
            done = self.before + self.count + len(self.exchanges)
        if self.throttle is not None:
            self.throttle.jump(done)

    def take(self, scan_type: ScanType) -> ExchangeColumns:
        """This group's exchanges (all of *scan_type*) as one set of columns; the
        collector starts afresh for the next group."""
        with self._lock:
            batches, self.batches = self.batches, []
            exchanges, self.exchanges = self.exchanges, []
            self.before += self.count + len(exchanges)
            self.count = 0
        return ExchangeColumns.join(scan_type, exchanges, batches)


def assemble(scan_type: ScanType, transport_name: str, started: datetime, elapsed: float,
             targets: Sequence[Target], exchanges: Union[Iterable[Exchange], ExchangeColumns],
             keep_trace: bool) -> ScanResult:
    """Classify every exchange and build the result, sorted by address then port.

    Each host's ports come as :class:`~portlab.portcolumns.PortColumns`: a full range
    is 65,535 exchanges, and turning each into a PortResult here cost more than writing
    the table and the JSON.  The work is done a column at a time, with ``sorted``,
    ``map`` and ``itemgetter`` doing the per-port steps in C.  *exchanges* may be
    :class:`ExchangeColumns` (what the collector takes) or any iterable of Exchanges.
    Round-trip times come from the transports already rounded to the microsecond.
    """
    from .registry import name_table

    names = {t.address: t.name for t in targets}
    hosts: dict[str, HostResult] = {t.address: HostResult(t.address, t.name) for t in targets}
    if not isinstance(exchanges, ExchangeColumns):
        exchanges = ExchangeColumns.of(scan_type, list(exchanges))
    _, addresses, numbers, replies, tries, rtts, traces = exchanges
    probes_sent = retries = 0
    if numbers:
        if keep_trace and traces is None:
            traces = ((),) * len(numbers)
        # The result's order (address, then port) as row numbers, sorted on a plain int
        # key.  Rows that come already sorted in runs (a forked shard sorts its own) cost
        # little more than a pass: the sort merges the runs.
        order = sorted(range(len(numbers)), key=numbers.__getitem__)
        per_address = Counter(addresses)
        in_order = sorted(per_address, key=sort_key)
        if len(in_order) > 1:
            rank = {address: k for k, address in enumerate(in_order)}
            ranks = list(map(rank.__getitem__, addresses))
            order.sort(key=ranks.__getitem__)      # stable: each host's ports stay in order
        take = picker(order)
        numbers, replies, tries, rtts = take(numbers), take(replies), take(tries), take(rtts)
        traces = take(traces) if keep_trace else None
        answers, answer = _classify_replies(scan_type, replies)
        probes_sent = sum(tries)
        retries = probes_sent - len(tries) + tries.count(0)    # a try beyond the first is a retry
        numbers = array("H", numbers)
        table = name_table(scan_type.protocol)
        start = 0
        for address in in_order:
            host = hosts.get(address)
            if host is None:  # a transport answered for an address we did not list: keep it
                host = hosts[address] = HostResult(address, names.get(address))
            rows = slice(start, start + per_address[address])
            start = rows.stop
            host.ports = PortColumns(
                scan_type.protocol, numbers[rows], array("H", answer[rows]), answers,
                array("H", tries[rows]), rtts[rows], traces[rows] if traces is not None else None, table)
    ordered_hosts = sorted(hosts.values(), key=lambda h: sort_key(h.address))
    return ScanResult(scan_type=scan_type, transport=transport_name, started=started,
                      elapsed_s=elapsed, hosts=ordered_hosts, probes_sent=probes_sent, retries=retries)


def _classify_replies(scan_type: ScanType, replies: Sequence[Any]) -> tuple[list, list[int]]:
    """(the distinct (state, reason) answers, each reply's index into them)."""
    # Transports share one Reply object per common answer (e.g. every refused port), so
    # the classifying loop runs once per distinct object, not once per port.
    distinct = dict(zip(map(id, replies), replies))
    answers: dict[tuple[PortState, str], int] = {}      # (state, reason) -> its index
    by_key: dict[tuple, int] = {}
    index_of: dict[int, int] = {}
    for key_id, reply in distinct.items():
        key = (reply.kind, reply.icmp_code, reply.errno)
        index = by_key.get(key)
        if index is None:
            verdict = classify(scan_type, reply)
            index = by_key[key] = answers.setdefault((verdict.state, verdict.reason), len(answers))
        index_of[key_id] = index
    return list(answers), list(map(index_of.__getitem__, map(id, replies)))


@dataclass(frozen=True)
class ScanRequest:
    """Everything a scan was asked, once: :func:`scan` and :func:`scan_async` build one,
    and the steps that move a scan (into a lab's namespace, into a rootless lab's
    child) pass it on, changed with :meth:`with_`, instead of copying keyword arguments."""

    targets: Union[str, Sequence[str]]
    ports: PortSpec = DEFAULT_PORTS
    scan_type: Union[str, ScanType] = "connect"
    timing: Union[int, str, Timing] = 3
    transport: Union[Transport, str, None] = None
    scenario: Any = None
    allow: Union[str, Iterable[str]] = ()
    retries: Optional[int] = None
    rate: Optional[float] = None
    min_timeout: Optional[float] = None
    max_timeout: Optional[float] = None
    max_parallel: Optional[int] = None
    randomize: bool = True
    progress: Optional[Progress] = None
    netns: Optional[str] = None
    keep_trace: bool = True
    seed: Optional[int] = None

    def with_(self, **changes: Any) -> "ScanRequest":
        return dataclasses.replace(self, **changes)

    def kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :func:`scan` (all but *targets*)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "targets"}


async def scan_async(targets: Union[str, Sequence[str]], ports: PortSpec = DEFAULT_PORTS,
                     scan_type: Union[str, ScanType] = "connect", *,
                     timing: Union[int, str, Timing] = 3, transport: Union[Transport, str, None] = None,
                     scenario: Any = None, allow: Union[str, Iterable[str]] = (),
                     retries: Optional[int] = None, rate: Optional[float] = None,
                     min_timeout: Optional[float] = None, max_timeout: Optional[float] = None,
                     max_parallel: Optional[int] = None, randomize: bool = True,
                     progress: Optional[Progress] = None, netns: Optional[str] = None,
                     keep_trace: bool = True, seed: Optional[int] = None) -> ScanResult:
    """Scan *targets* on *ports*; see :func:`scan` (this is its awaitable form)."""
    request = ScanRequest(targets, ports, scan_type, timing, transport, scenario, allow, retries, rate,
                          min_timeout, max_timeout, max_parallel, randomize, progress, netns, keep_trace, seed)
    return await _run_request(request)


async def _run_request(request: ScanRequest) -> ScanResult:
    with paused():
        return await _run_request_now(request)


async def _run_request_now(request: ScanRequest) -> ScanResult:
    holder = _rootless_holder(request.netns)
    if holder is not None:
        return await _scan_in_rootless_lab(holder, request)
    if request.netns is not None:
        # The whole scan runs in a thread that entered the namespace; await it here.
        runner = _ThreadRunner(lambda: _scan_here(request, find_lab=False), netns=request.netns)
        return await runner.wait_async()
    return await _scan_here(request, find_lab=True)


async def _scan_here(request: ScanRequest, find_lab: bool) -> ScanResult:
    """The scan, in the calling thread's namespace.  With *find_lab*, targets in a
    running lab's networks move the scan into that lab's scanner namespace."""
    r = request
    kind = _scan_type(r.scan_type)
    plan = _timing(r.timing, retries=r.retries, rate=r.rate, min_timeout=r.min_timeout,
                   max_timeout=r.max_timeout, max_parallel=r.max_parallel)
    port_list = parse_ports(r.ports, kind.protocol)
    target_list = parse_targets(r.targets)
    allowed_extra: list[str] = []
    scenario, transport, keep_trace = r.scenario, r.transport, r.keep_trace

    # The simulator and replay send nothing, so building them before the guard is safe,
    # and the guard needs their networks.  A packet-sending transport is built after.
    chosen: Optional[Transport] = None
    if scenario is not None:
        if transport is not None:
            raise BadInput("scan: give either scenario= or transport=, not both")
        chosen = transport_class("sim")(scenario, keep_trace=keep_trace)
        allowed_extra = chosen.answers_for()
    elif isinstance(transport, Transport):
        chosen = transport
        allowed_extra = chosen.answers_for()
    elif transport is not None and not isinstance(transport, str):
        raise BadInput(f"transport {transport!r}: expected a name ({', '.join(TRANSPORTS)}) "
                       f"or a Transport instance")

    label = ""
    if scenario is not None:
        label = f", the scenario's networks {', '.join(allowed_extra) or '(none)'}"
    elif allowed_extra:
        label = f", the {chosen.name} transport's hosts"
    ScopeGuard(r.allow, allowed_extra, extra_label=label).check(
        [t.address for t in target_list], names={t.address: t.name for t in target_list})

    if find_lab and scenario is None and not allowed_extra:
        # A packet-sending scan of a running lab's hosts: they are reachable only from
        # the lab's scanner namespace, so the scan goes there (as netns= would).
        lab_netns = lab_netns_for([t.address for t in target_list])
        holder = _rootless_holder(lab_netns)
        if holder is not None:
            return await _scan_in_rootless_lab(holder, r.with_(netns=lab_netns))
        if lab_netns is not None:
            _require_netns_privilege(lab_netns, "the targets are in a running lab, reachable "
                                                "only from inside it")
            runner = _ThreadRunner(lambda: _scan_here(r, find_lab=False), netns=lab_netns)
            return await runner.wait_async()

    if chosen is None:
        name = transport if isinstance(transport, str) else DEFAULT_TRANSPORT[kind]
        chosen = transport_class(name)(keep_trace=keep_trace)
    if kind not in chosen.scan_types:
        raise BadInput(f"the {chosen.name} transport cannot run a {kind} scan")
    chosen.check(kind)

    if chosen.sends_packets:
        # Every in-flight probe may be a descriptor: stay below RLIMIT_NOFILE.  (Not for
        # the simulator or a replay: they open nothing, and their timing is virtual.)
        plan = plan.with_overrides(max_parallel=max_in_flight(plan.max_parallel))
        if find_lab:
            # This machine's own loopback: on a shared machine, not other users' ports.
            port_list = _without_other_users_ports(target_list, port_list, kind)

    total = len(target_list) * len(port_list)
    collector = Collector(total, r.progress)
    shuffler = random.Random(r.seed)
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    parts: list[ScanResult] = []
    virtual_total = 0.0
    for group in host_groups(target_list, len(port_list)):
        probes = build_probes(group, port_list, kind, randomize=False)
        if r.randomize:
            shuffler.shuffle(probes)
        await chosen.run(probes, plan, collector)
        del probes
        virtual_total += chosen.virtual_elapsed or 0.0
        part = assemble(kind, chosen.name, started, 0.0, group, collector.take(kind), keep_trace)
        if total > FOLD_PORTS:
            for host in part.hosts:
                fold_commonest(host)
        parts.append(part)
    elapsed = time.perf_counter() - t0
    if collector.throttle is not None:
        collector.throttle.final(collector.before)
    virtual = chosen.virtual_elapsed
    result = parts[0] if len(parts) == 1 else _join(parts)
    result.elapsed_s = (virtual_total if len(parts) > 1 else virtual) if virtual is not None else elapsed
    return result


def _join(parts: Sequence[ScanResult]) -> ScanResult:
    hosts = sorted((h for part in parts for h in part.hosts), key=lambda h: sort_key(h.address))
    first = parts[0]
    return ScanResult(scan_type=first.scan_type, transport=first.transport, started=first.started,
                      elapsed_s=0.0, hosts=hosts, probes_sent=sum(p.probes_sent for p in parts),
                      retries=sum(p.retries for p in parts))


_FOLD_KEY = attrgetter("state", "reason", "tries")


def fold_commonest(host: HostResult) -> None:
    """Keep *host*'s commonest non-open answer (state, reason, tries) as an ExtraPorts
    count with its port numbers in a compact array, the way nmap folds its output."""
    ports = host.ports
    if len(ports) < 2:
        return
    tally = Counter(map(_FOLD_KEY, ports))
    for key, count in tally.most_common():
        if key[0] != PortState.OPEN:    # nmap never folds open ports
            break
    else:
        return
    if count < 2:
        return
    state, reason, _ = key
    folded = [p.port for p in ports if _FOLD_KEY(p) == key]
    host.ports = [p for p in ports if _FOLD_KEY(p) != key]
    host.extraports.append(ExtraPorts(state=state, count=count, reasons={reason: count},
                                      ports=PortNumbers(folded), protocol=ports[0].protocol))


def scan(targets: Union[str, Sequence[str]], ports: PortSpec = DEFAULT_PORTS,
         scan_type: Union[str, ScanType] = "connect", *,
         timing: Union[int, str, Timing] = 3, transport: Union[Transport, str, None] = None,
         scenario: Any = None, allow: Union[str, Iterable[str]] = (),
         retries: Optional[int] = None, rate: Optional[float] = None,
         min_timeout: Optional[float] = None, max_timeout: Optional[float] = None,
         max_parallel: Optional[int] = None, randomize: bool = True,
         progress: Optional[Progress] = None, netns: Optional[str] = None,
         keep_trace: bool = True, seed: Optional[int] = None) -> ScanResult:
    """Scan *targets* (address, hostname, CIDR, or a list) on *ports* and wait for the result.

    ``ports``: ``"22,80"``, ``"1-1024"``, ``"-"`` (all), ``"top100"``, or a list of ints.
    ``scan_type``: ``connect`` (no privilege), ``syn`` or ``udp`` (root / CAP_NET_RAW).
    ``scenario``: a scenario file or object: scan its simulated network, send nothing.
    ``allow``: CIDR blocks outside loopback/labs that you are authorized to scan.
    ``netns``: run the scan inside that network namespace (the live lab; root, or the
    user who owns a rootless lab: the scan then runs in a child that joins it).  Not
    needed for a running lab's hosts: a scan whose targets lie in one running lab's
    networks runs in that lab's scanner namespace by itself (targets in two labs, or
    in a lab and elsewhere, are BadInput; without root, MissingPrivilege).

    On a shared machine, a live scan of loopback by a process without CAP_NET_ADMIN
    leaves out the ports other users listen on, before any packet is sent, and says
    which in one line on stderr (:mod:`portlab.shared` has the rule).

    Works inside Jupyter (where an event loop is already running) by running the scan
    on a worker thread with its own loop.
    """
    request = ScanRequest(targets, ports, scan_type, timing, transport, scenario, allow, retries, rate,
                          min_timeout, max_timeout, max_parallel, randomize, progress, netns, keep_trace, seed)
    try:
        asyncio.get_running_loop()
        loop_running = True
    except RuntimeError:
        loop_running = False
    if netns is not None and _rootless_holder(netns) is not None:
        # A rootless lab's namespace: the request goes to a child that joins it.
        if not loop_running:
            return asyncio.run(_run_request(request))
        return _ThreadRunner(lambda: _run_request(request)).wait()
    if netns is None and not loop_running:
        return asyncio.run(_run_request(request))
    # Inside netns= the caller has said where to scan from: no looking for a lab.
    return _ThreadRunner(lambda: _scan_here(request, find_lab=netns is None), netns=netns).wait()


class _ThreadRunner:
    """Run a coroutine on a new thread with its own event loop (optionally inside a
    network namespace), and let the caller wait for it or cancel it.

    Cancelling (Ctrl-C in the waiting thread, or the awaiting task cancelled) cancels
    the coroutine in its own loop and waits until it has finished cleaning up, so the
    transport's sockets are closed before the caller sees the interruption."""

    def __init__(self, make_coro, netns: Optional[str] = None):
        self._make_coro = make_coro
        self._netns = netns
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._task: Optional[asyncio.Task] = None
        self._ready = threading.Event()
        # Waited on instead of Thread.join: on Python 3.11 a join interrupted by Ctrl-C
        # marks the still-running thread as stopped (bpo-45274's fix), and a second
        # join then returns at once, before the scan has closed its sockets.
        self._done = threading.Event()
        self._result: Any = None
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._main, name="portlab-scan", daemon=True)
        self._thread.start()

    def _main(self) -> None:
        try:
            if self._netns is not None:
                from .nsenter import enter_netns
                enter_netns(self._netns)
            loop = asyncio.new_event_loop()
        except BaseException as err:
            self._error = err
            self._ready.set()
            self._done.set()
            return
        try:
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._task = loop.create_task(self._make_coro())
            self._ready.set()
            try:
                self._result = loop.run_until_complete(self._task)
            except BaseException as err:  # re-raised in the waiting thread
                self._error = err
        finally:
            self._ready.set()
            loop.close()
            self._done.set()

    def cancel(self) -> None:
        self._ready.wait()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:
                pass  # the loop already closed: nothing left to cancel

    def _outcome(self) -> Any:
        if self._error is not None:
            raise self._error
        return self._result

    def _wait_done(self) -> None:
        # Not interruptible on purpose: cleanup after a cancel must finish.
        while not self._done.wait(0.1):
            pass

    def wait(self) -> Any:
        try:
            # A wait with a timeout lets Ctrl-C (KeyboardInterrupt) reach this thread.
            while not self._done.wait(0.1):
                pass
        except BaseException:
            self.cancel()
            self._wait_done()
            raise
        return self._outcome()

    async def wait_async(self) -> Any:
        try:
            while not self._done.is_set():
                await asyncio.sleep(0.02)
        except BaseException:
            self.cancel()
            await asyncio.to_thread(self._wait_done)
            raise
        return self._outcome()
