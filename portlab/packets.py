"""IPv4, TCP, UDP and ICMP headers as bytes: building, parsing, checksums.

Pure functions and small value types; no sockets (the raw transports do the I/O).
Only what a port scanner needs: a SYN, a UDP datagram, and reading back what
answers them (SYN/ACK, RST, UDP data, ICMP destination-unreachable with the
header of the packet that caused it).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass
from typing import Optional

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

# TCP flag bits (RFC 9293)
FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

ICMP_DEST_UNREACH = 3

_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_TCP = struct.Struct("!HHIIBBHHH")
_UDP = struct.Struct("!HHHH")
_ICMP = struct.Struct("!BBH")


class PacketError(ValueError):
    """Bytes that are not the header they claim to be (too short, wrong version)."""


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071): one's-complement of the one's-complement sum."""
    return ~_fold(_sum16(data)) & 0xFFFF


def _sum16(data: bytes) -> int:
    """Sum of big-endian 16-bit words, not folded (odd length padded with a zero byte)."""
    if len(data) % 2:
        data += b"\x00"
    # Summing 16-bit words equals summing the high bytes (even offsets) times 256 plus
    # the low bytes; two C-level sum() calls beat a Python loop over words.
    return (sum(data[0::2]) << 8) + sum(data[1::2])


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _addr(address: str) -> bytes:
    try:
        return ipaddress.IPv4Address(address).packed
    except ValueError:
        raise PacketError(f"{address!r} is not an IPv4 address") from None


def pseudo_header(src: str, dst: str, protocol: int, length: int) -> bytes:
    """The IPv4 pseudo-header TCP and UDP checksums cover (RFC 768, RFC 9293)."""
    return _addr(src) + _addr(dst) + struct.pack("!BBH", 0, protocol, length)


# --- building ---------------------------------------------------------------------

def build_ipv4(src: str, dst: str, protocol: int, payload: bytes, *, ident: int = 0,
               ttl: int = 64) -> bytes:
    """An IPv4 header (20 bytes, no options, DF clear) followed by *payload*."""
    total = 20 + len(payload)
    header = _IPV4.pack(0x45, 0, total, ident & 0xFFFF, 0, ttl, protocol, 0, _addr(src), _addr(dst))
    csum = checksum(header)
    return header[:10] + struct.pack("!H", csum) + header[12:] + payload


# TCP options of a SYN: MSS 1460 (kind 2), as most stacks send; hosts that
# ignore option-less SYNs are rare, and the option keeps the probe ordinary.
SYN_OPTIONS = struct.pack("!BBH", 2, 4, 1460)


def build_tcp(src: str, dst: str, sport: int, dport: int, *, seq: int = 0, ack: int = 0,
              flags: int = SYN, window: int = 1024, options: bytes = b"") -> bytes:
    """A TCP header (checksum filled in over the pseudo-header), no payload."""
    if len(options) % 4:
        raise PacketError("TCP options must be padded to a multiple of 4 bytes")
    offset = (20 + len(options)) // 4
    header = _TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, offset << 4, flags,
                       window, 0, 0) + options
    csum = checksum(pseudo_header(src, dst, PROTO_TCP, len(header)) + header)
    return header[:16] + struct.pack("!H", csum) + header[18:]


def build_udp(src: str, dst: str, sport: int, dport: int, payload: bytes = b"") -> bytes:
    """A UDP header plus *payload*, checksum filled in (0 is sent as 0xFFFF, RFC 768)."""
    length = 8 + len(payload)
    datagram = _UDP.pack(sport, dport, length, 0) + payload
    csum = checksum(pseudo_header(src, dst, PROTO_UDP, length) + datagram) or 0xFFFF
    return datagram[:6] + struct.pack("!H", csum) + datagram[8:]


class SynTemplate:
    """SYN segments to one target from one source port, differing only in port and seq.

    A scan sends tens of thousands of SYNs that differ in two fields, so the
    checksum of everything else is summed once here and each segment costs one
    pack and a fold (incremental checksum, RFC 1624 in spirit).
    """

    __slots__ = ("_base_sum", "_prefix_sport", "_rest")

    def __init__(self, src: str, dst: str, sport: int, *, window: int = 1024,
                 options: bytes = SYN_OPTIONS) -> None:
        self._prefix_sport = struct.pack("!H", sport)
        offset = (20 + len(options)) // 4
        # The bytes after seq: ack=0, offset, flags, window, checksum=0, urgent=0, options.
        self._rest = struct.pack("!IBBHHH", 0, offset << 4, SYN, window, 0, 0) + options
        length = 20 + len(options)
        self._base_sum = _sum16(pseudo_header(src, dst, PROTO_TCP, length)) + sport + _sum16(self._rest)

    def segment(self, dport: int, seq: int) -> bytes:
        csum = ~_fold(self._base_sum + dport + (seq >> 16) + (seq & 0xFFFF)) & 0xFFFF
        rest = self._rest
        return (self._prefix_sport + struct.pack("!HI", dport, seq) + rest[:8]
                + struct.pack("!H", csum) + rest[10:])


# --- parsing ----------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class IPv4Header:
    src: str
    dst: str
    protocol: int
    header_length: int
    total_length: int
    ident: int
    ttl: int


@dataclass(frozen=True, slots=True)
class TcpHeader:
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    window: int

    @property
    def is_syn_ack(self) -> bool:
        return self.flags & (SYN | ACK) == (SYN | ACK)

    @property
    def is_rst(self) -> bool:
        return bool(self.flags & RST)


@dataclass(frozen=True, slots=True)
class UdpHeader:
    sport: int
    dport: int
    length: int


@dataclass(frozen=True, slots=True)
class IcmpMessage:
    type: int
    code: int
    # For errors (type 3, 11, ...): the IP header and first bytes of the packet that
    # caused it, which is how a scanner knows which probe was refused.
    original_ip: Optional[IPv4Header] = None
    original_payload: bytes = b""

    @property
    def is_unreachable(self) -> bool:
        return self.type == ICMP_DEST_UNREACH


def parse_ipv4(packet: bytes) -> tuple[IPv4Header, bytes]:
    """The header and the payload of an IPv4 packet (payload cut at total length)."""
    if len(packet) < 20:
        raise PacketError(f"IPv4 packet of {len(packet)} bytes is shorter than a header")
    vihl, _tos, total, ident, _frag, ttl, proto, _csum, src, dst = _IPV4.unpack_from(packet)
    if vihl >> 4 != 4:
        raise PacketError(f"IP version {vihl >> 4}, expected 4")
    ihl = (vihl & 0x0F) * 4
    if ihl < 20 or len(packet) < ihl:
        raise PacketError(f"IPv4 header length {ihl} does not fit a {len(packet)}-byte packet")
    header = IPv4Header(str(ipaddress.IPv4Address(src)), str(ipaddress.IPv4Address(dst)), proto,
                        ihl, total, ident, ttl)
    # ICMP quotes are often truncated, so a total length beyond the data is not an error.
    end = min(total, len(packet)) if total >= ihl else len(packet)
    return header, packet[ihl:end]


def parse_tcp(segment: bytes) -> TcpHeader:
    if len(segment) < 20:
        raise PacketError(f"TCP segment of {len(segment)} bytes is shorter than a header")
    sport, dport, seq, ack, _off, flags, window, _csum, _urg = _TCP.unpack_from(segment)
    return TcpHeader(sport, dport, seq, ack, flags, window)


def parse_ports(data: bytes) -> tuple[int, int]:
    """Source and destination port, the first 4 bytes of a TCP or UDP header.

    ICMP errors quote only 8 bytes of the original transport header: enough for
    ports (and TCP's sequence number), not for a full header.
    """
    if len(data) < 4:
        raise PacketError(f"{len(data)} bytes hold no ports")
    return struct.unpack_from("!HH", data)


def parse_udp(datagram: bytes) -> UdpHeader:
    if len(datagram) < 8:
        raise PacketError(f"UDP datagram of {len(datagram)} bytes is shorter than a header")
    sport, dport, length, _csum = _UDP.unpack_from(datagram)
    return UdpHeader(sport, dport, length)


def parse_icmp(message: bytes) -> IcmpMessage:
    if len(message) < 8:
        raise PacketError(f"ICMP message of {len(message)} bytes is shorter than a header")
    icmp_type, code, _csum = _ICMP.unpack_from(message)
    if icmp_type in (3, 4, 5, 11, 12) and len(message) >= 8 + 20:
        try:
            original, payload = parse_ipv4(message[8:])
        except PacketError:
            return IcmpMessage(icmp_type, code)
        return IcmpMessage(icmp_type, code, original, payload)
    return IcmpMessage(icmp_type, code)


def unreachable_quote(packet: bytes, protocol: int, quote_len: int) -> Optional[tuple[int, int]]:
    """For a raw-socket ICMP packet (IP header included): if it is a destination
    unreachable (type 3) quoting an IPv4 packet of *protocol* with at least
    *quote_len* bytes of its transport header, ``(code, offset)`` where *offset* is
    where that quoted header starts in *packet*; otherwise None.

    The SYN and UDP scans call this for every ICMP packet they read, so it slices
    bytes instead of building header objects (``parse_icmp`` is the readable form).
    The quoted destination address is at ``offset - inner_ihl + 16``; callers use
    :func:`quoted_destination`.
    """
    ihl = (packet[0] & 0x0F) << 2
    if len(packet) < ihl + 8 + 20 or packet[ihl] != 3:
        return None
    inner = ihl + 8
    inner_ihl = (packet[inner] & 0x0F) << 2
    if packet[inner + 9] != protocol or len(packet) < inner + inner_ihl + quote_len:
        return None
    return packet[ihl + 1], inner + inner_ihl


def quoted_destination(packet: bytes) -> bytes:
    """The destination address (4 bytes) of the IPv4 packet an ICMP error quotes."""
    inner = ((packet[0] & 0x0F) << 2) + 8
    return packet[inner + 16:inner + 20]


def build_icmp_unreachable(code: int, original: bytes) -> bytes:
    """An ICMP destination-unreachable quoting *original* (IP header + 8 bytes), as a router
    or firewall sends it.  Scanners never send this; tests use it to check the parser."""
    body = struct.pack("!BBHI", ICMP_DEST_UNREACH, code, 0, 0) + original[:28]
    csum = checksum(body)
    return body[:2] + struct.pack("!H", csum) + body[4:]


def tcp_flags_text(flags: int) -> str:
    """``SYN/ACK``, ``RST/ACK``…: flags the way the course's traces print them."""
    names = [(SYN, "SYN"), (FIN, "FIN"), (RST, "RST"), (PSH, "PSH"), (ACK, "ACK"), (URG, "URG")]
    return "/".join(name for bit, name in names if flags & bit) or "none"
