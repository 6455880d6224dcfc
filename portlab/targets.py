"""Scan targets as nmap reads them: an IPv4/IPv6 address, a hostname, or a CIDR block.

nmap's octet ranges (``10.0.0.1-20``) work too.  A hostname is resolved once, here, before the scope guard looks at anything: the
guard must judge the address packets would really go to, not the name.  A CIDR
block expands to its hosts; for IPv4 prefixes shorter than /31 the network and
broadcast addresses are left out, as nmap does.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Callable, Iterable, Optional, Union

from .errors import BadInput

# A bigger block is almost always a typo (an IPv6 /64 has 2**64 addresses).
MAX_BLOCK_ADDRESSES = 65536
_EXPECTED = "expected an IPv4/IPv6 address, a hostname or a CIDR block like 10.0.0.0/30"
# RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
_HOSTNAME = re.compile(r"(?=.{1,253}\.?$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)"
                       r"(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")
_DOTTED = re.compile(r"[\d.]+")
# nmap's octet ranges: 10.0.0.1-20, 10.0.1-2.1-254 (each octet a number or a range).
_OCTET_RANGES = re.compile(r"(\d{1,3}(?:-\d{1,3})?)\.(\d{1,3}(?:-\d{1,3})?)\."
                           r"(\d{1,3}(?:-\d{1,3})?)\.(\d{1,3}(?:-\d{1,3})?)")

Resolver = Callable[[str], str]


@dataclass(frozen=True)
class Target:
    """One address to scan, and the name the user gave for it (if a hostname)."""

    address: str
    name: Optional[str] = None

    @property
    def ip(self) -> Union[ipaddress.IPv4Address, ipaddress.IPv6Address]:
        return ipaddress.ip_address(self.address)

    @property
    def family(self) -> int:
        return socket.AF_INET6 if self.ip.version == 6 else socket.AF_INET


def resolve_hostname(name: str) -> str:
    """The first IPv4 address of *name* (IPv6 if it has none), as nmap picks without -6."""
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as err:
        raise BadInput(f"target {name!r}: cannot resolve the hostname ({err.strerror or err}); "
                       f"{_EXPECTED}") from None
    for family in (socket.AF_INET, socket.AF_INET6):
        for fam, *_rest, sockaddr in infos:
            if fam == family:
                return str(ipaddress.ip_address(sockaddr[0].split("%")[0]))
    raise BadInput(f"target {name!r}: the hostname has no IPv4 or IPv6 address")


def parse_targets(specs: Union[str, Iterable[str]], resolve: Optional[Resolver] = None) -> list[Target]:
    """Expand *specs* into targets, first occurrence order, duplicates dropped.

    A single string may hold several targets separated by spaces or commas.
    *resolve* turns a hostname into an address (default :func:`resolve_hostname`).
    """
    resolve = resolve or resolve_hostname
    if isinstance(specs, str):
        tokens = [t for t in re.split(r"[\s,]+", specs) if t]
    else:
        try:
            tokens = list(specs)
        except TypeError:
            raise BadInput(f"targets {specs!r}: {_EXPECTED}") from None
    if not tokens:
        raise BadInput(f"targets {specs!r}: no target given; {_EXPECTED}")
    seen: set[str] = set()
    targets: list[Target] = []
    resolved: dict[str, str] = {}

    def resolve_once(name: str) -> str:
        if name not in resolved:
            resolved[name] = resolve(name)
        return resolved[name]

    for token in tokens:
        for target in parse_target(token, resolve_once):
            if target.address not in seen:
                seen.add(target.address)
                targets.append(target)
    return targets


def parse_target(token: str, resolve: Resolver = resolve_hostname) -> list[Target]:
    if not isinstance(token, str):
        raise BadInput(f"target {token!r}: {_EXPECTED}")
    text = token.strip()
    if not text:
        raise BadInput(f"target '': empty; {_EXPECTED}")
    if "/" in text:
        return _expand_block(text)
    if "-" in text and _OCTET_RANGES.fullmatch(text):
        return _expand_octet_ranges(text)
    try:
        return [Target(str(ipaddress.ip_address(text.strip("[]"))))]
    except ValueError:
        pass
    if ":" in text or _DOTTED.fullmatch(text):
        # Looks like an address but is not one: say so rather than ask DNS about it.
        raise BadInput(f"target {text!r}: not a valid IP address; {_EXPECTED}")
    if not _HOSTNAME.fullmatch(text):
        raise BadInput(f"target {text!r}: not a valid hostname; {_EXPECTED}")
    return [Target(resolve(text), name=text)]


def _expand_block(text: str) -> list[Target]:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as err:
        raise BadInput(f"target {text!r}: bad CIDR block ({err}); {_EXPECTED}") from None
    if network.num_addresses > MAX_BLOCK_ADDRESSES:
        raise BadInput(f"target {text!r}: {network.num_addresses} addresses is too many; "
                       f"expected a block of at most {MAX_BLOCK_ADDRESSES} (an IPv4 /16)")
    if network.version == 4 and network.prefixlen < 31:
        addresses: Iterable = network.hosts()  # without network and broadcast addresses
    else:
        addresses = iter(network)  # /31, /32 and IPv6: every address is a host
    return [Target(str(address)) for address in addresses]


def _expand_octet_ranges(text: str) -> list[Target]:
    spans = []
    for part in _OCTET_RANGES.fullmatch(text).groups():  # type: ignore[union-attr]
        low, _, high = part.partition("-")
        lo, hi = int(low), int(high or low)
        if hi > 255 or lo > hi:
            raise BadInput(f"target {text!r}: octet range {part!r} must be within 0-255 and low-high; "
                           f"{_EXPECTED} (or octet ranges like 10.0.0.1-20)")
        spans.append(range(lo, hi + 1))
    count = 1
    for span in spans:
        count *= len(span)
    if count > MAX_BLOCK_ADDRESSES:
        raise BadInput(f"target {text!r}: {count} addresses is too many; expected at most {MAX_BLOCK_ADDRESSES}")
    return [Target(f"{a}.{b}.{c}.{d}") for a in spans[0] for b in spans[1] for c in spans[2] for d in spans[3]]


def sort_key(address: str) -> tuple[int, int]:
    """Sort addresses numerically, IPv4 before IPv6 (as nmap lists hosts)."""
    ip = ipaddress.ip_address(address)
    return (ip.version, int(ip))
