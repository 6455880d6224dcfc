"""The engine with the connect transport, against real sockets on loopback (and in a
network namespace this test creates).  Nothing here addresses anything but loopback."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

import portlab
from portlab.engine import build_probes, scan, scan_async
from portlab.errors import BadInput
from portlab.states import PortState, ScanType
from portlab.targets import Target
from portlab.transports.connect import ConnectTransport


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def assert_no_new_fds(before: set[str]) -> None:
    # A subset, not equality: the garbage collector may close something an earlier
    # test left behind meanwhile; what matters is that the scan left nothing open.
    # (/proc/self/fd also lists the descriptor listdir itself uses: identical numbers.)
    leaked = open_fds() - before
    assert not leaked, {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in leaked
                        if os.path.exists(f"/proc/self/fd/{fd}")}


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(family=socket.AF_INET, host="127.0.0.1") -> int:
    """A port nothing listens on (bound then released, so the kernel just handed it out)."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Listeners:
    """TCP listeners the test owns; closed on exit."""

    def __init__(self, host="127.0.0.1", count=3, backlog=128):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socks = []
        for _ in range(count):
            s = socket.socket(family, socket.SOCK_STREAM)
            s.bind((host, 0))
            s.listen(backlog)
            self.socks.append(s)
        self.ports = sorted(s.getsockname()[1] for s in self.socks)

    def close(self):
        for s in self.socks:
            s.close()


@pytest.fixture
def listeners():
    group = Listeners()
    try:
        yield group
    finally:
        group.close()


class FullBacklog:
    """A listener whose accept queue is full: Linux then drops further SYNs silently,
    which is a real 'no response' on loopback (filtered, as behind a DROP rule)."""

    def __init__(self):
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(0)
        self.port = self.server.getsockname()[1]
        self.clients = []
        for _ in range(8):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", self.port))
            self.clients.append(c)
            time.sleep(0.02)
            if c.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0 and not _connected(c):
                return  # this one hangs: the queue is full
        raise RuntimeError("could not fill the accept queue")

    def close(self):
        for c in self.clients:
            c.close()
        self.server.close()


def _connected(sock) -> bool:
    try:
        sock.getpeername()
        return True
    except OSError:
        return False


def states(result, address="127.0.0.1"):
    return {p.port: (p.state, p.reason) for p in result.host(address).ports}


def test_open_and_closed_on_ipv4(listeners):
    closed = free_port()
    result = scan("127.0.0.1", listeners.ports + [closed], seed=1)
    got = states(result)
    for port in listeners.ports:
        assert got[port] == (PortState.OPEN, "syn-ack")
    assert got[closed] == (PortState.CLOSED, "conn-refused")
    assert result.transport == "connect" and result.scan_type is ScanType.CONNECT
    assert result.probes_sent == len(listeners.ports) + 1 and result.retries == 0
    assert result.started.tzinfo is not None and result.elapsed_s > 0
    ports = result.host("127.0.0.1").ports
    assert [p.port for p in ports] == sorted(got)           # sorted by port
    assert all(p.tries == 1 and p.rtt is not None and p.rtt < 1 for p in ports)


def _tcp_states_involving(port: int) -> list[str]:
    """TCP states (hex, as /proc/net/tcp writes them) of connections touching *port*."""
    found = []
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            local, remote, st = fields[1], fields[2], fields[3]
            if int(local.split(":")[1], 16) == port or int(remote.split(":")[1], 16) == port:
                found.append(st)
    return found


def test_open_port_is_reset_not_left_in_time_wait(listeners):
    # SO_LINGER 0: the scanner's close sends RST, so nothing lingers in TIME_WAIT (06),
    # which would exhaust ephemeral ports over a full-range scan, and a service that
    # accepts the connection reads a reset (or EOF), never data.
    port = listeners.ports[0]
    result = scan("127.0.0.1", [port])
    assert result.host("127.0.0.1").ports[0].state is PortState.OPEN
    assert _tcp_states_involving(port) == ["0A"]        # only the listener itself (LISTEN)
    server = listeners.socks[0]
    server.settimeout(0.2)
    try:
        conn, _ = server.accept()
    except socket.timeout:
        return   # the kernel dropped the reset connection from the queue: also fine
    with conn:
        conn.settimeout(1)
        try:
            assert conn.recv(10) == b""
        except ConnectionResetError:
            pass


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_and_mixed_targets_sorted_by_address():
    v6 = Listeners("::1", count=2)
    v4 = Listeners("127.0.0.1", count=1)
    try:
        ports = v6.ports + v4.ports
        result = scan(["::1", "127.0.0.1"], ports)
        assert [h.address for h in result.hosts] == ["127.0.0.1", "::1"]
        got6, got4 = states(result, "::1"), states(result, "127.0.0.1")
        for port in v6.ports:
            assert got6[port][0] is PortState.OPEN
        for port in v4.ports:
            assert got4[port][0] is PortState.OPEN
            assert got6.get(port, (PortState.CLOSED,))[0] in (PortState.CLOSED, PortState.OPEN)
        # A port open on IPv4 only is closed on ::1 unless the same number happens to be open there.
        only_v4 = [p for p in v4.ports if p not in v6.ports]
        for port in only_v4:
            assert got6[port] == (PortState.CLOSED, "conn-refused")
    finally:
        v6.close()
        v4.close()


def test_hostname_keeps_its_name(listeners):
    result = scan("localhost", listeners.ports[:1])
    assert len(result.hosts) == 1
    assert result.hosts[0].name == "localhost"


def test_trace_tells_the_story_and_can_be_dropped(listeners):
    closed = free_port()
    result = scan("127.0.0.1", [listeners.ports[0], closed])
    by_port = {p.port: p for p in result.host("127.0.0.1").ports}
    opened, refused = by_port[listeners.ports[0]].trace, by_port[closed].trace
    assert [e.direction for e in opened] == ["sent", "recv"]
    assert "SYN" in opened[0].summary and "succeeded" in opened[1].summary
    assert "ECONNREFUSED" in refused[1].summary
    assert opened[0].t <= opened[1].t
    lean = scan("127.0.0.1", [listeners.ports[0], closed], keep_trace=False)
    assert all(p.trace == () for p in lean.host("127.0.0.1").ports)


def test_silence_is_filtered_with_nmaps_retry_rule():
    full = FullBacklog()
    try:
        result = scan("127.0.0.1", [full.port], retries=5, min_timeout=0.05, max_timeout=0.2)
        port = result.host("127.0.0.1").ports[0]
        assert (port.state, port.reason) == (PortState.FILTERED, "no-response")
        # No retry ever got an answer, so nmap's rule allows one retry, not five.
        assert port.tries == 2 and result.retries == 1
        assert port.rtt is None
        once = scan("127.0.0.1", [full.port], retries=0, max_timeout=0.2)
        assert once.host("127.0.0.1").ports[0].tries == 1
    finally:
        full.close()


def test_probe_order_is_port_then_host_and_seeded_shuffle():
    targets = [Target("127.0.0.1"), Target("127.0.0.2")]
    ordered = build_probes(targets, [1, 2], ScanType.CONNECT, randomize=False)
    assert [(p.port, p.target) for p in ordered] == [(1, "127.0.0.1"), (1, "127.0.0.2"),
                                                     (2, "127.0.0.1"), (2, "127.0.0.2")]
    a = build_probes(targets, range(1, 200), ScanType.CONNECT, seed=7)
    b = build_probes(targets, range(1, 200), ScanType.CONNECT, seed=7)
    assert a == b and a != build_probes(targets, range(1, 200), ScanType.CONNECT, randomize=False)


def test_progress_is_throttled_and_ends_at_total(listeners):
    calls = []
    scan("127.0.0.1", "1-3000", progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (3000, 3000)
    assert all(total == 3000 for _, total in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert len(calls) <= 3000 // 10   # throttled: far fewer calls than probes


def test_scan_works_inside_a_running_event_loop(listeners):
    async def notebook_cell():
        # Jupyter runs cells inside a loop: the blocking scan() must still work there.
        blocking = scan("127.0.0.1", listeners.ports)
        awaited = await scan_async("127.0.0.1", listeners.ports)
        return blocking, awaited

    blocking, awaited = asyncio.run(notebook_cell())
    for result in (blocking, awaited):
        assert all(p.state is PortState.OPEN for p in result.host("127.0.0.1").ports)


def test_lazy_reexport_from_package():
    assert portlab.scan is scan and portlab.scan_async is scan_async
    code = "import sys, portlab; print('portlab.engine' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kwargs,fragment", [
    ({"retries": -1}, "retries"),
    ({"max_parallel": 0}, "max_parallel"),
    ({"rate": 0}, "rate"),
    ({"min_timeout": 2.0, "max_timeout": 1.0}, "min_timeout"),
    ({"timing": 9}, "timing template"),
    ({"scan_type": "xmas"}, "scan type"),
    ({"transport": "carrier-pigeon"}, "transport"),
])
def test_bad_options_are_bad_input(kwargs, fragment):
    with pytest.raises(BadInput, match=fragment):
        scan("127.0.0.1", "1", **kwargs)


def test_rate_cap_paces_probes():
    t0 = time.monotonic()
    result = scan("127.0.0.1", "1-30", rate=100)
    took = time.monotonic() - t0
    assert len(result.host("127.0.0.1").ports) == 30
    assert took >= 0.25   # 30 probes at 100/s take about 0.3 s


def listening_tcp_ports() -> set[int]:
    """Ports with a TCP listener on this machine (/proc/net/tcp, state 0A = LISTEN)."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_full_range_scan_leaks_no_descriptors(listeners):
    fds_before = open_fds()
    closed_before = fd_count()
    transport = ConnectTransport(keep_trace=False)
    result = scan("127.0.0.1", "-", transport=transport, keep_trace=False)
    ports = result.host("127.0.0.1").ports
    assert len(ports) == 65535
    opened = {p.port for p in ports if p.state is PortState.OPEN}
    assert set(listeners.ports) <= opened
    # Only a listener (of some other process: a full accept queue drops SYNs) may be
    # anything but open or closed on loopback.
    odd = {p.port for p in ports if p.state not in (PortState.OPEN, PortState.CLOSED)}
    assert odd <= listening_tcp_ports(), odd
    # Every socket opened was closed (refused sockets are reused on Linux, so far fewer
    # than 65535 are opened; the fd count below is the real check).
    assert transport.sockets_opened == transport.sockets_closed >= 1
    assert_no_new_fds(fds_before)
    assert fd_count() <= closed_before


def test_cancelling_the_task_closes_every_socket():
    fulls = [FullBacklog() for _ in range(5)]
    try:
        before = fd_count()
        fds_before = open_fds()
        transport = ConnectTransport()

        async def main():
            task = asyncio.create_task(scan_async(
                "127.0.0.1", [f.port for f in fulls], transport=transport,
                min_timeout=20, max_timeout=30))
            await asyncio.sleep(0.3)     # every probe is now waiting for a SYN/ACK
            assert fd_count() >= before + 5   # five probe sockets are open right now
            task.cancel()
            t0 = time.monotonic()
            with pytest.raises(asyncio.CancelledError):
                await task
            return time.monotonic() - t0

        took = asyncio.run(main())
        # Cancelled long before any probe's 20 s timeout could have ended it.
        assert took < 10
        assert transport.sockets_closed == transport.sockets_opened == 5
        assert_no_new_fds(fds_before)
    finally:
        for f in fulls:
            f.close()


def ctrl_c() -> None:
    """What a terminal's Ctrl-C does: a real SIGINT to the main thread (a real signal
    interrupts a blocking system call, unlike _thread.interrupt_main)."""
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)


def test_ctrl_c_during_a_blocking_scan_closes_every_socket():
    fulls = [FullBacklog() for _ in range(3)]
    try:
        before = fd_count()
        fds_before = open_fds()
        transport = ConnectTransport()
        timer = threading.Timer(0.3, ctrl_c)
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            scan("127.0.0.1", [f.port for f in fulls], transport=transport,
                 min_timeout=20, max_timeout=30)
        timer.join()
        assert transport.sockets_opened == 3 == transport.sockets_closed
        assert_no_new_fds(fds_before)
    finally:
        for f in fulls:
            f.close()


def test_ctrl_c_inside_a_running_loop_closes_every_socket():
    # In Jupyter the scan runs on a worker thread: the interrupt must reach it too.
    full = FullBacklog()
    try:
        before = fd_count()
        fds_before = open_fds()
        transport = ConnectTransport()

        async def cell():
            # ipykernel turns an interrupt into KeyboardInterrupt in the main thread
            # (asyncio.run's own handler would only cancel the task): do as it does.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            timer = threading.Timer(0.3, ctrl_c)
            timer.start()
            try:
                scan("127.0.0.1", [full.port], transport=transport, min_timeout=20, max_timeout=30)
            finally:
                timer.join()

        with pytest.raises(KeyboardInterrupt):
            asyncio.run(cell())
        assert transport.sockets_opened == 1 == transport.sockets_closed
        assert_no_new_fds(fds_before)
    finally:
        full.close()


def _can_use_netns() -> str:
    if not sys.platform.startswith("linux"):
        return "network namespaces are Linux only"
    if os.geteuid() != 0:
        return "creating a network namespace needs root"
    if shutil.which("ip") is None:
        return "iproute2 (ip) is not installed"
    return ""


@pytest.mark.skipif(bool(_can_use_netns()), reason=_can_use_netns() or "netns available")
def test_netns_scan_sees_the_namespaces_sockets_not_ours():
    name = f"plt-eng-{os.getpid()}"
    port = free_port()   # free here; inside the namespace a listener takes it
    listener = None
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        # The namespace has only loopback: no route leaves it, by construction.
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        code = (f"import socket,sys,time; s=socket.socket(); s.bind(('127.0.0.1',{port})); "
                f"s.listen(8); print('ready', flush=True); sys.stdin.read()")
        listener = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", code],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert listener.stdout.readline().strip() == "ready"
        inside = scan("127.0.0.1", [port], netns=name)
        outside = scan("127.0.0.1", [port])
        assert states(inside)[port] == (PortState.OPEN, "syn-ack")
        assert states(outside)[port] == (PortState.CLOSED, "conn-refused")
        with pytest.raises(BadInput, match="no such namespace"):
            scan("127.0.0.1", [port], netns="plt-eng-does-not-exist")
    finally:
        if listener is not None:
            listener.stdin.close()
            listener.terminate()
            listener.wait(timeout=10)
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)
    assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def test_low_descriptor_limit_caps_probes_in_flight():
    # A process that may hold only 128 descriptors (and may not raise that) must still
    # scan 3000 ports without EMFILE turning into wrong answers.
    code = """
import resource, socket
resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
from portlab.engine import scan
from portlab.fdlimit import max_in_flight
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(8); port = srv.getsockname()[1]
assert max_in_flight(1024) < 128, max_in_flight(1024)
r = scan("127.0.0.1", f"1-3000,{port}", keep_trace=False)
states = {p.port: p.state.value for p in r.host("127.0.0.1").ports}
assert len(states) == len(set(range(1, 3001)) | {port})
assert states[port] == "open"
assert set(states.values()) <= {"open", "closed"}, set(states.values())
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_transport_that_cannot_run_the_scan_type_is_refused_before_sending():
    transport = ConnectTransport()
    with pytest.raises(BadInput, match="connect"):
        scan("127.0.0.1", "1", scan_type="syn", transport=transport)
    assert transport.sockets_opened == 0


def test_terminal_progress_draws_only_on_a_tty():
    import io

    from portlab.progress import TerminalProgress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty, pipe = Tty(), io.StringIO()
    bar, silent = TerminalProgress(stream=tty, width=10), TerminalProgress(stream=pipe)
    bar(5, 10)
    assert "[#####.....] 5/10 probes" in tty.getvalue()
    bar(10, 10)
    assert tty.getvalue().endswith("\r")            # erased at the end, the table starts clean
    silent(5, 10)
    assert pipe.getvalue() == "" and not silent.enabled
    assert not TerminalProgress(stream=tty, quiet=True).enabled


def test_notebook_progress_is_an_ipywidgets_bar(listeners):
    pytest.importorskip("ipywidgets")
    from portlab.progress import notebook_progress

    progress = notebook_progress("ports")
    scan("127.0.0.1", listeners.ports, progress=progress)
    bar = progress.widget.children[0]
    assert bar.value == bar.max == len(listeners.ports)
    assert bar.bar_style == "success"


def test_two_loops_give_the_same_answers(listeners):
    fds_before = open_fds()
    transport = ConnectTransport(keep_trace=False, max_shards=2)
    assert transport.shards(5000, __import__("portlab.timing").timing.template(3)) == 2
    result = scan("127.0.0.1", f"1-5000,{','.join(map(str, listeners.ports))}", transport=transport)
    got = states(result)
    assert len(got) == len(set(range(1, 5001)) | set(listeners.ports))
    assert all(got[p][0] is PortState.OPEN for p in listeners.ports)
    assert transport.sockets_opened == transport.sockets_closed
    assert_no_new_fds(fds_before)


def test_without_epoll_the_selectors_fallback_gives_the_same_answers(listeners, monkeypatch):
    # macOS and Windows have no epoll: the transport falls back to selectors there.
    import select

    monkeypatch.delattr(select, "epoll", raising=False)
    full = FullBacklog()
    try:
        closed = free_port()
        result = scan("127.0.0.1", [full.port, closed, *listeners.ports], max_timeout=0.2)
        got = states(result)
        assert got[full.port] == (PortState.FILTERED, "no-response")
        assert got[closed] == (PortState.CLOSED, "conn-refused")
        assert all(got[p] == (PortState.OPEN, "syn-ack") for p in listeners.ports)
    finally:
        full.close()


def test_running_out_of_descriptors_waits_instead_of_failing():
    # Bypass the engine's cap: the transport itself must survive EMFILE by waiting for
    # sockets in flight to finish (here: 300 probes of a port that never answers,
    # with room for about 100 descriptors).
    code = """
import asyncio, resource, socket, time
from portlab.states import Probe, ScanType
from portlab.timing import template
from portlab.transports.connect import ConnectTransport
server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(0)
port = server.getsockname()[1]
clients = []
for _ in range(3):
    c = socket.socket(); c.setblocking(False); c.connect_ex(("127.0.0.1", port)); clients.append(c)
time.sleep(0.1)
resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
probes = [Probe("127.0.0.1", port, ScanType.CONNECT)] * 300
timing = template(4).with_overrides(max_parallel=1000, max_retries=0, min_timeout=0.05,
                                    max_timeout=0.1, initial_timeout=0.1)
out = []
transport = ConnectTransport(keep_trace=False)
asyncio.run(transport.run(probes, timing, out.append))
assert len(out) == 300, len(out)
assert {e.reply.kind.value for e in out} == {"none"}, {e.reply for e in out}
assert transport.sockets_opened == transport.sockets_closed
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
