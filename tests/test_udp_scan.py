"""The UDP transport: real datagrams to loopback and into a namespace, both ways of
hearing ICMP (raw socket, IP_RECVERR), the protocol payloads, and Linux's ICMP rate
limit (which a UDP scan must pace around, or call closed ports open|filtered)."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
import time

import pytest

from netlab import netlab, netns_skip_reason
from portlab import udp_payloads as U
from portlab.errors import BadInput
from portlab.privilege import has_raw_socket_privilege
from portlab.states import PortState, Probe, ScanType, classify
from portlab.timing import template
from portlab.transports.udp import UdpTransport, measured_gap

MODES = [pytest.param(False, id="unprivileged"),
         pytest.param(True, id="raw-icmp", marks=pytest.mark.skipif(
             not has_raw_socket_privilege(), reason="raw ICMP socket needs root or CAP_NET_RAW"))]


def udp_scan(ports, target="127.0.0.1", timing=4, privileged=None):
    out = []
    transport = UdpTransport(privileged=privileged)
    probes = [Probe(target, p, ScanType.UDP) for p in ports]
    asyncio.run(transport.run(probes, template(timing) if isinstance(timing, int) else timing, out.append))
    return {e.probe.port: e for e in out}, transport


class DnsOnlyServer:
    """Answers a datagram only if it parses as a DNS query, as a real DNS server does."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def serve(self):
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(2048)
            except socket.timeout:
                continue
            if len(data) >= 17 and struct.unpack_from("!H", data, 4)[0] == 1:   # QDCOUNT 1
                self.sock.sendto(data[:2] + b"\x81\x80" + data[4:], peer)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.sock.close()


@pytest.mark.parametrize("privileged", MODES)
def test_open_and_closed_on_loopback(privileged):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as echo:
        echo.bind(("127.0.0.1", 0))
        echo.setblocking(False)
        port = echo.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spare:
            spare.bind(("127.0.0.1", 0))
            closed = spare.getsockname()[1]
        stop = threading.Event()

        def answer():
            while not stop.is_set():
                try:
                    _, peer = echo.recvfrom(100)
                    echo.sendto(b"hi", peer)
                except BlockingIOError:
                    time.sleep(0.002)

        worker = threading.Thread(target=answer)
        worker.start()
        try:
            got, transport = udp_scan([port, closed], privileged=privileged)
        finally:
            stop.set()
            worker.join()
    assert transport.name == ("udp" if privileged else "udp-unprivileged")
    assert classify("udp", got[port].reply) == (PortState.OPEN, "udp-response")
    assert classify("udp", got[closed].reply) == (PortState.CLOSED, "port-unreach")
    assert [e.direction for e in got[closed].trace] == ["sent", "recv"]


def test_dns_payload_makes_a_real_parser_answer():
    with DnsOnlyServer() as server:
        assert U.payload_for(53) and not U.payload_for(server.port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
            c.settimeout(2)
            c.sendto(U.payload_for(53), ("127.0.0.1", server.port))
            reply, _ = c.recvfrom(100)
        assert reply[:2] == U.payload_for(53)[:2] and reply[2] & 0x80   # same id, QR bit set


def test_snmp_get_request_bytes():
    # SNMPv1, community "public", GetRequest id 0x706c, sysDescr.0 = 1.3.6.1.2.1.1.1.0, NULL value.
    expected = bytes.fromhex("302702010004067075626c6963a01a0202706c020100020100300e300c06082b060102010101000500")
    assert U.snmp_get_request() == expected
    assert U.payload_for(161) == expected


def test_other_payloads_follow_their_specs():
    ntp = U.payload_for(123)
    assert len(ntp) == 48 and ntp[0] >> 3 & 7 == 4 and ntp[0] & 7 == 3     # NTPv4, client mode
    nb = U.payload_for(137)
    assert nb[12] == 32 and nb[13:45] == b"CK" + b"A" * 30 and nb[-4:] == b"\x00\x21\x00\x01"
    dns = U.payload_for(53)
    assert struct.unpack("!HHHHHH", dns[:12])[2] == 1 and dns[12:] == b"\x00\x00\x02\x00\x01"
    mdns = U.payload_for(5353)
    assert b"\x09_services\x07_dns-sd\x04_udp\x05local\x00" in mdns and mdns[:2] == b"\x00\x00"
    assert U.payload_for(1900).startswith(b"M-SEARCH * HTTP/1.1\r\n")
    assert U.payload_for(40000) == b"" and U.describe(40000) == "empty datagram"


def test_measured_gap():
    assert measured_gap([0.0] * 6) is None                           # a burst alone says nothing
    burst_then_steady = [0.0] * 6 + [0.5 * k for k in range(1, 11)]
    assert measured_gap(burst_then_steady) == pytest.approx(0.5)


def test_ipv6_is_bad_input():
    with pytest.raises(BadInput, match="IPv4"):
        udp_scan([53], target="::1", privileged=False)


_NETNS_SKIP = netns_skip_reason()


@pytest.mark.netns
@pytest.mark.skipif(_NETNS_SKIP is not None, reason=_NETNS_SKIP or "")
@pytest.mark.parametrize("privileged,ratelimit_ms", [
    pytest.param(False, 1000, id="unprivileged-default-1000ms"),
    pytest.param(True, 250, id="raw-icmp-250ms", marks=pytest.mark.skipif(
        not has_raw_socket_privilege(), reason="raw ICMP socket needs root or CAP_NET_RAW")),
])
def test_rate_limited_closed_ports_are_closed_not_open_filtered(privileged, ratelimit_ms):
    """Linux answers a peer with one ICMP error per icmp_ratelimit ms after a burst of 6.
    A scan without retries must miss some of 14 closed ports; ours none, paced at the
    kernel's rate (read from the scanner namespace's own sysctl, set alike here)."""
    closed = list(range(3000, 3014))
    with netlab("rl", udp=[3100]) as lab:
        for netns in (lab.scanner_ns, lab.target_ns):
            lab.sysctl(netns, "net.ipv4.icmp_ratelimit", str(ratelimit_ms))
        naive_timing = template(4).with_overrides(max_retries=0)
        naive = lab.run_in(lab.scanner_ns, lambda: udp_scan(closed, lab.target_addr, naive_timing, privileged)[0])
        lost = [p for p, e in naive.items() if classify("udp", e.reply).state is PortState.OPEN_FILTERED]
        assert lost, "the kernel did not rate-limit ICMP: this test no longer shows the effect"
        got, transport = lab.run_in(lab.scanner_ns,
                                    lambda: udp_scan(closed + [3100], lab.target_addr, 4, privileged))
    states = {p: classify("udp", e.reply).state for p, e in got.items()}
    assert states[3100] is PortState.OPEN
    assert all(states[p] is PortState.CLOSED for p in closed), states
    gap = ratelimit_ms / 1000
    assert transport.gaps[lab.target_addr] == pytest.approx(gap, rel=0.1)
    # Paced, not flooded: no port needed more tries than the template allows (counts,
    # not a wall clock: a loaded machine is slower, not wrong).
    assert all(e.tries <= 1 + template(4).max_retries for e in got.values())


def test_cancellation_closes_every_socket():

    fds_before = set(os.listdir("/proc/self/fd"))

    async def cancel_midway():
        reports = []

        def report(exchange):   # cancel from inside the scan, after its first answer
            reports.append(exchange)
            if len(reports) == 1:
                task.cancel()

        task = asyncio.create_task(UdpTransport(privileged=None).run(
            [Probe("127.0.0.1", p, ScanType.UDP) for p in range(20000, 30000)], template(3), report))
        with pytest.raises(asyncio.CancelledError):
            await task
        assert 1 <= len(reports) < 10000

    asyncio.run(cancel_midway())
    # Only the kinds of socket a UDP scan opens: another test's kernel client may close
    # or open descriptors of its own (a zmq context) from a background thread meanwhile.
    left = {fd for fd in set(os.listdir("/proc/self/fd")) - fds_before if _scan_socket(fd)}
    assert not left, {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in left}


def _scan_socket(fd: str) -> bool:
    """Whether descriptor *fd* is a UDP, raw or ICMP socket (what a UDP scan opens)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
    if not target.startswith("socket:["):
        return False
    inode = target[len("socket:["):-1]
    for table in ("udp", "udp6", "raw", "raw6", "icmp", "icmp6"):
        try:
            with open(f"/proc/net/{table}") as f:
                rows = [row.split() for row in f.read().splitlines()[1:]]
        except OSError:
            continue
        if any(len(row) > 9 and row[9] == inode for row in rows):
            return True
    return False


@pytest.mark.netns
@pytest.mark.skipif(_NETNS_SKIP is not None, reason=_NETNS_SKIP or "")
def test_addresses_of_one_machine_are_paced_as_one_bucket():
    """Linux keeps one ICMP bucket per peer for the whole machine: four addresses of the
    target share it.  Pacing each address on its own would send 4x too fast."""
    addresses = ["10.199.0.2", "10.199.0.3", "10.199.0.4", "10.199.0.5"]
    closed = list(range(3000, 3006))
    with netlab("mb", udp=[3100]) as lab:
        for extra in addresses[1:]:
            lab.add_target_address(extra)
        for netns in (lab.scanner_ns, lab.target_ns):
            lab.sysctl(netns, "net.ipv4.icmp_ratelimit", "250")
        out = []
        transport = UdpTransport()
        probes = [Probe(a, p, ScanType.UDP) for a in addresses for p in closed + [3100]]
        lab.run_in(lab.scanner_ns, lambda: asyncio.run(transport.run(probes, template(4), out.append)))
    states = {(e.probe.target, e.probe.port): classify("udp", e.reply).state for e in out}
    assert len(states) == len(probes)
    wrong = {k: v for k, v in states.items() if v is not (PortState.OPEN if k[1] == 3100 else PortState.CLOSED)}
    assert not wrong
    assert transport.shared and set().union(*transport.shared) <= set(addresses)
