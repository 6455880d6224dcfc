"""Port specifications as nmap's ``-p`` reads them: ``22``, ``22,80,443``, ``1-1024``,
``-`` (1-65535), ``1-`` / ``-1024`` (open-ended ranges), ``top100`` / ``top1000``, or a
list of ints.  Pure parsing, no I/O.

Port 0 is scanned only when named explicitly (``0``, ``0-100``), never when a range
is left open at the bottom (``-`` or ``-1024`` start at 1): nmap's rule, because port 0
is reserved and rarely what the user meant.
"""

from __future__ import annotations

import re
from typing import Iterable, Union

from .errors import BadInput

MAX_PORT = 65535
PortSpec = Union[str, int, Iterable[Union[int, str]]]

_TOP = re.compile(r"top-?(\d+)", re.IGNORECASE)
_RANGE = re.compile(r"(\d*)-(\d*)")
_EXPECTED = "expected a port 0-65535, a range like 1-1024, '-' for all, or topN like top100"


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
