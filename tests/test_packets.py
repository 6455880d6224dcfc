"""portlab.packets: checksums, building and parsing, checked against RFC examples,
against each other (template vs. builder) and against the kernel's own packets."""

from __future__ import annotations

import socket
import struct

import pytest

from portlab import packets as P


def test_checksum_rfc1071_example():
    # RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to 0xddf2; checksum = ~sum.
    assert P.checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D


def test_checksum_odd_length_pads_with_zero():
    assert P.checksum(b"\x01") == P.checksum(b"\x01\x00")


def test_checksum_of_packet_including_its_checksum_is_zero():
    ip = P.build_ipv4("10.0.0.1", "10.0.0.2", P.PROTO_TCP, b"x" * 7, ident=4242)
    assert P.checksum(ip[:20]) == 0
    tcp = P.build_tcp("10.0.0.1", "10.0.0.2", 40000, 443, seq=123456789, options=P.SYN_OPTIONS)
    assert P.checksum(P.pseudo_header("10.0.0.1", "10.0.0.2", P.PROTO_TCP, len(tcp)) + tcp) == 0
    udp = P.build_udp("10.0.0.1", "10.0.0.2", 5353, 53, b"abc")
    assert P.checksum(P.pseudo_header("10.0.0.1", "10.0.0.2", P.PROTO_UDP, len(udp)) + udp) == 0


def test_known_ipv4_header_checksum():
    # The classic worked example (Wikipedia "IPv4 header checksum"): 0xb861.
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert P.checksum(header) == 0xB861


@pytest.mark.parametrize("dport,seq", [(1, 0), (22, 1), (443, 0xFFFFFFFF), (65535, 0x80000000), (8080, 0x1234ABCD)])
def test_syn_template_matches_full_builder(dport, seq):
    template = P.SynTemplate("192.0.2.1", "198.51.100.7", 51234)
    built = P.build_tcp("192.0.2.1", "198.51.100.7", 51234, dport, seq=seq, options=P.SYN_OPTIONS)
    assert template.segment(dport, seq) == built


def test_parse_round_trip_tcp():
    seg = P.build_tcp("10.1.1.1", "10.1.1.2", 1234, 80, seq=77, ack=78, flags=P.SYN | P.ACK, window=29200)
    ip = P.build_ipv4("10.1.1.2", "10.1.1.1", P.PROTO_TCP, seg, ttl=63)
    hdr, payload = P.parse_ipv4(ip)
    assert (hdr.src, hdr.dst, hdr.protocol, hdr.ttl, hdr.total_length) == ("10.1.1.2", "10.1.1.1", 6, 63, 40)
    tcp = P.parse_tcp(payload)
    assert (tcp.sport, tcp.dport, tcp.seq, tcp.ack, tcp.window) == (1234, 80, 77, 78, 29200)
    assert tcp.is_syn_ack and not tcp.is_rst
    assert P.tcp_flags_text(tcp.flags) == "SYN/ACK"


def test_parse_icmp_quote_gives_original_ports_and_seq():
    probe = P.build_ipv4("10.9.0.1", "10.9.0.2", P.PROTO_TCP,
                         P.build_tcp("10.9.0.1", "10.9.0.2", 40001, 8081, seq=0xDEADBEEF))
    icmp = P.parse_icmp(P.build_icmp_unreachable(13, probe))
    assert (icmp.type, icmp.code, icmp.is_unreachable) == (3, 13, True)
    assert icmp.original_ip.dst == "10.9.0.2" and icmp.original_ip.protocol == P.PROTO_TCP
    assert P.parse_ports(icmp.original_payload) == (40001, 8081)
    assert struct.unpack_from("!I", icmp.original_payload, 4)[0] == 0xDEADBEEF


@pytest.mark.parametrize("data,match", [
    (b"\x45" * 10, "shorter than a header"),
    (bytes.fromhex("65000014000000004006000001020304050607080000"), "IP version 6"),
])
def test_parse_ipv4_rejects_garbage(data, match):
    with pytest.raises(P.PacketError, match=match):
        P.parse_ipv4(data)


def test_short_headers_rejected():
    with pytest.raises(P.PacketError):
        P.parse_tcp(b"\x00" * 19)
    with pytest.raises(P.PacketError):
        P.parse_udp(b"\x00" * 7)
    with pytest.raises(P.PacketError):
        P.parse_icmp(b"\x03\x03")
    with pytest.raises(P.PacketError, match="not an IPv4 address"):
        P.build_udp("::1", "10.0.0.1", 1, 2)


def test_udp_zero_checksum_is_sent_as_ffff():
    # 0x0000 on the wire means "no checksum" in UDP, so a computed 0 must go out as 0xFFFF.
    for n in range(200):
        udp = P.build_udp("10.0.0.1", "10.0.0.2", 1000 + n, 53, bytes([n]))
        assert struct.unpack_from("!H", udp, 6)[0] != 0


def test_kernel_accepts_our_udp_checksum():
    """A datagram we built, sent through a raw socket to loopback, reaches a UDP socket:
    the kernel drops datagrams with a bad checksum, so arrival proves it right."""
    try:
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    except PermissionError:
        pytest.skip("needs root or CAP_NET_RAW for a raw socket")
    with raw, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        sink.settimeout(2)
        port = sink.getsockname()[1]
        raw.sendto(P.build_udp("127.0.0.1", "127.0.0.1", 40404, port, b"hello portlab"), ("127.0.0.1", 0))
        data, peer = sink.recvfrom(100)
        assert data == b"hello portlab" and peer == ("127.0.0.1", 40404)
        raw.sendto(P.build_udp("127.0.0.2", "127.0.0.1", 40405, port, b"bad sum"), ("127.0.0.1", 0))
        with pytest.raises(socket.timeout):
            sink.settimeout(0.3)
            sink.recvfrom(100)


def test_unreachable_quote_finds_the_quoted_header():
    original = P.build_ipv4("10.0.0.1", "10.0.0.2", 17, P.build_udp("10.0.0.1", "10.0.0.2", 40000, 53))
    icmp = P.build_ipv4("10.0.0.2", "10.0.0.1", 1, P.build_icmp_unreachable(3, original))
    code, offset = P.unreachable_quote(icmp, 17, 4)
    assert code == 3 and icmp[offset:offset + 4] == (40000).to_bytes(2, "big") + (53).to_bytes(2, "big")
    assert P.quoted_destination(icmp) == bytes([10, 0, 0, 2])
    assert P.unreachable_quote(icmp, 6, 8) is None            # it quotes UDP, not TCP
    assert P.unreachable_quote(icmp[:40], 17, 4) is None      # truncated
