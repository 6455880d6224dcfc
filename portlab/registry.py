"""IANA's Service Name and Transport Protocol Port Number Registry.

The CSV in ``data/`` is IANA's own export, kept byte for byte (see
``data/SOURCES.md``).  It is parsed on the first call to any function here and
cached for the life of the process; ``import portlab.registry`` costs nothing.
pandas is imported only by :func:`to_dataframe`.

Facts about the file that the parser relies on:

* a row may hold one port (``443``), a range (``11431-11433``) or no port at all
  (a service name registered without a port, such as ``arp``);
* a row may have no protocol: it then applies to every transport protocol;
* unassigned and reserved rows have no service name; their description says so;
* quoted fields may hold line breaks (bare LF, while records end in CRLF), which
  is why we read with ``newline=""`` and let :mod:`csv` join them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Optional

from .errors import BadInput, PortlabError
from .ranges import check_port, parse_port, port_range
from .paths import DATA_DIR

if TYPE_CHECKING:  # pragma: no cover
    import pandas

CSV_PATH = DATA_DIR / "iana-service-names-port-numbers.csv"
PROTOCOLS = ("tcp", "udp", "sctp", "dccp")
HEADER = (
    "Service Name", "Port Number", "Transport Protocol", "Description", "Assignee", "Contact",
    "Registration Date", "Modification Date", "Reference", "Service Code",
    "Unauthorized Use Reported", "Assignment Notes",
)
# Service names in the registry use letters, digits and a few punctuation marks
# (legacy names such as "sql*net" or "914c/g").  Anything else cannot match.
_NAME_TEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9*+./_-]*")
_RANGE_TEXT = re.compile(r"\s*(-?[0-9]+)\s*-\s*(-?[0-9]+)\s*")


@dataclass(frozen=True, slots=True)
class Service:
    """One row of the registry.  Empty CSV cells become ``None``."""

    name: Optional[str]
    port_start: Optional[int]
    port_end: Optional[int]
    protocol: Optional[str]
    description: Optional[str]
    assignee: Optional[str]
    contact: Optional[str]
    registration_date: Optional[str]
    modification_date: Optional[str]
    reference: Optional[str]
    service_code: Optional[str]
    unauthorized_use: Optional[str]
    notes: Optional[str]

    @property
    def port(self) -> Optional[int]:
        """The port of a single-port row; ``None`` for a range or a port-less row."""
        return self.port_start if self.port_start == self.port_end else None

    @property
    def is_range(self) -> bool:
        return self.port_start is not None and self.port_start != self.port_end

    @property
    def port_text(self) -> str:
        """The port as the CSV writes it: ``"443"``, ``"11431-11433"`` or ``""``."""
        if self.port_start is None:
            return ""
        return str(self.port_start) if not self.is_range else f"{self.port_start}-{self.port_end}"

    @property
    def status(self) -> str:
        """``"assigned"``, ``"reserved"`` or ``"unassigned"``.

        A row with a service name is assigned.  Without a name, the description
        decides: "Reserved ..." and the historic "any private ..." rows (ports
        IANA set aside for private use) are reserved; everything else, which is
        "Unassigned" plus a few "De-registered"/"Removed"/"Deprecated" rows, is
        free again and counts as unassigned.
        """
        if self.name:
            return "assigned"
        text = (self.description or "").lower()
        if text.startswith(("reserved", "any private")):
            return "reserved"
        return "unassigned"

    def covers(self, port: int) -> bool:
        return self.port_start is not None and self.port_start <= port <= self.port_end  # type: ignore[operator]

    def matches_protocol(self, protocol: Optional[str]) -> bool:
        # A row without a protocol applies to all of them.
        return protocol is None or self.protocol is None or self.protocol == protocol


def _cell(text: str) -> Optional[str]:
    text = text.strip()
    return text or None


def _parse_ports(text: str, line: int) -> tuple[Optional[int], Optional[int]]:
    text = text.strip()
    if not text:
        return None, None
    lo, sep, hi = text.partition("-")
    try:
        start = int(lo)
        end = int(hi) if sep else start
    except ValueError:
        raise BadInput(f"registry CSV record {line}: port {text!r} is not a number or a range lo-hi") from None
    return start, end


def parse_rows(rows: Iterable[list[str]]) -> list[Service]:
    """Turn CSV rows (header included) into :class:`Service` records."""
    it = iter(rows)
    header = tuple(next(it, ()))
    if header != HEADER:
        raise BadInput(f"registry CSV header is {header!r}: expected IANA's 12 columns {HEADER!r}")
    out: list[Service] = []
    for number, row in enumerate(it, start=1):
        if len(row) != len(HEADER):
            raise BadInput(f"registry CSV record {number} has {len(row)} fields: expected {len(HEADER)}")
        start, end = _parse_ports(row[1], number)
        protocol = _cell(row[2])
        out.append(Service(
            _cell(row[0]), start, end, protocol.lower() if protocol else None,
            *(_cell(x) for x in row[3:]),
        ))
    return out


def normalize_protocol(protocol: Optional[str]) -> Optional[str]:
    """Lower-case and check a protocol filter; ``None`` means any protocol."""
    if protocol is None:
        return None
    if not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS:
        raise BadInput(f"protocol {protocol!r} is not known: expected one of {', '.join(PROTOCOLS)}")
    return protocol.lower()


class Registry:
    """All records plus the indexes that make lookups cheap."""

    def __init__(self, services: list[Service]):
        self.services = services
        # Indexes hold row positions, so that merged hits can be put back in file order.
        self._single: dict[int, list[int]] = {}
        self._ranges: list[int] = []
        self._by_name: dict[str, list[Service]] = {}
        self._names: dict[tuple[int, str], str] = {}
        for position, svc in enumerate(services):
            if svc.port_start is not None:
                if svc.is_range:
                    self._ranges.append(position)
                else:
                    self._single.setdefault(svc.port_start, []).append(position)
            if svc.name:
                self._by_name.setdefault(svc.name.lower(), []).append(svc)
        self._index_names()

    def _index_names(self) -> None:
        # (port, protocol) -> the first assigned name, so that naming every row of a
        # 65535-port scan is one dict lookup each.  Rows with their own protocol win
        # over protocol-less rows; ranges (x11 6000-6063) name every port they cover.
        protocolless: list[Service] = []
        for svc in self.services:
            if not svc.name or svc.port_start is None:
                continue
            if svc.protocol is None:
                protocolless.append(svc)
                continue
            for port in range(svc.port_start, svc.port_end + 1):  # type: ignore[operator]
                self._names.setdefault((port, svc.protocol), svc.name)
        for svc in protocolless:
            for port in range(svc.port_start, svc.port_end + 1):  # type: ignore[arg-type, operator]
                for proto in PROTOCOLS:
                    self._names.setdefault((port, proto), svc.name)  # type: ignore[arg-type]

    @classmethod
    def from_csv(cls, path: Path = CSV_PATH) -> "Registry":
        try:
            # newline="" lets csv keep the bare LFs inside quoted fields.
            with open(path, newline="", encoding="utf-8") as fh:
                return cls(parse_rows(csv.reader(fh)))
        except FileNotFoundError:
            raise BadInput(f"registry CSV not found at {path}: expected IANA's export there") from None

    def lookup(self, port: int, protocol: Optional[str] = None) -> list[Service]:
        port = check_port(port)
        protocol = normalize_protocol(protocol)
        positions = self._single.get(port, []) + [i for i in self._ranges if self.services[i].covers(port)]
        hits = (self.services[i] for i in sorted(positions))
        return [svc for svc in hits if svc.matches_protocol(protocol)]

    def by_name(self, name: str, protocol: Optional[str] = None) -> list[Service]:
        if not isinstance(name, str):
            raise BadInput(f"service name {name!r} is not text: expected a name such as 'ssh'")
        protocol = normalize_protocol(protocol)
        return [svc for svc in self._by_name.get(name.strip().lower(), ()) if svc.matches_protocol(protocol)]

    def in_range(self, lo: int, hi: int, protocol: Optional[str] = None) -> list[Service]:
        lo, hi = check_port(lo, "range start"), check_port(hi, "range end")
        if lo > hi:
            raise BadInput(f"port range {lo}-{hi} runs backwards: expected lo <= hi")
        protocol = normalize_protocol(protocol)
        return [
            svc for svc in self.services
            if svc.port_start is not None and svc.port_start <= hi and svc.port_end >= lo  # type: ignore[operator]
            and svc.matches_protocol(protocol)
        ]

    def service_name(self, port: int, protocol: str) -> Optional[str]:
        # Deliberately unchecked: the scanner calls this once per probed port.
        return self._names.get((port, protocol))


# ---- the name index: what a scan needs, without parsing the CSV on every run ----------

INDEX_VERSION = 1


def _index_path() -> Path:
    import os
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "portlab" / f"service-names-v{INDEX_VERSION}.json"


def _csv_digest() -> str:
    import hashlib
    return hashlib.sha256(CSV_PATH.read_bytes()).hexdigest()


@lru_cache(maxsize=1)
def _name_tables() -> dict[str, list[Optional[str]]]:
    """``{protocol: [name of port 0, ..., name of port 65535]}`` for tcp and udp.

    Built once from the CSV (the source of truth) and kept in the user's cache
    directory beside the CSV's SHA-256 and its size and modification time.  While the
    CSV's size and time are those recorded, the cache is read as it is (hashing the
    CSV cost 8-20 ms of every scan); when they differ, the digest decides: the same
    bytes (a fresh checkout) only update the recorded time, other bytes rebuild the
    tables.  A cache that cannot be read is rebuilt.  Reading it costs a few
    milliseconds where parsing the CSV costs half a second, which a short scan would
    otherwise spend before its first packet.  A cache that cannot be written is not an
    error: the tables are then built from the CSV for this process only.
    """
    import json
    stat = CSV_PATH.stat()
    stamp = [stat.st_size, stat.st_mtime_ns]
    where = _index_path()
    digest = None
    try:
        cached = json.loads(where.read_text(encoding="utf-8"))
        if all(len(cached.get(p, ())) == 65536 for p in ("tcp", "udp")):
            tables = {"tcp": cached["tcp"], "udp": cached["udp"]}
            if cached.get("csv_stamp") == stamp:
                return tables
            digest = _csv_digest()
            if cached.get("csv_sha256") == digest:
                _write_index(where, digest, stamp, tables)
                return tables
    except (OSError, ValueError, AttributeError):
        pass
    reg = default()
    tables = {proto: [reg.service_name(port, proto) for port in range(65536)] for proto in ("tcp", "udp")}
    _write_index(where, digest or _csv_digest(), stamp, tables)
    return tables


def _write_index(where: Path, digest: str, stamp: list[int], tables: dict[str, list[Optional[str]]]) -> None:
    """Keep *tables* in the cache file, if it can be written."""
    import json
    try:
        from .atomic import write_text_atomically
        where.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(where, json.dumps({"csv_sha256": digest, "csv_stamp": stamp, **tables},
                                                separators=(",", ":")))
    except (OSError, PortlabError):
        pass


def name_table(protocol: str) -> list[Optional[str]]:
    """The registry's first assigned name for every port 0-65535 of *protocol* (tcp or
    udp), from the cached index; other protocols come from the parsed registry."""
    if protocol in ("tcp", "udp"):
        return _name_tables()[protocol]
    reg = default()
    return [reg.service_name(port, protocol) for port in range(65536)]


@lru_cache(maxsize=1)
def default() -> Registry:
    """The registry from the shipped CSV, parsed once per process."""
    return Registry.from_csv()


def records() -> list[Service]:
    """Every row of the registry, in file order."""
    return default().services


def lookup(port: int, protocol: Optional[str] = None) -> list[Service]:
    """Rows whose port is ``port`` or whose range covers it, in file order."""
    return default().lookup(port, protocol)


def by_name(name: str, protocol: Optional[str] = None) -> list[Service]:
    """Rows with this service name, compared case-insensitively."""
    return default().by_name(name, protocol)


def in_range(lo: int, hi: int, protocol: Optional[str] = None) -> list[Service]:
    """Rows whose port or range overlaps ``lo..hi`` (both included)."""
    return default().in_range(lo, hi, protocol)


def service_name(port: int, protocol: str) -> Optional[str]:
    """The first assigned service name on ``port``/``protocol``, or ``None``.

    One dict lookup after the first load; the arguments are not validated
    (an impossible port simply has no name).
    """
    return default().service_name(port, protocol)


# Order of precedence when several rows cover one port: a port that has any
# assigned row is assigned, even if an older row calls it reserved.
_STATUS_RANK = {"assigned": 3, "reserved": 2, "unassigned": 1}
NO_ENTRY = "no entry"


def port_status(protocol: str) -> tuple[str, ...]:
    """For each port 0-65535 (tuple index), its registry status for ``protocol``.

    ``"assigned"``, ``"reserved"``, ``"unassigned"``, or :data:`NO_ENTRY` where the
    registry has no row at all (the whole dynamic range 49152-65535).  Rows without
    a protocol count for every protocol.  Charts of free and used space read this;
    it is computed once per protocol and cached.
    """
    protocol = normalize_protocol(protocol)
    if protocol is None:
        raise BadInput("port_status needs a protocol: expected one of " + ", ".join(PROTOCOLS))
    return _port_status(protocol)


@lru_cache(maxsize=None)
def _port_status(protocol: str) -> tuple[str, ...]:
    rank = [0] * 65536
    for svc in records():
        if svc.port_start is None or not svc.matches_protocol(protocol):
            continue
        r = _STATUS_RANK[svc.status]
        for port in range(svc.port_start, svc.port_end + 1):  # type: ignore[operator]
            if r > rank[port]:
                rank[port] = r
    names = {v: k for k, v in _STATUS_RANK.items()}
    names[0] = NO_ENTRY
    return tuple(names[r] for r in rank)


def search(query: str, protocol: Optional[str] = None) -> list[Service]:
    """Interpret user text: ``"443"`` a port, ``"80-90"`` a range (``"22-"``: 22-65535,
    as ``scan -p`` reads it), else a service name.

    Raises :class:`BadInput` for text that is none of those (``"70000"``, ``"-1"``,
    ``"abc!"``, ``""``).  An unknown but well-formed name returns ``[]``.
    """
    text = query.strip() if isinstance(query, str) else query
    if not isinstance(text, str) or not text:
        raise BadInput(f"lookup query {query!r} is empty: expected a port (443), a range (80-90) or a name (ssh)")
    if re.fullmatch(r"-?[0-9]+", text):
        return lookup(parse_port(text), protocol)
    if re.fullmatch(r"[0-9]+\s*-", text):
        # "22-" is open at the top, as `portlab scan -p 22-` reads it (22-65535):
        # the scan's own parser decides, so the two commands agree.
        from .portspec import parse_ports
        ports = parse_ports(text.replace(" ", ""))
        return in_range(ports[0], ports[-1], protocol)
    pair = _RANGE_TEXT.fullmatch(text)
    if pair:
        return in_range(parse_port(pair[1], "range start"), parse_port(pair[2], "range end"), protocol)
    if not _NAME_TEXT.fullmatch(text):
        raise BadInput(
            f"lookup query {query!r} is not a port, a range or a service name: "
            "expected digits, lo-hi, or letters, digits and - . _ + * /"
        )
    return by_name(text, protocol)


def query_span(query: str) -> Optional[tuple[int, int]]:
    """The ports a lookup query covers, as :func:`search` reads it (``"443"``, ``"80-90"``,
    ``"49000-"``: up to 65535), or None for a name or text that is no port at all."""
    text = query.strip() if isinstance(query, str) else ""
    try:
        if re.fullmatch(r"[0-9]+", text):
            port = parse_port(text)
            return port, port
        if re.fullmatch(r"[0-9]+\s*-", text):
            from .portspec import parse_ports
            ports = parse_ports(text.replace(" ", ""))
            return ports[0], ports[-1]
        pair = _RANGE_TEXT.fullmatch(text)
        if pair:
            lo, hi = parse_port(pair[1], "range start"), parse_port(pair[2], "range end")
            return (lo, hi) if lo <= hi else None
    except BadInput:
        return None
    return None


def dynamic_range_note(query: str) -> Optional[str]:
    """One line for a query that reaches into the dynamic range, where the registry has no
    rows because IANA never assigns a port there (RFC 6335 section 6); None otherwise."""
    from .ranges import DYNAMIC
    span = query_span(query)
    if span is None or span[1] < DYNAMIC.lo:
        return None
    lo, hi = max(span[0], DYNAMIC.lo), span[1]
    part = f"port {lo}" if lo == hi else f"ports {lo}-{hi}"
    return (f"{DYNAMIC.lo}-{DYNAMIC.hi} is the dynamic range ({DYNAMIC.rfc6335_name}, RFC 6335 section 6): "
            f"IANA never assigns a port there, so the registry has no rows for {part}. Any program may "
            "use them (Windows and macOS take their temporary client ports from there).")


def to_dataframe() -> "pandas.DataFrame":
    """One row per record; snake_case columns; ports as nullable ``Int64``.

    Extra columns: ``status`` (assigned/reserved/unassigned) and ``range`` (the
    RFC 6335 range key of the first port: system/user/dynamic, or missing).
    """
    import pandas as pd  # only here: the rest of the module must stay light

    services = records()
    text_columns = (
        "name", "protocol", "description", "assignee", "contact", "registration_date",
        "modification_date", "reference", "service_code", "unauthorized_use", "notes",
    )
    data: dict[str, object] = {col: [getattr(s, col) for s in services] for col in text_columns}
    frame = pd.DataFrame({
        "name": pd.array(data["name"], dtype="string"),
        "port_start": pd.array([s.port_start for s in services], dtype="Int64"),
        "port_end": pd.array([s.port_end for s in services], dtype="Int64"),
        **{col: pd.array(data[col], dtype="string") for col in text_columns if col != "name"},
        "status": pd.array([s.status for s in services], dtype="string"),
        "range": pd.array(
            [port_range(s.port_start).key if s.port_start is not None else None for s in services],
            dtype="string",
        ),
    })
    return frame
