"""nmap's compact port lists (``1-21,23-79,81``): pure functions both ways."""

from __future__ import annotations

from itertools import compress as compress_where, islice, repeat
from operator import ne, sub
from typing import Iterable


def compress(ports: Iterable[int]) -> str:
    """``[1, 2, 3, 5]`` -> ``"1-3,5"`` (sorted, duplicates dropped)."""
    numbers = sorted(set(ports))
    if not numbers:
        return ""
    # A run breaks wherever the next port is not this one plus one: found with map() in
    # C, so a full range (65535 ports, a few runs) costs no Python step per port.
    breaks = list(compress_where(range(1, len(numbers)),
                                 map(ne, map(sub, islice(numbers, 1, None), numbers), repeat(1))))
    starts = [0, *breaks]
    ends = [*breaks, len(numbers)]
    return ",".join(_span(numbers[a], numbers[b - 1]) for a, b in zip(starts, ends))


def _span(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def expand(text: str) -> list[int]:
    """``"1-3,5"`` -> ``[1, 2, 3, 5]``.  ValueError says which piece is wrong."""
    ports: list[int] = []
    for piece in text.split(","):
        piece = piece.strip()
        if not piece:
            continue
        # nmap prefixes protocols in scaninfo services for mixed scans ("T:22,U:53");
        # the reader asks per protocol, so the prefix is only stripped here.
        if len(piece) > 2 and piece[1] == ":":
            piece = piece[2:]
        first_text, sep, last_text = piece.partition("-")
        try:
            first = int(first_text)
            last = int(last_text) if sep else first
        except ValueError:
            raise ValueError(f"port list piece {piece!r} is not N or N-M") from None
        if not (0 <= first <= last <= 65535):
            raise ValueError(f"port list piece {piece!r} is outside 0-65535 or reversed")
        ports.extend(range(first, last + 1))
    return ports
