"""Port specifications as nmap's ``-p`` reads them: ``22``, ``22,80,443``, ``1-1024``,
``-`` (1-65535), ``1-`` / ``-1024`` (open-ended ranges), ``top100`` / ``top1000``, service
names (``http``, ``ssh``) and name patterns with ``*`` and ``?`` (``http*``), or a list of
ints.  Pure parsing; names are read from nmap's ``nmap-services`` file when nmap is installed
(as nmap does), else from IANA's registry.

Port 0 is scanned only when named explicitly (``0``, ``0-100``), never when a range
is left open at the bottom (``-`` or ``-1024`` start at 1): nmap's rule, because port 0
is reserved and rarely what the user meant.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Union

from .errors import BadInput

MAX_PORT = 65535
PortSpec = Union[str, int, Iterable[Union[int, str]]]

_TOP = re.compile(r"top-?(\d+)", re.IGNORECASE)
_RANGE = re.compile(r"(\d*)-(\d*)")
_NAME = re.compile(r"[A-Za-z0-9*?][A-Za-z0-9*?._+/-]*")
_EXPECTED = ("expected a port 0-65535, a range like 1-1024, '-' for all, topN like top100, "
             "or a service name like http (wildcards * and ? allowed)")


def parse_ports(spec: PortSpec, protocol: str = "tcp") -> tuple[int, ...]:
    """The ports *spec* names, deduplicated and sorted ascending.

    Raises :class:`BadInput` naming the offending token and what was expected.
    """
    if isinstance(spec, bool):  # bool is an int subclass; True is not port 1
        raise BadInput(f"ports {spec!r}: {_EXPECTED}")
    if isinstance(spec, int):
        return (_check_port(spec, str(spec)),)
    if isinstance(spec, str):
        tokens: list[Union[int, str]] = [t.strip() for t in spec.split(",")]
        if not spec.strip():
            raise BadInput(f"ports {spec!r}: empty; {_EXPECTED}")
    else:
        try:
            tokens = list(spec)
        except TypeError:
            raise BadInput(f"ports {spec!r}: {_EXPECTED}") from None
        if not tokens:
            raise BadInput(f"ports {spec!r}: empty list; {_EXPECTED}")
    ports: set[int] = set()
    for token in tokens:
        ports.update(_parse_token(token, protocol))
    return tuple(sorted(ports))


def _parse_token(token: Union[int, str], protocol: str) -> Iterable[int]:
    if isinstance(token, bool):
        raise BadInput(f"port token {token!r}: {_EXPECTED}")
    if isinstance(token, int):
        return (_check_port(token, str(token)),)
    if not isinstance(token, str):
        raise BadInput(f"port token {token!r}: {_EXPECTED}")
    text = token.strip()
    if not text:
        raise BadInput(f"port token '' (an empty item between commas): {_EXPECTED}")
    if text.isdigit():
        return (_check_port(int(text), text),)
    top = _TOP.fullmatch(text)
    if top:
        return _top_ports(int(top.group(1)), protocol, text)
    span = _RANGE.fullmatch(text)
    if span:
        # An open bottom starts at 1 (port 0 only when explicit); an open top ends at 65535.
        low = _check_port(int(span.group(1)), text) if span.group(1) else 1
        high = _check_port(int(span.group(2)), text) if span.group(2) else MAX_PORT
        if low > high:
            raise BadInput(f"port range {text!r}: start {low} is above end {high}; expected low-high")
        return range(low, high + 1)
    if _NAME.fullmatch(text):
        return _named_ports(text, protocol)
    raise BadInput(f"port token {text!r}: {_EXPECTED}")


def _check_port(port: int, token: str) -> int:
    if not 0 <= port <= MAX_PORT:
        where = repr(token) if token == str(port) else f"{port} in {token!r}"
        raise BadInput(f"port {where}: out of range; expected 0-65535")
    return port


def _top_ports(n: int, protocol: str, token: str) -> list[int]:
    if n < 1:
        raise BadInput(f"port token {token!r}: topN needs N >= 1")
    from .common_ports import top_ports  # nmap's frequency order (or the curated list)

    return list(top_ports(n, protocol))


def _named_ports(pattern: str, protocol: str) -> list[int]:
    """The ports whose service name matches *pattern* (nmap's rule: case-insensitive,
    ``*`` and ``?`` as in shell globs), for *protocol*."""
    import fnmatch

    names = service_ports(protocol)
    wanted = pattern.lower()
    if any(c in wanted for c in "*?"):
        found = {port for name, ports in names.items() if fnmatch.fnmatchcase(name, wanted) for port in ports}
    else:
        found = set(names.get(wanted, ()))
    if not found:
        raise BadInput(f"port token {pattern!r}: no {protocol} service of that name in {_names_source()}; "
                       f"{_EXPECTED}")
    return sorted(found)


def _names_source() -> str:
    from .common_ports import nmap_services_path

    path = nmap_services_path()
    return f"nmap's services file ({path})" if path else "IANA's registry"


def service_ports(protocol: str = "tcp") -> dict[str, tuple[int, ...]]:
    """Service name (lower case) -> its ports for *protocol*: from nmap-services when
    nmap is installed (what ``nmap -p http`` reads), else from IANA's registry."""
    from .common_ports import nmap_services_path

    path = nmap_services_path()
    return _nmap_names(str(path), protocol) if path else _iana_names(protocol)


@lru_cache(maxsize=8)
def _nmap_names(path: str, protocol: str) -> dict[str, tuple[int, ...]]:
    table: dict[str, list[int]] = {}
    try:
        text = open(path, encoding="utf-8", errors="replace").read()
    except OSError:
        return _iana_names(protocol)
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        port_text, _, proto = fields[1].partition("/")
        if proto.lower() == protocol and port_text.isdigit():
            table.setdefault(fields[0].lower(), []).append(int(port_text))
    return {name: tuple(sorted(ports)) for name, ports in table.items()}


@lru_cache(maxsize=8)
def _iana_names(protocol: str) -> dict[str, tuple[int, ...]]:
    from . import registry

    table: dict[str, set[int]] = {}
    for svc in registry.records():
        if svc.name and svc.port_start is not None and svc.matches_protocol(protocol):
            table.setdefault(svc.name.lower(), set()).update(range(svc.port_start, svc.port_end + 1))
    return {name: tuple(sorted(ports)) for name, ports in table.items()}
