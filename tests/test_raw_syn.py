"""The raw SYN transport against real sockets on loopback (and, in the live firewall
tests, against namespaces).  Needs root or CAP_NET_RAW; the privilege error is checked
for real by dropping CAP_NET_RAW with capsh."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys

import psutil
import pytest

from portlab.errors import BadInput, MissingPrivilege
from portlab.privilege import CAP_NET_RAW, effective_capabilities, has_raw_socket_privilege
from portlab.states import PortState, Probe, ReplyKind, ScanType, classify
from portlab.timing import template
from portlab.transports.raw import RawSynTransport, allowed_tries, port_filter
from portlab.transports.witness import MAX_ROUNDS

needs_raw = pytest.mark.skipif(not has_raw_socket_privilege(),
                               reason="raw SYN tests need root or CAP_NET_RAW (CI runs as root)")


def syn(ports, target="127.0.0.1", timing=4, **kwargs):
    out = []
    transport = RawSynTransport(**kwargs)
    probes = [Probe(target, p, ScanType.SYN) for p in ports]
    asyncio.run(transport.run(probes, template(timing), out.append))
    return {e.probe.port: e for e in out}, transport


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free again once closed: nothing listens there


@needs_raw
def test_open_and_closed_on_loopback():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        shut = closed_port()
        got, transport = syn([open_port, shut])
    assert classify("syn", got[open_port].reply) == (PortState.OPEN, "syn-ack")
    assert classify("syn", got[shut].reply) == (PortState.CLOSED, "reset")
    assert got[open_port].tries == 1 and got[open_port].rtt is not None and got[open_port].rtt < 1
    # Small scans keep a packet trace: our SYN, then their answer.
    trace = got[open_port].trace
    assert [e.direction for e in trace] == ["sent", "recv"]
    assert trace[0].summary.startswith("SYN 127.0.0.1:") and trace[1].summary.startswith("SYN/ACK")
    assert transport.probes_sent == 2


@needs_raw
def test_every_probe_reported_exactly_once_on_a_1000_port_range():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        open_port = listener.getsockname()[1]
        ports = sorted(set(range(20000, 21000)) | {open_port})
        out = []
        asyncio.run(RawSynTransport().run([Probe("127.0.0.1", p, ScanType.SYN) for p in ports],
                                          template(4), out.append))
    assert sorted(e.probe.port for e in out) == ports
    states = {e.probe.port: classify("syn", e.reply).state for e in out}
    assert states[open_port] is PortState.OPEN
    assert all(s is PortState.CLOSED for p, s in states.items() if p != open_port)


def test_retry_budget_follows_nmaps_max_successful_try_rule():
    # Silence itself (a dropped SYN) is tested in the namespace tests: loopback always answers.
    assert allowed_tries(template(3), 1) == 2          # clean network: one retry
    assert allowed_tries(template(3), 4) == 5          # answers seen on try 4: allow 5
    assert allowed_tries(template(5), 9) == 3          # never more than 1 + max_retries
    assert allowed_tries(template(5).with_overrides(max_retries=0), 1) == 1


def test_port_filter_program_shape():
    program = port_filter(2, 40000)
    assert len(program) == 5 * 8
    # the comparison instruction carries the port
    assert int.from_bytes(program[16 + 4:16 + 8], sys.byteorder) == 40000


@needs_raw
def test_ipv6_and_names_are_bad_input():
    for target in ("::1", "localhost"):
        with pytest.raises(BadInput, match="IPv4"):
            asyncio.run(RawSynTransport().run([Probe(target, 22, ScanType.SYN)], template(4), lambda e: None))


def test_raw_transport_refuses_other_scan_types():
    with pytest.raises(BadInput, match="SYN"):
        RawSynTransport().check(ScanType.CONNECT)


@needs_raw
def test_no_socket_left_after_cancellation():
    fds_before = set(os.listdir("/proc/self/fd"))

    async def cancel_midway():
        task = asyncio.create_task(RawSynTransport().run(
            [Probe("127.0.0.1", p, ScanType.SYN) for p in range(1, 65536)], template(3), lambda e: None))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert set(os.listdir("/proc/self/fd")) <= fds_before
    assert psutil.Process().children(recursive=True) == []   # the send helper ended too


@needs_raw
def test_the_send_helper_gives_the_same_answers_and_leaves_nothing_behind(monkeypatch):
    """A full range goes out through the send helper process (rawsend.py); the answers
    are the ones the inline sends get, and the helper is gone when the scan returns."""
    from portlab.transports import raw as raw_mod

    started = []

    class Counted(raw_mod.SendHelper):
        def __init__(self, sock):
            super().__init__(sock)
            started.append(self)

    monkeypatch.setattr(raw_mod, "SendHelper", Counted)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    listening = server.getsockname()[1]
    try:
        fds_before = set(os.listdir("/proc/self/fd"))
        with_helper, _ = syn(range(1, 65536), timing=4)
        assert len(started) == 1                    # the helper really sent them
        assert psutil.Process().children(recursive=True) == []
        assert set(os.listdir("/proc/self/fd")) <= fds_before
        inline, _ = syn(range(1, 65536), timing=4, send_helper=False)
        assert len(started) == 1
    finally:
        server.close()
    assert len(with_helper) == len(inline) == 65535
    assert with_helper[listening].reply.kind is ReplyKind.SYN_ACK
    helped = {p: e.reply.kind for p, e in with_helper.items()}
    # Other tests' listeners may come and go meanwhile: compare all but a handful.
    differ = [p for p, e in inline.items() if helped[p] is not e.reply.kind]
    assert len(differ) <= 5, differ


def test_privilege_reads_capeff(tmp_path):
    status = tmp_path / "status"
    status.write_text(f"Name:\tpython\nCapEff:\t{1 << CAP_NET_RAW:016x}\n")
    assert effective_capabilities(str(status)) == 1 << CAP_NET_RAW
    status.write_text("Name:\tpython\nCapEff:\t00000000a80405fb\n")   # docker default minus NET_RAW
    assert effective_capabilities(str(status)) & (1 << CAP_NET_RAW) == 0


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("capsh") is None,
                    reason="dropping CAP_NET_RAW for real needs root and capsh")
def test_without_cap_net_raw_syn_scan_exits_4_and_udp_still_runs():
    """Really drop CAP_NET_RAW (capsh), then run the CLI: SYN must refuse with exit 4 and a
    message naming root/CAP_NET_RAW and the connect scan; the transport check too."""
    code = ("import sys\n"
            "from portlab.transports.raw import RawSynTransport\n"
            "from portlab.transports.udp import UdpTransport\n"
            "from portlab.errors import MissingPrivilege\n"
            "from portlab.states import ScanType\n"
            "try:\n    RawSynTransport().check(ScanType.SYN)\nexcept MissingPrivilege as e:\n    print('REFUSED', e)\n"
            "t = UdpTransport(); t.check(ScanType.UDP); print('UDP', t.name)\n")
    inner = f"{sys.executable} -c {shlex_quote(code)}"
    done = subprocess.run(["capsh", "--drop=cap_net_raw", "--", "-c", inner], capture_output=True, text=True,
                          timeout=60)
    assert "REFUSED" in done.stdout, done.stderr
    assert "CAP_NET_RAW" in done.stdout and "-s connect" in done.stdout
    assert "UDP udp-unprivileged" in done.stdout
    cli = subprocess.run(["capsh", "--drop=cap_net_raw", "--", "-c",
                          f"{sys.executable} -m portlab scan 127.0.0.1 -p 22 -s syn -q"],
                         capture_output=True, text=True, timeout=60)
    assert cli.returncode == 4, (cli.stdout, cli.stderr)
    assert cli.stderr.count("\n") == 1 and "CAP_NET_RAW" in cli.stderr and "Traceback" not in cli.stderr


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


@needs_raw
def test_rate_caps_the_send_rate():
    import time

    ports = list(range(30000, 30400))
    timing = template(4).with_overrides(rate=2000.0)
    out = []
    t0 = time.monotonic()
    asyncio.run(RawSynTransport().run([Probe("127.0.0.1", p, ScanType.SYN) for p in ports], timing, out.append))
    elapsed = time.monotonic() - t0
    assert len(out) == 400 and all(e.reply.kind is ReplyKind.RST for e in out)
    assert elapsed >= 0.15       # 400 packets at 2000/s take 0.2 s (a burst of 64 may go at once)


_NETNS_SKIP = None
try:
    from netlab import netlab, netns_skip_reason
    _NETNS_SKIP = netns_skip_reason()
except ImportError as err:  # pragma: no cover - tests/ is always on the path under pytest
    _NETNS_SKIP = f"tests/netlab.py not importable: {err}"


@needs_raw
@pytest.mark.netns
@pytest.mark.skipif(_NETNS_SKIP is not None, reason=_NETNS_SKIP or "")
def test_two_targets_and_a_dropped_range_in_a_namespace():
    """Replies are matched per target address; dropped SYNs come back as silence after
    exactly two tries (nmap's rule on a loss-free link)."""
    rules = ("table inet t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
             "    ip daddr 10.199.0.3 tcp dport 7000-7099 drop\n  }\n}\n")
    with netlab("syn2", tcp=[22, 7050], ruleset=rules) as lab:
        lab.add_target_address("10.199.0.3")
        probes = [Probe(a, p, ScanType.SYN) for a in ("10.199.0.2", "10.199.0.3")
                  for p in [22, 23] + list(range(7000, 7100))]
        out = []
        lab.run_in(lab.scanner_ns, lambda: asyncio.run(RawSynTransport().run(probes, template(4), out.append)))
    got = {(e.probe.target, e.probe.port): e for e in out}
    assert len(got) == len(probes) == len(out)
    state = {k: classify("syn", e.reply).state for k, e in got.items()}
    for address in ("10.199.0.2", "10.199.0.3"):
        assert state[(address, 22)] is PortState.OPEN and state[(address, 23)] is PortState.CLOSED
    assert state[("10.199.0.2", 7050)] is PortState.OPEN
    dropped = [got[("10.199.0.3", p)] for p in range(7000, 7100)]
    assert all(classify("syn", e.reply) == (PortState.FILTERED, "no-response") for e in dropped)
    assert all(e.tries == 2 for e in dropped)


@needs_raw
@pytest.mark.netns
@pytest.mark.skipif(_NETNS_SKIP is not None, reason=_NETNS_SKIP or "")
def test_rejects_after_another_scan_drained_the_icmp_bucket_keep_their_reason():
    """Right after another scan emptied the target's ICMP bucket, the first rejects go
    silent beside real drops; the witness rounds ask again until the rejects answer,
    and call the drops drops once the witness port gets its error."""
    rules = ("table inet t {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
             "    tcp dport 5000-5005 reject with icmp type admin-prohibited\n"
             "    tcp dport 5100-5111 reject with icmp type admin-prohibited\n"
             "    tcp dport 6200-6203 drop\n  }\n}\n")
    with netlab("syndrain", ruleset=rules) as lab:
        def drain_then_scan():
            import socket as socket_mod
            for port in range(5100, 5112):
                with socket_mod.socket() as s:
                    s.settimeout(0.05)
                    s.connect_ex((lab.target_addr, port))
            ports = list(range(5000, 5006)) + list(range(6200, 6204)) + list(range(7000, 7041))
            out = []
            # 40 probes a second: the main round outlasts the refill of one token, so an
            # ICMP error comes back during it and names a witness.
            timing = template(4).with_overrides(rate=40.0)
            asyncio.run(RawSynTransport().run([Probe(lab.target_addr, p, ScanType.SYN) for p in ports],
                                              timing, out.append))
            return out
        out = lab.run_in(lab.scanner_ns, drain_then_scan)
    got = {e.probe.port: classify("syn", e.reply) for e in out}
    assert len(out) == 51
    assert all(got[p] == (PortState.FILTERED, "admin-prohibited") for p in range(5000, 5006)), got
    assert all(got[p] == (PortState.FILTERED, "no-response") for p in range(6200, 6204)), got
    assert all(got[p].state is PortState.CLOSED for p in range(7000, 7041))
    # Each round settled one swallowed reject, the drops riding along: bounded tries.
    tries = {e.probe.port: e.tries for e in out}
    assert all(3 <= tries[p] <= 2 + MAX_ROUNDS for p in range(6200, 6204)), tries
