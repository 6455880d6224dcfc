"""nmap ``-oX`` XML, read and written.

Reading takes real nmap files (tested with nmap 7.93's output) and is safe
against hostile ones: the expat parser is driven directly, and any entity
declaration (the billion-laughs and external-entity attacks both need one) or
external reference stops the parse with BadInput.  nmap's own ``<!DOCTYPE
nmaprun>`` line carries no entities, so it passes.

nmap lists interesting ports one by one and folds the rest into ``<extraports
state="closed" count="1995">``.  nmap 7.9x names the folded ports in
``<extrareasons ... ports="1-21,23-79"/>``; those are expanded into ordinary
PortResults so the result is complete.  Older files give only counts: when the
host has one fold per protocol with one reason and ``<scaninfo services=...>``
says what was scanned, the folded ports are worked out as "scanned but not
listed"; otherwise they stay as counts in ``HostResult.extraports``.

Writing follows nmap, folding states the way nmap's table does (more than 25
ports in a non-open state), with ``ports=`` so portlab reads the fold back.  A
folded port keeps its state and reason but loses its service name, tries, RTT
and trace: portlab XML is for nmap-reading tools, and JSON is the lossless
recording format.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
import itertools
from itertools import repeat
from operator import attrgetter, eq, not_
from datetime import datetime, timezone
from typing import Optional, Union
from xml.parsers import expat
from xml.sax.saxutils import quoteattr

from ..errors import BadInput
from ..portcolumns import PortColumns, columns_of, kept_rows
from ..results import ExtraPorts, HostResult, PortResult, ScanResult
from ..states import PortState, ScanType
from .jsonfmt import as_utc
from .portlist import compress, expand
from .table import folded_states

#: nmap's <scaninfo type=...> for the scans portlab models.
NMAP_SCAN_TYPES = {"connect": ScanType.CONNECT, "syn": ScanType.SYN, "udp": ScanType.UDP}
XML_OUTPUT_VERSION = "1.05"


class UnsafeXML(Exception):
    """Raised from inside the expat handlers; turned into BadInput by :func:`parse_safely`."""


# -- safe parsing -------------------------------------------------------------

def parse_safely(data: Union[str, bytes], where: str) -> ET.Element:
    """An ElementTree of *data*, refusing entity declarations and external references."""
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate()

    def refuse_entity(name, *_args):
        raise UnsafeXML(f"declares the entity {name!r}; entity declarations are refused "
                        "(they are how billion-laughs and external-entity attacks work)")

    def refuse_external(context, base, system_id, public_id):
        raise UnsafeXML(f"refers to an external resource {system_id!r}; it is not fetched")

    parser.EntityDeclHandler = refuse_entity
    parser.UnparsedEntityDeclHandler = refuse_entity
    parser.ExternalEntityRefHandler = refuse_external
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except UnsafeXML as err:
        raise BadInput(f"{where}: unsafe XML: the file {err}") from None
    except expat.ExpatError as err:
        what = "truncated XML" if err.code == expat.errors.codes[expat.errors.XML_ERROR_NO_ELEMENTS] \
            or "unclosed" in str(err) else "malformed XML"
        raise BadInput(f"{where}: {what} at line {err.lineno}, column {err.offset + 1}: "
                       f"{expat.errors.messages[err.code]}") from None
    return builder.close()


# -- reading ------------------------------------------------------------------

def loads(data: Union[str, bytes], where: str = "XML") -> ScanResult:
    root = parse_safely(data, where)
    if root.tag != "nmaprun":
        raise BadInput(f"{where}: not an nmap -oX file (the root element is <{root.tag}>, expected <nmaprun>)")
    scaninfos = root.findall("scaninfo")
    if not scaninfos:
        raise BadInput(f"{where}: <nmaprun> has no <scaninfo>; expected the XML of an nmap port scan")
    nmap_type = scaninfos[0].get("type", "")
    if nmap_type not in NMAP_SCAN_TYPES:
        raise BadInput(f"{where}: nmap scan type {nmap_type!r} is not one portlab models; "
                       f"expected one of {', '.join(NMAP_SCAN_TYPES)}")
    scanned: dict[str, list[int]] = {}
    for info in scaninfos:
        try:
            scanned[info.get("protocol", "tcp")] = expand(info.get("services", ""))
        except ValueError as err:
            raise BadInput(f"{where}: <scaninfo services=...>: {err}") from None
    started = _epoch(root.get("start"), where, "<nmaprun start=...>")
    finished = root.find("runstats/finished")
    elapsed = _number(finished.get("elapsed") if finished is not None else None, where,
                      "<finished elapsed=...>", default=0.0)
    hosts = [_host(element, where, scanned) for element in root.findall("host")
             if (element.find("status") is None or element.find("status").get("state") == "up")]
    return ScanResult(scan_type=NMAP_SCAN_TYPES[nmap_type], transport="nmap", started=started,
                      elapsed_s=elapsed, hosts=hosts)


def _epoch(text: Optional[str], where: str, what: str) -> datetime:
    seconds = _number(text, where, what)
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc)


def _number(text: Optional[str], where: str, what: str, default: Optional[float] = None) -> float:
    if text is None:
        if default is not None:
            return default
        raise BadInput(f"{where}: {what} is missing")
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"{where}: {what} is {text!r}, expected a number") from None


def _state(text: Optional[str], where: str, what: str) -> PortState:
    try:
        return PortState(text)
    except ValueError:
        raise BadInput(f"{where}: {what} is {text!r}, expected one of "
                       f"{', '.join(s.value for s in PortState)}") from None


def _host(element: ET.Element, where: str, scanned: dict[str, list[int]]) -> HostResult:
    address = None
    for addr in element.findall("address"):
        if addr.get("addrtype") in ("ipv4", "ipv6"):
            address = addr.get("addr")
            break
    if not address:
        raise BadInput(f"{where}: a <host> has no ipv4/ipv6 <address>")
    hostname = element.find("hostnames/hostname")
    host = HostResult(address=address, name=hostname.get("name") if hostname is not None else None)
    here = f"{where}: host {address}"
    for port in element.findall("ports/port"):
        state = port.find("state")
        if state is None:
            raise BadInput(f"{here}: <port portid={port.get('portid')!r}> has no <state>")
        service = port.find("service")
        host.ports.append(PortResult(
            port=int(_number(port.get("portid"), here, "<port portid=...>")),
            protocol=port.get("protocol", "tcp"),
            state=_state(state.get("state"), here, f"port {port.get('portid')} state"),
            reason=state.get("reason", "unknown"),
            service=service.get("name") if service is not None else None,
        ))
    default_protocol = next(iter(scanned), "tcp")
    folds = element.findall("ports/extraports")
    for fold in folds:
        state = _state(fold.get("state"), here, "<extraports state=...>")
        count = int(_number(fold.get("count"), here, "<extraports count=...>"))
        reasons = fold.findall("extrareasons")
        protocol = next((r.get("proto") for r in reasons if r.get("proto")), default_protocol)
        if reasons and all(r.get("ports") for r in reasons):
            for reason in reasons:
                try:
                    numbers = expand(reason.get("ports", ""))
                except ValueError as err:
                    raise BadInput(f"{here}: <extrareasons ports=...>: {err}") from None
                host.ports += [PortResult(n, reason.get("proto") or protocol, state, reason.get("reason", "unknown"))
                               for n in numbers]
            continue
        host.extraports.append(ExtraPorts(
            state=state, count=count, protocol=protocol,
            reasons={r.get("reason", "unknown"): int(_number(r.get("count"), here, "<extrareasons count=...>"))
                     for r in reasons}))
    _infer_folded_ports(host, scanned)
    host.ports.sort(key=lambda p: (p.protocol, p.port))
    return host


def _infer_folded_ports(host: HostResult, scanned: dict[str, list[int]]) -> None:
    """Name count-only folds when that is unambiguous (older nmap writes no ports=)."""
    by_protocol: dict[str, list[ExtraPorts]] = defaultdict(list)
    for extra in host.extraports:
        by_protocol[extra.protocol].append(extra)
    for protocol, extras in by_protocol.items():
        if len(extras) != 1 or len(extras[0].reasons) != 1 or protocol not in scanned:
            continue
        listed = {p.port for p in host.ports if p.protocol == protocol}
        rest = [n for n in scanned[protocol] if n not in listed]
        extra = extras[0]
        if len(rest) != extra.count:
            continue  # the numbers do not add up: keep what the file says, as counts
        reason = next(iter(extra.reasons))
        host.ports += [PortResult(n, protocol, extra.state, reason) for n in rest]
        host.extraports.remove(extra)


# -- writing ------------------------------------------------------------------

def _ctime(moment: datetime) -> str:
    # nmap prints C's ctime(): "Thu Nov  6 04:20:40 2026" (day padded with a space).
    return f"{moment:%a %b} {moment.day:2d} {moment:%H:%M:%S %Y}"


def _addrtype(address: str) -> str:
    try:
        return f"ipv{ipaddress.ip_address(address).version}"
    except ValueError:
        return "ipv4"


def _tag(name: str, attrs: dict[str, object], close: bool = True) -> str:
    body = "".join(f" {key}={quoteattr(str(value))}" for key, value in attrs.items())
    return f"<{name}{body}{'/' if close else ''}>"


def dumps(result: ScanResult) -> str:
    started = as_utc(result.started)
    scan_type = ScanType(result.scan_type)
    start = int(started.timestamp())
    end = int(start + result.elapsed_s)
    scanned: dict[str, set[int]] = defaultdict(set)
    counted: Counter[str] = Counter()
    for host in result.hosts:
        columns = columns_of(host.ports)
        if columns is not None:          # a scan's own result: its port numbers in one array
            if len(columns):
                scanned[columns.protocol].update(columns.numbers)
        else:
            protocols_here = set(map(_PROTOCOL, host.ports))
            if len(protocols_here) == 1:     # the usual case: one scan type, one protocol
                scanned[protocols_here.pop()].update(map(_PORT, host.ports))
            else:
                for port in host.ports:
                    scanned[port.protocol].add(port.port)
        for extra in host.extraports:
            counted[extra.protocol] += extra.count
            if extra.ports is not None:
                scanned[extra.protocol].update(extra.ports)
    protocols = sorted(set(scanned) | set(counted)) or [scan_type.protocol]
    targets = " ".join(h.address for h in result.hosts)
    spec = ",".join(compress(scanned[p]) for p in protocols if scanned[p])
    args = f"portlab scan -s {scan_type.value} -p {spec} {targets}".strip()
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<!DOCTYPE nmaprun>",
             f"<!-- portlab {result.portlab} scan initiated {_ctime(started)} as: {args.replace('--', '-&#45;')} -->",
             _tag("nmaprun", {"scanner": "portlab", "args": args, "start": start, "startstr": _ctime(started),
                              "version": result.portlab, "xmloutputversion": XML_OUTPUT_VERSION}, close=False)]
    for protocol in protocols:
        numbers = scanned[protocol]
        lines.append(_tag("scaninfo", {"type": scan_type.value, "protocol": protocol,
                                       "numservices": len(numbers) + counted[protocol],
                                       "services": compress(numbers)}))
    lines += ['<verbose level="0"/>', '<debugging level="0"/>']
    for host in result.hosts:
        lines += _host_lines(host, start, end)
    elapsed = f"{result.elapsed_s:.2f}"
    n = len(result.hosts)
    summary = (f"portlab done at {_ctime(started)}; {n} IP address{'es' if n != 1 else ''} "
               f"({n} host{'s' if n != 1 else ''} up) scanned in {elapsed} seconds")
    lines.append("<runstats>" + _tag("finished", {"time": end, "timestr": _ctime(datetime.fromtimestamp(end, timezone.utc)),
                                                  "summary": summary, "elapsed": elapsed, "exit": "success"})
                 + _tag("hosts", {"up": n, "down": 0, "total": n}))
    lines += ["</runstats>", "</nmaprun>", ""]
    return "\n".join(lines)


# Per-port fields read in C (attrgetter through map): a full range is 65535 ports.
_PORT, _PROTOCOL, _STATE = attrgetter("port"), attrgetter("protocol"), attrgetter("state")


def _folds_from_columns(columns: PortColumns, folded: set[str],
                  folds: dict[tuple[str, str], dict[str, list[int]]]) -> list[PortResult]:
    """What the list path of _host_lines does, read from live columns: the ports of the
    folded answers go into *folds* (in the order the answers first appear, as there),
    and the others come back as PortResults (a few, made from the columns)."""
    fold = [state in folded for state, _ in columns.answers]
    for index in dict.fromkeys(columns.answer):      # each answer once, first seen first
        if fold[index]:
            state, reason = columns.answers[index]
            rows = itertools.compress(columns.numbers, map(eq, columns.answer, repeat(index)))
            folds[(state, columns.protocol)][reason].extend(rows)
    return kept_rows(columns, map(not_, map(fold.__getitem__, columns.answer)))


def _host_lines(host: HostResult, start: int, end: int) -> list[str]:
    lines = [_tag("host", {"starttime": start, "endtime": end}, close=False)
             + _tag("status", {"state": "up", "reason": "user-set", "reason_ttl": 0}),
             _tag("address", {"addr": host.address, "addrtype": _addrtype(host.address)})]
    if host.name:
        lines += ["<hostnames>", _tag("hostname", {"name": host.name, "type": "user"}), "</hostnames>"]
    else:
        lines.append("<hostnames>\n</hostnames>")
    folded = folded_states(host)
    # (state, protocol) -> reason -> ports, for the states nmap would fold.
    folds: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    # A PortState is a str enum: it is found in *folded* (plain strings) as it is, and
    # str() runs once per group below instead of twice per port (65535 of them).
    columns = columns_of(host.ports)
    if columns is not None:
        listed = _folds_from_columns(columns, folded, folds)
    else:
        listed = []
        for port, state in zip(host.ports, map(_STATE, host.ports)):
            if state in folded:
                folds[(state, port.protocol)][port.reason].append(port.port)
            else:
                listed.append(port)
    body = []
    for (state, protocol), reasons in folds.items():
        total = sum(len(ports) for ports in reasons.values())
        body.append(_tag("extraports", {"state": state, "count": total}, close=False))
        for reason, ports in reasons.items():
            body.append(_tag("extrareasons", {"reason": reason, "count": len(ports), "proto": protocol,
                                              "ports": compress(ports)}))
        body.append("</extraports>")
    for extra in host.extraports:
        body.append(_tag("extraports", {"state": str(extra.state), "count": extra.count}, close=False))
        for reason, count in extra.reasons.items():
            attrs: dict[str, object] = {"reason": reason, "count": count, "proto": extra.protocol}
            if extra.ports is not None and len(extra.reasons) == 1:
                attrs["ports"] = compress(extra.ports)
            body.append(_tag("extrareasons", attrs))
        body.append("</extraports>")
    for port in sorted(listed, key=lambda p: (p.protocol, p.port)):
        service = _tag("service", {"name": port.service, "method": "table", "conf": 3}) if port.service else ""
        body.append(_tag("port", {"protocol": port.protocol, "portid": port.port}, close=False)
                    + _tag("state", {"state": str(port.state), "reason": port.reason, "reason_ttl": 0})
                    + service + "</port>")
    lines.append("<ports>" + "\n".join(body) + "\n</ports>")
    lines.append("</host>")
    return lines
