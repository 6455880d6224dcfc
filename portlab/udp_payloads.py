"""Protocol payloads for UDP probes: a question each well-known service answers.

A UDP service ignores a datagram it cannot parse, so an empty probe to a real DNS
server gets silence, and the port looks ``open|filtered``.  A well-formed request
gets an answer, and the port is ``open``.  nmap keeps such payloads in
``nmap-payloads``; these are our own, built here from the protocol specifications.
Pure functions, no I/O.
"""

from __future__ import annotations

import struct
from typing import Callable


def _dns_name(name: str) -> bytes:
    """A domain name as DNS labels (RFC 1035 3.1); "" is the root."""
    out = b""
    for label in filter(None, name.split(".")):
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\x00"


def dns_query(name: str = "", qtype: int = 2, *, ident: int = 0x706C, recursion: bool = True) -> bytes:
    """A standard query (RFC 1035 4.1): one question, *qtype* 2 = NS, class IN.

    The root NS query is what resolvers and authoritative servers alike answer
    (at least with a referral or REFUSED, which is still an answer).
    """
    flags = 0x0100 if recursion else 0x0000
    header = struct.pack("!HHHHHH", ident, flags, 1, 0, 0, 0)
    return header + _dns_name(name) + struct.pack("!HH", qtype, 1)


def ntp_client_request() -> bytes:
    """An NTPv4 client request (RFC 5905): LI 0, version 4, mode 3, the rest zero."""
    return bytes([0x23]) + bytes(47)


def _ber(tag: int, body: bytes) -> bytes:
    """A BER tag-length-value (definite length, short or long form)."""
    n = len(body)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + body


def _ber_int(value: int) -> bytes:
    return _ber(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def _ber_oid(oid: str) -> bytes:
    parts = [int(p) for p in oid.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return _ber(0x06, body)


def snmp_get_request(community: str = "public", oid: str = "1.3.6.1.2.1.1.1.0",
                     request_id: int = 0x706C) -> bytes:
    """SNMPv1 GetRequest (RFC 1157) for *oid* (default sysDescr.0) with *community*."""
    varbind = _ber(0x30, _ber_oid(oid) + b"\x05\x00")           # value: NULL
    pdu = _ber(0xA0, _ber_int(request_id) + _ber_int(0) + _ber_int(0) + _ber(0x30, varbind))
    return _ber(0x30, _ber_int(0) + _ber(0x04, community.encode()) + pdu)  # version 0 = v1


def netbios_node_status() -> bytes:
    """NetBIOS NBSTAT query for the wildcard name "*" (RFC 1002 4.2.17)."""
    # First-level encoding: each nibble of the 16-byte name becomes 'A' + nibble.
    name = b"*" + bytes(15)
    encoded = b"".join(bytes([0x41 + (c >> 4), 0x41 + (c & 0x0F)]) for c in name)
    header = struct.pack("!HHHHHH", 0x706C, 0x0000, 1, 0, 0, 0)
    return header + bytes([32]) + encoded + b"\x00" + struct.pack("!HH", 0x21, 1)


def ssdp_msearch() -> bytes:
    """UPnP SSDP discovery (UPnP Device Architecture 1.1, 1.3.2)."""
    return (b"M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\n"
            b"MAN: \"ssdp:discover\"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n")


def mdns_services_query() -> bytes:
    """DNS-SD service enumeration over unicast mDNS (RFC 6762, RFC 6763 9): PTR query, id 0."""
    return dns_query("_services._dns-sd._udp.local", qtype=12, ident=0, recursion=False)


def rpc_null_call(program: int = 100000, version: int = 2) -> bytes:
    """ONC RPC NULL procedure to the portmapper (RFC 5531): every RPC server answers it."""
    return struct.pack("!IIIIIIIIII", 0x706C706C, 0, 2, program, version, 0, 0, 0, 0, 0)


def echo_probe() -> bytes:
    """For echo (7): anything comes back."""
    return b"portlab\n"


# port -> (what the probe is, how to build it)
PAYLOADS: dict[int, tuple[str, Callable[[], bytes]]] = {
    7: ("echo", echo_probe),
    53: ("DNS root NS query", dns_query),
    111: ("ONC RPC portmapper NULL call", rpc_null_call),
    123: ("NTPv4 client request", ntp_client_request),
    137: ("NetBIOS node status (*)", netbios_node_status),
    161: ("SNMPv1 get sysDescr.0, community public", snmp_get_request),
    1900: ("SSDP M-SEARCH ssdp:all", ssdp_msearch),
    5353: ("mDNS service enumeration", mdns_services_query),
}

_CACHE: dict[int, bytes] = {}


def payload_for(port: int) -> bytes:
    """The datagram to send to *port*: a protocol request for known ports, else empty."""
    data = _CACHE.get(port)
    if data is None:
        entry = PAYLOADS.get(port)
        data = entry[1]() if entry else b""
        _CACHE[port] = data
    return data


def describe(port: int) -> str:
    entry = PAYLOADS.get(port)
    return entry[0] if entry else "empty datagram"
