"""The ports a practitioner meets first, and nmap-style "top N" port lists.

``COMMON_PORTS`` is our own curated list for the course (descriptions in our
words; the IANA service name comes from the registry).  ``top_ports`` ranks ports
the way nmap's ``--top-ports`` does, from the open-frequency column of nmap's
``nmap-services`` file when nmap is installed.  That file is read at run time and
never shipped (it is nmap's data, under nmap's licence).  Without it, the curated
list stands in, in its own priority order, and may hold fewer than ``n`` ports.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .errors import BadInput

NMAP_SERVICES_CANDIDATES = (
    Path("/usr/share/nmap/nmap-services"),
    Path("/usr/local/share/nmap/nmap-services"),
    Path("/opt/homebrew/share/nmap/nmap-services"),
    Path("C:/Program Files (x86)/Nmap/nmap-services"),
    Path("C:/Program Files/Nmap/nmap-services"),
)
# Set this to point at another nmap-services file, or to "" to force the curated list.
NMAP_SERVICES_ENV = "PORTLAB_NMAP_SERVICES"
SOURCE_NMAP = "nmap-services"
SOURCE_CURATED = "curated"
TOP_PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True)
class CommonPort:
    port: int
    protocols: tuple[str, ...]
    service: str          # the name people say out loud
    description: str


# Priority order: the order below is the fallback ranking for top_ports().  It
# puts first what a beginner will see on almost any network (web, remote login,
# mail, name service), then databases and admin services, then the rest.
COMMON_PORTS: tuple[CommonPort, ...] = (
    CommonPort(80, ("tcp",), "HTTP", "Web pages without encryption; browsers mark it 'Not Secure'."),
    CommonPort(443, ("tcp", "udp"), "HTTPS", "Web over TLS; UDP 443 carries HTTP/3 (QUIC)."),
    CommonPort(22, ("tcp",), "SSH", "Encrypted remote shell, file copy (scp/sftp) and tunnels."),
    CommonPort(53, ("udp", "tcp"), "DNS", "Turns names into addresses; TCP for large answers and zone transfers."),
    CommonPort(25, ("tcp",), "SMTP", "Mail servers handing mail to each other."),
    CommonPort(21, ("tcp",), "FTP", "Old file transfer; the password crosses the wire in clear text."),
    CommonPort(20, ("tcp",), "FTP data", "FTP's separate data connection in active mode."),
    CommonPort(23, ("tcp",), "Telnet", "Remote terminal with no encryption; a red flag on any scan."),
    CommonPort(3389, ("tcp", "udp"), "RDP", "Windows Remote Desktop; a favourite target when exposed."),
    CommonPort(445, ("tcp",), "SMB", "Windows file sharing; never expose it to the internet."),
    CommonPort(110, ("tcp",), "POP3", "Downloading mail from a mailbox, unencrypted."),
    CommonPort(143, ("tcp",), "IMAP", "Reading mail kept on the server, unencrypted."),
    CommonPort(993, ("tcp",), "IMAPS", "IMAP over TLS."),
    CommonPort(995, ("tcp",), "POP3S", "POP3 over TLS."),
    CommonPort(587, ("tcp",), "Submission", "Mail clients sending mail to their server (STARTTLS)."),
    CommonPort(465, ("tcp",), "SMTPS", "Mail submission over implicit TLS."),
    CommonPort(8080, ("tcp",), "HTTP-alt", "Second web port: proxies, app servers, dev servers."),
    CommonPort(8443, ("tcp",), "HTTPS-alt", "Second TLS web port: admin consoles, app servers."),
    CommonPort(3306, ("tcp",), "MySQL", "MySQL / MariaDB database."),
    CommonPort(5432, ("tcp",), "PostgreSQL", "PostgreSQL database."),
    CommonPort(1433, ("tcp",), "MS SQL", "Microsoft SQL Server database."),
    CommonPort(1521, ("tcp",), "Oracle", "Oracle database listener."),
    CommonPort(6379, ("tcp",), "Redis", "In-memory data store; often left without a password."),
    CommonPort(27017, ("tcp",), "MongoDB", "Document database; many leaks came from open instances."),
    CommonPort(9200, ("tcp",), "Elasticsearch", "Search engine HTTP API; another source of data leaks."),
    CommonPort(5900, ("tcp",), "VNC", "Remote desktop (VNC/RFB), often weakly protected."),
    CommonPort(2222, ("tcp",), "SSH-alt", "A common second SSH port; moving SSH here hides nothing from a full scan."),
    CommonPort(135, ("tcp", "udp"), "MS RPC", "Windows RPC endpoint mapper."),
    CommonPort(137, ("udp",), "NetBIOS-NS", "NetBIOS name service (old Windows networking)."),
    CommonPort(138, ("udp",), "NetBIOS-DGM", "NetBIOS datagram service."),
    CommonPort(139, ("tcp",), "NetBIOS-SSN", "NetBIOS session service: SMB before port 445."),
    CommonPort(389, ("tcp", "udp"), "LDAP", "Directory lookups (Active Directory, OpenLDAP)."),
    CommonPort(2049, ("tcp", "udp"), "NFS", "Unix network file system."),
    CommonPort(161, ("udp",), "SNMP", "Monitoring of routers and printers; v1/v2c 'community' strings are passwords in clear."),
    CommonPort(123, ("udp",), "NTP", "Clock synchronisation."),
    CommonPort(67, ("udp",), "DHCP server", "Hands out addresses on a local network (server side)."),
    CommonPort(68, ("udp",), "DHCP client", "The client side of DHCP."),
    CommonPort(69, ("udp",), "TFTP", "Trivial file transfer with no login; used to boot network devices."),
)


def common_port(port: int) -> Optional[CommonPort]:
    """The curated entry for ``port``, if the course lists it."""
    for entry in COMMON_PORTS:
        if entry.port == port:
            return entry
    return None


def nmap_services_path() -> Optional[Path]:
    """Where nmap's ``nmap-services`` file is, or ``None`` when nmap is not installed.

    ``$PORTLAB_NMAP_SERVICES`` overrides the search; set it to an empty string
    to pretend nmap is absent.
    """
    override = os.environ.get(NMAP_SERVICES_ENV)
    if override is not None:
        path = Path(override)
        return path if override and path.is_file() else None
    for path in NMAP_SERVICES_CANDIDATES:
        if path.is_file():
            return path
    return None


def parse_nmap_services(text: str) -> dict[str, list[tuple[float, int]]]:
    """``{protocol: [(open frequency, port), ...]}`` from nmap-services text.

    Each data line reads ``name<TAB>port/proto<TAB>frequency[<TAB># comment]``.
    Lines that do not fit are skipped: the file is nmap's, not ours to validate.
    """
    table: dict[str, list[tuple[float, int]]] = {}
    for line in text.splitlines():
        fields = line.split("#", 1)[0].split()
        if len(fields) < 3:
            continue
        port_text, _, proto = fields[1].partition("/")
        try:
            port, freq = int(port_text), float(fields[2])
        except ValueError:
            continue
        table.setdefault(proto.lower(), []).append((freq, port))
    return table


@lru_cache(maxsize=4)
def _ranked_from_nmap(path: Path) -> dict[str, tuple[int, ...]]:
    table = parse_nmap_services(path.read_text(encoding="utf-8", errors="replace"))
    # Highest frequency first; equal frequencies by port number, which gives the
    # same top-100 and top-1000 sets as nmap 7.93's own --top-ports.
    return {proto: tuple(port for _, port in sorted(rows, key=lambda r: (-r[0], r[1])))
            for proto, rows in table.items()}


def top_ports_source() -> str:
    """``"nmap-services"`` when top_ports() reads nmap's data, else ``"curated"``."""
    return SOURCE_NMAP if nmap_services_path() is not None else SOURCE_CURATED


def top_ports(n: int, protocol: str = "tcp") -> list[int]:
    """The ``n`` most commonly open ports for ``protocol``, most likely first.

    With nmap installed this matches ``nmap --top-ports n`` (same set; nmap
    itself then scans them in its own order).  Without it, the ports of
    ``COMMON_PORTS`` that use ``protocol``, in that list's priority order, so the
    result can be shorter than ``n``; :func:`top_ports_source` says which applied.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadInput(f"top ports count {n!r} is not a positive whole number: expected e.g. 100 or 1000")
    if not isinstance(protocol, str) or protocol.lower() not in TOP_PROTOCOLS:
        raise BadInput(f"top ports protocol {protocol!r} is not known: expected one of {', '.join(TOP_PROTOCOLS)}")
    protocol = protocol.lower()
    path = nmap_services_path()
    if path is not None:
        try:
            return list(_ranked_from_nmap(path).get(protocol, ())[:n])
        except OSError:
            pass  # unreadable: fall back to the curated list, as if nmap were absent
    curated = [entry.port for entry in COMMON_PORTS if protocol in entry.protocols]
    return curated[:n]
