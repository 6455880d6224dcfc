"""portlab JSON: DESIGN.md's result format, which is also the recording format.

Lossless on purpose: every probed port is listed, and the extra keys a teaching
notebook wants (``probes_sent``, ``retries``; per port ``tries``, ``rtt``,
``trace``; per host ``extraports`` for nmap files that only give counts) are
written whenever they hold something, so ``from_json(to_json(r)) == r``.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Optional, Union

from .. import __version__
from ..errors import BadInput
from ..results import ExtraPorts, HostResult, PortResult, ScanResult
from ..states import PortState, ScanType
from ..transports.base import TraceEvent


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


def _host_dict(host: HostResult) -> dict[str, Any]:
    doc: dict[str, Any] = {"address": host.address, "name": host.name,
                           "ports": [_port_dict(p) for p in host.ports]}
    if host.extraports:
        doc["extraports"] = [
            {"state": str(e.state), "count": e.count, "protocol": e.protocol,
             "reasons": dict(e.reasons), **({"ports": list(e.ports)} if e.ports is not None else {})}
            for e in host.extraports
        ]
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
    return json.dumps(to_dict(result), indent=indent)


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


def _host(r: _Reader, doc: Any, path: str) -> HostResult:
    if not isinstance(doc, dict):
        raise r.fail(path, "an object", doc)
    ports = r.get(doc, path, "ports", list, "a list of ports")
    extras = r.get(doc, path, "extraports", list, "a list", [])
    return HostResult(
        address=r.get(doc, path, "address", str, "an address"),
        name=r.get(doc, path, "name", OPT_STR, "a host name or null", None),
        ports=[_port(r, p, f"{path}.ports[{i}]") for i, p in enumerate(ports)],
        extraports=[_extra(r, e, f"{path}.extraports[{i}]") for i, e in enumerate(extras)],
    )


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
    ports = r.get(doc, path, "ports", (list, type(None)), "a list of port numbers", None)
    if ports is not None and not all(isinstance(p, int) and not isinstance(p, bool) for p in ports):
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
