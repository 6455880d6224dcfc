"""Further reading, per notebook: the sources behind what each notebook teaches.

Every entry names its source precisely (the RFC with its number, section and section
title; the chapter of nmap's reference guide; the title of the AWS, Azure or kernel
documentation page), gives its address and says in one line what to read it for.
:func:`markdown` renders a notebook's list as the Markdown of its last cell, so the
notebooks and this list cannot drift apart unnoticed (a test compares them).

RFC links go to the IETF datatracker's HTML, whose ``#section-N`` anchors work for
every RFC, old and new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import BadInput
from .syllabus import NOTEBOOKS, notebook as _notebook


@dataclass(frozen=True)
class Source:
    title: str     # the precise name: "RFC 6335, section 6: Port Number Ranges"
    url: str
    why: str       # one line: what to read it for


def _rfc(number: int, section: str = "") -> str:
    return f"https://datatracker.ietf.org/doc/html/rfc{number}" + (f"#section-{section}" if section else "")


_NMAP = "https://nmap.org/book/"
_KERNEL = "https://docs.kernel.org/networking/"
_MAN7 = "https://man7.org/linux/man-pages/"
_AWS = "https://docs.aws.amazon.com/vpc/latest/userguide/"
_AZURE = "https://learn.microsoft.com/en-us/azure/virtual-network/"
_NFT = "https://wiki.nftables.org/wiki-nftables/index.php/"
_OWASP = "https://cheatsheetseries.owasp.org/cheatsheets/"

LEGAL = Source('nmap Network Scanning, "Legal Issues"', _NMAP + "legal-issues.html",
               "why written permission comes before any scan, from nmap's author (general advice, not the law "
               "of your country)")
PORT_SPEC = Source('nmap Reference Guide: "Port Specification and Scan Order"', _NMAP + "man-port-specification.html",
                   "what -p- scans (ports 1 to 65535; port 0 only when named) and how the default top ports are chosen")
CONNTRACK = Source("Linux kernel documentation: nf_conntrack-sysctl", _KERNEL + "nf_conntrack-sysctl.html",
                   "how long Linux remembers a connection: nf_conntrack_tcp_timeout_established is 432000 s "
                   "(five days) by default, nf_conntrack_udp_timeout 30 s")
IP_SYSCTL = Source("Linux kernel documentation: ip-sysctl", _KERNEL + "ip-sysctl.html",
                   "ip_local_port_range (the ephemeral range, 32768-60999 by default) and "
                   "ip_unprivileged_port_start (the first port an ordinary user may bind, 1024 by default)")
NIST_FIREWALLS = Source("NIST SP 800-41 Rev. 1: Guidelines on Firewalls and Firewall Policy",
                        "https://csrc.nist.gov/pubs/sp/800/41/r1/final",
                        "why a firewall policy denies by default and allows only the traffic it names")
NFT_QUICK = Source('nftables wiki: "Quick reference-nftables in 10 minutes"',
                   _NFT + "Quick_reference-nftables_in_10_minutes",
                   "tables, chains, hooks, policies and rules in nft's own syntax, the language of the live lab")
OUTPUT = Source('nmap Reference Guide: "Output"', _NMAP + "man-output.html",
                "nmap's output formats, among them the XML (-oX) that portlab reads into a DataFrame")

READING: dict[str, tuple[Source, ...]] = {
    "00": (
        LEGAL,
        Source("nmap Reference Guide (the nmap(1) manual)", _NMAP + "man.html",
               "the tool this course measures portlab against; later notebooks point to its chapters"),
        Source("Linux man-pages: network_namespaces(7)", _MAN7 + "man7/network_namespaces.7.html",
               "what the live lab is made of: network stacks of their own, each with its own loopback, "
               "interfaces, routes and firewall"),
        Source("Linux man-pages: user_namespaces(7)", _MAN7 + "man7/user_namespaces.7.html",
               "how an ordinary user gets the rights to build such a network inside a namespace of their own, "
               "and nowhere else"),
    ),
    "01": (
        Source("RFC 6335, section 6: Port Number Ranges", _rfc(6335, "6"),
               "the three ranges and their names: System Ports 0-1023, User Ports 1024-49151, Dynamic Ports "
               "49152-65535"),
        Source("IANA: Service Name and Transport Protocol Port Number Registry",
               "https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.xhtml",
               "the register portlab ships: look up any port, its service name and who asked for it"),
        IP_SYSCTL,
        Source("RFC 6056, section 2: Ephemeral Ports", _rfc(6056, "2"),
               "how an operating system chooses a client's port, and why it should be hard to guess"),
        Source('Python documentation: "socket — Low-level networking interface"',
               "https://docs.python.org/3/library/socket.html",
               "the calls the notebook makes: socket, bind, listen, accept, connect, getsockname"),
    ),
    "02": (
        Source('nmap Reference Guide: "Port Scanning Basics"', _NMAP + "man-port-scanning-basics.html",
               "nmap's six port states, each defined by what the scanner saw"),
        LEGAL,
        Source("RFC 9116: A File Format to Aid in Security Vulnerability Disclosure", _rfc(9116),
               "security.txt: where an organisation says whom to tell about a problem, and under which policy"),
        Source("Linux man-pages: connect(2)", _MAN7 + "man2/connect.2.html",
               "the errors a connect scan reads, ECONNREFUSED (closed) and ETIMEDOUT among them"),
    ),
    "03": (
        Source('nmap Reference Guide: "Port Scanning Techniques"', _NMAP + "man-port-scanning-techniques.html",
               "-sT, -sS and -sU in nmap's words, with the answers each turns into a state"),
        Source("RFC 9293, section 3.5: Establishing a Connection", _rfc(9293, "3.5"),
               "the three-way handshake, and in 3.5.2 (Reset Generation) when TCP answers with a reset"),
        Source("RFC 768: User Datagram Protocol", _rfc(768),
               "all of UDP in three pages: no handshake and no acknowledgement, hence the UDP scan's silences"),
        Source("RFC 1122, section 4.1.3.1: Ports", _rfc(1122, "4.1.3.1"),
               "why a closed UDP port answers ICMP port unreachable: a SHOULD, not a MUST"),
        Source("RFC 1812, section 5.2.7.1: Destination Unreachable", _rfc(1812, "5.2.7.1"),
               "the ICMP unreachable codes, among them 13, Communication Administratively Prohibited"),
        Source("Linux kernel documentation: ip-sysctl (icmp_ratelimit, icmp_ratemask, icmp_msgs_per_sec)",
               _KERNEL + "ip-sysctl.html",
               "the limits on how many ICMP errors Linux sends, which make a UDP scan of closed ports slow"),
    ),
    "04": (
        Source('nmap Reference Guide: "Timing and Performance"', _NMAP + "man-performance.html",
               "what -T0 to -T5 set (timeouts, retries, parallelism, delays) and the options behind each"),
        Source('nmap Network Scanning: "Scan Code and Algorithms"', _NMAP + "port-scanning-algorithms.html",
               "how nmap adapts its timeouts and its parallelism while it scans, like TCP's congestion control"),
        Source("RFC 6298: Computing TCP's Retransmission Timer", _rfc(6298),
               "how a timeout is derived from measured round-trip times, the idea behind a scanner's timeouts"),
        OUTPUT,
        Source('pandas user guide: "Group by: split-apply-combine"',
               "https://pandas.pydata.org/docs/user_guide/groupby.html",
               "counting ports per state or per host in a results table"),
    ),
    "05": (
        NFT_QUICK,
        Source('nftables wiki: "Matching connection tracking stateful metainformation"',
               _NFT + "Matching_connection_tracking_stateful_metainformation",
               "ct state established,related: the rule that makes a firewall stateful"),
        CONNTRACK,
        NIST_FIREWALLS,
        Source('nmap Reference Guide: "Port Scanning Basics"', _NMAP + "man-port-scanning-basics.html",
               "why a dropped probe reads filtered and a reset reads closed"),
    ),
    "06": (
        Source('AWS, Amazon VPC User Guide: "Control traffic to resources using security groups"',
               _AWS + "vpc-security-groups.html",
               "what a security group is, and that it applies to the resources it is associated with"),
        Source('AWS, Amazon VPC User Guide: "Security group rules"', _AWS + "security-group-rules.html",
               "what a rule names (protocol, port range, a CIDR or another group), and that rules only allow"),
        Source('AWS, Amazon VPC User Guide: "Default security groups for your VPCs"',
               _AWS + "default-security-group.html",
               "the default group's rule that lets members of the same group reach each other"),
        Source('AWS, Amazon VPC User Guide: "Control subnet traffic with network access control lists"',
               _AWS + "vpc-network-acls.html",
               "the subnet's numbered, stateless allow and deny rules, for what a security group cannot deny"),
        Source('Microsoft Azure: "Network security groups"', _AZURE + "network-security-groups-overview",
               "rule properties, priorities 100-4096, and the three default inbound and three default outbound rules"),
        Source('Microsoft Azure: "How network security groups filter network traffic"',
               _AZURE + "network-security-group-how-it-works",
               "the order when a subnet and a network interface both have an NSG: coming in, the subnet's first"),
        Source('Microsoft Azure: "Virtual network service tags"', _AZURE + "service-tags-overview",
               "what the VirtualNetwork and Internet tags stand for; VirtualNetwork also covers peered and "
               "connected on-premises address ranges"),
    ),
    "07": (
        Source("RFC 1918, section 3: Private Address Space", _rfc(1918, "3"),
               "the three private ranges every home and office may reuse"),
        Source("RFC 3022: Traditional IP Network Address Translator (Traditional NAT)", _rfc(3022),
               "NAT defined, and NAPT, the kind that rewrites ports too so that one address serves a whole home"),
        Source("RFC 4787, section 4.1: Address and Port Mapping", _rfc(4787, "4.1"),
               "the mapping behaviours: endpoint-independent, address-dependent, address and port-dependent"),
        Source("RFC 4787, section 5: Filtering Behavior", _rfc(4787, "5"),
               "who may send in through a mapping (EIF, ADF, APDF), and section 6 on hairpinning"),
        Source("RFC 5382, section 5: NAT Session Refresh", _rfc(5382, "5"),
               "the minimum idle timeout for an established TCP connection through a NAT: 2 hours 4 minutes"),
        CONNTRACK,
        Source('nftables wiki: "Performing Network Address Translation (NAT)"',
               _NFT + "Performing_Network_Address_Translation_(NAT)",
               "masquerade and dnat, the two NAT rules of the live lab's router"),
    ),
    "08": (
        Source("RFC 9110, section 15.4.2: 301 Moved Permanently", _rfc(9110, "15.4.2"),
               "the redirect port 80 answers with; its Location field is section 10.2.2"),
        Source("RFC 6797, section 6.1: Strict-Transport-Security HTTP Response Header Field", _rfc(6797, "6.1"),
               "the HSTS header and its max-age and includeSubDomains directives"),
        Source("OWASP Cheat Sheet Series: HTTP Strict Transport Security Cheat Sheet",
               _OWASP + "HTTP_Strict_Transport_Security_Cheat_Sheet.html",
               "how to deploy HSTS and which attacks it stops"),
        Source("RFC 8446, section 1: Introduction", _rfc(8446, "1"),
               "what TLS 1.3 promises: an authenticated server, confidentiality and integrity"),
        Source("OpenBSD manual: sshd_config(5), Port and ListenAddress", "https://man.openbsd.org/sshd_config",
               "the lines that move SSH to another port or address"),
        Source("Linux man-pages: socket(7), SO_REUSEADDR", _MAN7 + "man7/socket.7.html",
               "what SO_REUSEADDR allows on Linux, and that it never lets two programs listen on one port"),
        Source("RFC 9293, section 3.6: Closing a Connection", _rfc(9293, "3.6"),
               "TIME-WAIT, and why it lasts twice the maximum segment lifetime"),
        Source("Linux man-pages: ss(8)", _MAN7 + "man8/ss.8.html",
               "ss -ltnp: which program listens on which port"),
        PORT_SPEC,
    ),
    "09": (
        Source('nmap Reference Guide: "Service and Version Detection"', _NMAP + "man-version-detection.html",
               "how nmap names the service on any port from what it answers, banners first"),
        Source("RFC 4253, section 4.2: Protocol Version Exchange", _rfc(4253, "4.2"),
               "the SSH-2.0-... line an SSH server sends first, whatever port it listens on"),
        Source("RFC 959, section 5.4: Sequencing of Commands and Replies", _rfc(959, "5.4"),
               "an FTP server greets with 220 when it is ready for a new user"),
        Source("RFC 9051, section 7.1.1: OK Response", _rfc(9051, "7.1.1"),
               "an IMAP server greets with an untagged OK (\"* OK\") before any command"),
        PORT_SPEC,
        Source("OWASP Cheat Sheet Series: Authentication Cheat Sheet", _OWASP + "Authentication_Cheat_Sheet.html",
               "what protects a service that must stay open: strong authentication, throttling and lockouts"),
    ),
    "10": (
        Source("NIST SP 800-115: Technical Guide to Information Security Testing and Assessment",
               "https://csrc.nist.gov/pubs/sp/800/115/final",
               "how an assessment is planned, run and reported; section 4.2 is network port and service "
               "identification"),
        NIST_FIREWALLS,
        NFT_QUICK,
        Source("Ndiff: Utility to compare the results of Nmap scans", _NMAP + "ndiff-man.html",
               "compare two nmap XML scans, the before-and-after proof of a change"),
        OUTPUT,
    ),
}


def reading(notebook) -> tuple[Source, ...]:
    """The further reading of *notebook*: a number (7, "7", "07") or its file name
    ("07-nat-and-port-forwarding", with or without ``.ipynb``)."""
    key = str(notebook).strip()
    if key.endswith(".ipynb"):
        key = key[:-len(".ipynb")]
    found = re.fullmatch(r"(\d{1,2})(-[a-z0-9-]+)?", key)
    try:
        if not found:
            raise ValueError(key)
        nb = _notebook(found.group(1))
        if found.group(2) and key != nb.slug:
            raise ValueError(key)
    except ValueError:
        raise BadInput(f"further reading: notebook {notebook!r} "
                       f"(expected one of {', '.join(nb.number for nb in NOTEBOOKS)})") from None
    return READING[nb.number]


def markdown(notebook, heading: str = "## Further reading") -> str:
    """The notebook's further reading as the Markdown of a final cell."""
    lines = [heading, "",
             "Where the facts of this notebook come from, and where to go deeper (each source named as you "
             "would search for it):", ""]
    for source in reading(notebook):
        lines.append(f"- [{source.title}]({source.url}): {source.why}.")
    return "\n".join(lines) + "\n"
