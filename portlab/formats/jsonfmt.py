"""portlab JSON: the result format of docs/design.md, which is also the recording format.

Lossless on purpose: every probed port can be recovered, and the extra keys a
teaching notebook wants (``probes_sent``, ``retries``; per port ``tries``, ``rtt``,
``trace``; per host ``extraports`` for nmap files that only give counts) are
written whenever they hold something, so ``from_json(to_json(r)) == r``.

Compact on purpose too: one port per line, and a host's most common kind of port
(same state, reason, protocol and tries, no trace; usually the closed ones) folded
into one ``extraports`` entry the way nmap's XML folds them, with the port list
written as nmap does (``"1-21,23-79"``), the service names of the folded ports as a
``{"port": "name"}`` map and their round-trip times as a list in port order.  The
reader expands the fold back into ordinary ports, so ``show``, the DataFrame and
every other reader see every port.  A full-range scan is about 1.5 MB instead of 8.
"""

from __future__ import annotations

import json
from collections import Counter
from itertools import compress, islice, repeat
from operator import attrgetter, eq, is_, is_not, lt, not_
from datetime import datetime, timezone
from typing import Any, Optional, Union

from .. import __version__
from ..errors import BadInput
from ..portcolumns import PortColumns, columns_of, kept_rows
from ..results import ExtraPorts, HostResult, PortNumbers, PortResult, ScanResult, TraceEvent
from ..states import PortState, ScanType
from . import portlist


def as_utc(moment: datetime) -> datetime:
    """*moment* in UTC; a naive time is taken to be UTC already (the engine's contract)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; fractions of a second only when there are some."""
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    # Python 3.10's fromisoformat does not take "Z"; normalise it first.
    value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


# -- writing -------------------------------------------------------------------

def to_dict(result: ScanResult) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "portlab": result.portlab,
        "scan_type": ScanType(result.scan_type).value,
        "transport": result.transport,
        "started": format_time(result.started),
        "elapsed_s": result.elapsed_s,
        "probes_sent": result.probes_sent,
        "retries": result.retries,
        "hosts": [_host_dict(host) for host in result.hosts],
    }
    if result.source is not None:
        doc["source"] = result.source
    return doc


#: A host's most common kind of port is folded when it has more ports than this (nmap's
#: table threshold); smaller results list every port, which is easier to read.
FOLD_ABOVE = 25


def _fold_key(port: PortResult) -> Optional[tuple]:
    if port.trace:
        return None  # a trace is per port; such ports stay listed
    # PortState is a str enum: the member hashes and compares as its value, so no str() per port.
    return (port.state, port.reason, port.protocol, port.tries)


# Per-port fields read in C (operator.attrgetter through map) rather than in a Python
# loop: a full range is 65535 ports, and a write folds them every time.
_PORT = attrgetter("port")
_KEY = attrgetter("state", "reason", "protocol", "tries")
_TRACE = attrgetter("trace")
_RTT = attrgetter("rtt")
_SERVICE = attrgetter("service")


def fold(host: HostResult) -> tuple[list[PortResult], Optional[dict[str, Any]]]:
    """(ports still listed, the extraports entry of the folded ones or None)."""
    ports = host.ports
    if len(ports) <= FOLD_ABOVE:
        return ports, None
    columns = columns_of(ports)
    if columns is not None:
        return _fold_columns(columns)
    numbers = list(map(_PORT, ports))
    # Expansion puts folded ports back in port order, so fold only a list in that order.
    if not all(map(lt, numbers, islice(numbers, 1, None))):
        return ports, None
    if any(map(_TRACE, ports)):
        keys = list(map(_fold_key, ports))
    else:
        # PortState is a str enum: the member hashes and compares as its value.
        keys = list(map(_KEY, ports))
    found = _commonest(keys)
    if found is None:
        return ports, None
    (state, reason, protocol, tries), is_folded = found
    folded = list(compress(ports, is_folded))
    folded_numbers = list(compress(numbers, is_folded))
    services = {str(n): s for n, s in zip(folded_numbers, map(_SERVICE, folded)) if s is not None}
    return (list(compress(ports, map(not_, is_folded))),
            _entry(state, reason, protocol, tries, folded_numbers, services, list(map(_RTT, folded))))


def _fold_columns(columns: PortColumns) -> tuple[list[PortResult], Optional[dict[str, Any]]]:
    """:func:`fold` on the engine's columns (sorted by port, one protocol): the same
    entry, keyed by answer number and tries instead of four fields of every port."""
    keys = list(zip(columns.answer, columns.tries))
    if columns.has_traces():
        for i in compress(range(len(keys)), columns.traces):
            keys[i] = None     # a trace is per port; such ports stay listed
    found = _commonest(keys)
    if found is None:
        return columns, None
    (answer, tries), is_folded = found
    state, reason = columns.answers[answer]
    folded_numbers = list(compress(columns.numbers, is_folded))
    names = columns.names
    named = compress(folded_numbers, map(is_not, map(names.__getitem__, folded_numbers), repeat(None)))
    services = {str(n): names[n] for n in named}
    return (kept_rows(columns, map(not_, is_folded)),
            _entry(state, reason, columns.protocol, tries, folded_numbers, services,
                   list(compress(columns.rtt, is_folded))))


def _commonest(keys: list) -> Optional[tuple[Any, list[bool]]]:
    """(the commonest key, which ports have it) when more than FOLD_ABOVE ports share
    it; a None key (a port with a trace) never folds."""
    tally = Counter(keys)
    tally.pop(None, None)
    if not tally:
        return None
    key, count = tally.most_common(1)[0]
    if count <= FOLD_ABOVE:
        return None
    return key, list(map(eq, keys, repeat(key)))


def _entry(state: Any, reason: str, protocol: str, tries: int, numbers: list[int],
           services: dict[str, str], rtts: list[Optional[float]]) -> dict[str, Any]:
    """The extraports entry of folded ports: *numbers* in port order, *rtts* beside them."""
    entry: dict[str, Any] = {"state": str(state), "reason": reason, "protocol": protocol,
                             "count": len(numbers), "ports": portlist.compress(numbers)}
    if tries != 1:
        entry["tries"] = tries
    entry["services"] = services
    if not all(map(is_, rtts, repeat(None))):     # stops at the first time: no 65535 comparisons
        entry["rtt"] = rtts
    return entry


def _extra_ports(ports) -> Union[str, list[int]]:
    # A large scan's folded ports (PortNumbers, sorted) go out as an nmap port list
    # ("1-21,23-79"), a few bytes instead of six a port; a list read from a file stays a list.
    return portlist.compress(ports) if isinstance(ports, PortNumbers) else list(ports)


def _host_dict(host: HostResult) -> dict[str, Any]:
    listed, folded = fold(host)
    doc: dict[str, Any] = {"address": host.address, "name": host.name}
    extras = [
        {"state": str(e.state), "count": e.count, "protocol": e.protocol,
         "reasons": dict(e.reasons), **({"ports": _extra_ports(e.ports)} if e.ports is not None else {})}
        for e in host.extraports
    ]
    if folded is not None:
        extras.append(folded)
    if extras:
        doc["extraports"] = extras
    doc["ports"] = [_port_dict(p) for p in listed]
    return doc


def _port_dict(port: PortResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"port": port.port, "protocol": port.protocol, "state": str(port.state),
                           "reason": port.reason, "service": port.service}
    if port.tries != 1:
        doc["tries"] = port.tries
    if port.rtt is not None:
        doc["rtt"] = port.rtt
    if port.trace:
        doc["trace"] = [{"t": e.t, "direction": e.direction, "summary": e.summary} for e in port.trace]
    return doc


def dumps(result: ScanResult, indent: Optional[int] = None) -> str:
    """The JSON text; without *indent*, one port per line (compact, and diff- and grep-friendly)."""
    doc = to_dict(result)
    if indent is not None:
        return json.dumps(doc, indent=indent)
    hosts = doc.pop("hosts")
    lines = [json.dumps(doc)[:-1] + ', "hosts": [']
    for i, host in enumerate(hosts):
        ports = host.pop("ports")
        head = json.dumps(host)[:-1] + ', "ports": ['
        body = ",\n".join(json.dumps(p) for p in ports)
        lines.append(head + ("\n" + body + "\n" if body else "") + "]}" + ("," if i < len(hosts) - 1 else ""))
    lines.append("]}")
    return "\n".join(lines)


# -- reading -------------------------------------------------------------------

class _Reader:
    """Pulls typed values out of parsed JSON; every complaint names the key's path."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, path: str, expected: str, got: Any) -> BadInput:
        shown = json.dumps(got) if not isinstance(got, (dict, list)) else type(got).__name__
        if len(shown) > 40:
            shown = shown[:37] + "..."
        return BadInput(f"{self.where}: {path}: expected {expected}, got {shown}")

    def get(self, obj: dict, path: str, key: str, kind: Any, expected: str, default: Any = ...) -> Any:
        if key not in obj:
            if default is ...:
                raise BadInput(f"{self.where}: {_join(path, key)}: missing (expected {expected})")
            return default
        value = obj[key]
        # bool is an int in Python; a port of `true` is still wrong.
        if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
            raise self.fail(_join(path, key), expected, value)
        return value

    def enum(self, obj: dict, path: str, key: str, enum_type: Any) -> Any:
        choices = ", ".join(member.value for member in enum_type)
        value = self.get(obj, path, key, str, f"one of {choices}")
        try:
            return enum_type(value)
        except ValueError:
            raise self.fail(_join(path, key), f"one of {choices}", value) from None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _as_tuple(kind: Any) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


NUMBER = (int, float)
OPT_STR = (str, type(None))


def from_dict(doc: Any, where: str = "JSON") -> ScanResult:
    r = _Reader(where)
    if not isinstance(doc, dict):
        raise r.fail("top level", "an object", doc)
    if "portlab" not in doc:
        raise BadInput(f"{where}: not a portlab result (no \"portlab\" key at the top level)")
    if "hosts" not in doc and "scan_type" not in doc:
        raise BadInput(f"{where}: {not_a_result(doc)}")
    started_text = r.get(doc, "", "started", str, "an ISO 8601 time such as 2026-01-01T00:00:00Z")
    try:
        started = parse_time(started_text)
    except ValueError:
        raise r.fail("started", "an ISO 8601 time such as 2026-01-01T00:00:00Z", started_text) from None
    hosts_doc = r.get(doc, "", "hosts", list, "a list of hosts")
    return ScanResult(
        scan_type=r.enum(doc, "", "scan_type", ScanType),
        transport=r.get(doc, "", "transport", str, "a transport name"),
        started=started,
        elapsed_s=float(r.get(doc, "", "elapsed_s", NUMBER, "seconds as a number")),
        hosts=[_host(r, h, f"hosts[{i}]") for i, h in enumerate(hosts_doc)],
        probes_sent=r.get(doc, "", "probes_sent", int, "a whole number", 0),
        retries=r.get(doc, "", "retries", int, "a whole number", 0),
        portlab=r.get(doc, "", "portlab", str, "a version string", __version__),
        source=r.get(doc, "", "source", OPT_STR, "a path or null", None),
    )


def not_a_result(doc: dict) -> str:
    """Why a portlab JSON file without "hosts" or "scan_type" is no scan result, and what to read instead."""
    reads = ("portlab show reads a scan result: portlab JSON (portlab scan --format json -o FILE) "
             "or nmap -oX XML")
    scans = doc.get("scans")
    if isinstance(scans, dict):
        files = [s.get("file") for s in scans.values() if isinstance(s, dict) and isinstance(s.get("file"), str)]
        if files:
            return (f"not a scan result but a recording's description (its scans are {', '.join(files)}, "
                    f"in the same folder); {reads}")
    return f"not a scan result (no \"hosts\" and no \"scan_type\"); {reads}"


def _host(r: _Reader, doc: Any, path: str) -> HostResult:
    if not isinstance(doc, dict):
        raise r.fail(path, "an object", doc)
    ports = r.get(doc, path, "ports", list, "a list of ports")
    extras = r.get(doc, path, "extraports", list, "a list", [])
    listed = [_port(r, p, f"{path}.ports[{i}]") for i, p in enumerate(ports)]
    counted: list[ExtraPorts] = []
    unfolded: list[PortResult] = []
    for i, e in enumerate(extras):
        where = f"{path}.extraports[{i}]"
        if isinstance(e, dict) and isinstance(e.get("ports"), str) and "reasons" not in e:
            unfolded += _unfold(r, e, where)
        else:
            counted.append(_extra(r, e, where))
    if unfolded:
        listed = sorted(listed + unfolded, key=lambda p: p.port)
    return HostResult(
        address=r.get(doc, path, "address", str, "an address"),
        name=r.get(doc, path, "name", OPT_STR, "a host name or null", None),
        ports=listed,
        extraports=counted,
    )


def _unfold(r: _Reader, doc: dict, path: str) -> list[PortResult]:
    """The ports a folded extraports entry stands for, one PortResult each."""
    try:
        numbers = portlist.expand(doc["ports"])
    except ValueError as err:
        raise r.fail(f"{path}.ports", f"an nmap port list such as 1-21,23 ({err})", doc["ports"]) from None
    count = r.get(doc, path, "count", int, "a whole number")
    if count != len(numbers):
        raise r.fail(f"{path}.count", f"the number of ports listed ({len(numbers)})", count)
    state = r.enum(doc, path, "state", PortState)
    reason = r.get(doc, path, "reason", str, "a reason such as conn-refused")
    protocol = r.get(doc, path, "protocol", str, "tcp or udp", "tcp")
    if protocol not in ("tcp", "udp"):
        raise r.fail(f"{path}.protocol", "tcp or udp", protocol)
    tries = r.get(doc, path, "tries", int, "a whole number", 1)
    services = r.get(doc, path, "services", dict, "an object port -> service name", {})
    rtts = r.get(doc, path, "rtt", list, "a list of round-trip times", [None] * count)
    if len(rtts) != count or not all(t is None or (isinstance(t, (int, float)) and not isinstance(t, bool))
                                     for t in rtts):
        raise r.fail(f"{path}.rtt", f"{count} round-trip times (numbers or null)", rtts)
    return [PortResult(port, protocol, state, reason, services.get(str(port)), tries,
                       None if rtt is None else float(rtt))
            for port, rtt in zip(numbers, rtts)]


def _port(r: _Reader, doc: Any, path: str) -> PortResult:
    if not isinstance(doc, dict):
        raise r.fail(path, "an object", doc)
    number = r.get(doc, path, "port", int, "a port number 0-65535")
    if not 0 <= number <= 65535:
        raise r.fail(f"{path}.port", "a port number 0-65535", number)
    protocol = r.get(doc, path, "protocol", str, "tcp or udp")
    if protocol not in ("tcp", "udp"):
        raise r.fail(f"{path}.protocol", "tcp or udp", protocol)
    rtt = r.get(doc, path, "rtt", (int, float, type(None)), "seconds as a number", None)
    trace_doc = r.get(doc, path, "trace", list, "a list of events", [])
    return PortResult(
        port=number,
        protocol=protocol,
        state=r.enum(doc, path, "state", PortState),
        reason=r.get(doc, path, "reason", str, "a reason such as syn-ack"),
        service=r.get(doc, path, "service", OPT_STR, "a service name or null", None),
        tries=r.get(doc, path, "tries", int, "a whole number", 1),
        rtt=None if rtt is None else float(rtt),
        trace=tuple(_event(r, e, f"{path}.trace[{i}]") for i, e in enumerate(trace_doc)),
    )


def _event(r: _Reader, doc: Any, path: str) -> TraceEvent:
    if not isinstance(doc, dict):
        raise r.fail(path, "an object", doc)
    return TraceEvent(t=float(r.get(doc, path, "t", NUMBER, "seconds as a number")),
                      direction=r.get(doc, path, "direction", str, "sent or recv"),
                      summary=r.get(doc, path, "summary", str, "a text"))


def _extra(r: _Reader, doc: Any, path: str) -> ExtraPorts:
    if not isinstance(doc, dict):
        raise r.fail(path, "an object", doc)
    reasons = r.get(doc, path, "reasons", dict, "an object reason -> count", {})
    for reason, count in reasons.items():
        if not isinstance(count, int) or isinstance(count, bool):
            raise r.fail(f"{path}.reasons.{reason}", "a whole number", count)
    ports = r.get(doc, path, "ports", (list, str, type(None)), "a list of port numbers", None)
    if isinstance(ports, str):
        try:
            ports = PortNumbers(portlist.expand(ports))
        except (ValueError, OverflowError) as err:
            raise r.fail(f"{path}.ports", f"an nmap port list such as 1-21,23 ({err})", ports) from None
    elif ports is not None and not all(isinstance(p, int) and not isinstance(p, bool) for p in ports):
        raise r.fail(f"{path}.ports", "a list of port numbers", ports)
    return ExtraPorts(state=r.enum(doc, path, "state", PortState),
                      count=r.get(doc, path, "count", int, "a whole number"),
                      reasons=dict(reasons), ports=ports,
                      protocol=r.get(doc, path, "protocol", str, "tcp or udp", "tcp"))


def loads(data: Union[str, bytes, dict], where: str = "JSON") -> ScanResult:
    if isinstance(data, dict):
        return from_dict(data, where=where)
    try:
        doc = json.loads(data)
    except json.JSONDecodeError as err:
        raise BadInput(f"{where}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    return from_dict(doc, where=where)
