"""Notebook 08 (practice): the helpers its cells stand on.  Everything runs on 127.0.0.1,
on ports the operating system picks, and every server is closed when its ``with``
block ends (also when the block fails).

*80 -> 443*
  :class:`RedirectLab` -- a plain-HTTP server that redirects to an HTTPS server whose
  certificate is made at run time by a throwaway certificate authority (``trustme``);
  :func:`fetch` -- one HTTP(S) request, redirects not followed; :class:`Eavesdropper`
  -- a relay that keeps the bytes passing through it (what anyone on the path sees);
  :class:`Browser` -- a tiny browser that follows redirects and keeps an HSTS list.

*SSH on 2222*
  :func:`common_vs_full` -- the ``ssh-2222`` scenario scanned on the common ports and
  on all 65535, simulated; :func:`hidden_service_live` -- the same for real, on a
  loopback of the learner's own (a private network namespace).

*"Address already in use"*
  :func:`bind_twice`; :class:`PortHolder` (a child process that holds a port);
  :func:`who_holds` (what ``ss -ltnp`` says, from ``psutil``); :func:`stop_holder`;
  :func:`time_wait_demo` (TIME_WAIT and ``SO_REUSEADDR``).
"""

from __future__ import annotations

import errno
import http.client
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import urlsplit

from ...errors import BadInput

LOOPBACK = "127.0.0.1"
#: The name the certificate and the browser use for 127.0.0.1.  Browsers ignore HSTS
#: for bare IP addresses (RFC 6797, 8.1), so the demo speaks of "localhost".
HOSTNAME = "localhost"


# ---- 80 -> 443 -------------------------------------------------------------------------------

class _Quiet(BaseHTTPRequestHandler):
    server_version = "portlab-demo"
    sys_version = ""

    def log_message(self, *args) -> None:   # keep the notebook's output clean
        pass


class _RedirectHandler(_Quiet):
    def do_GET(self) -> None:
        host = (self.headers.get("Host") or HOSTNAME).split(":")[0]
        self.send_response(301)
        self.send_header("Location", f"https://{host}:{self.server.https_port}{self.path}")
        self.send_header("Content-Length", "0")
        self.end_headers()


class _HttpsHandler(_Quiet):
    def do_GET(self) -> None:
        body = b"<h1>Hello over HTTPS</h1>\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Strict-Transport-Security", f"max-age={self.server.hsts_max_age}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class RedirectLab:
    """An HTTP server that answers every request with ``301 Moved Permanently`` to an
    HTTPS server, and that HTTPS server, which answers ``200`` with an HSTS header.

    The certificate is issued at start by a fresh certificate authority (``self.ca``,
    a :class:`trustme.CA`) that nobody else trusts: a client trusts it only when told
    to (``self.client_context()``), exactly like a browser and a real CA.
    """

    def __init__(self, hsts_max_age: int = 300) -> None:
        self.hsts_max_age = hsts_max_age
        self.ca = None
        self._servers: list[ThreadingHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self.http_port = self.https_port = 0

    def start(self) -> "RedirectLab":
        import trustme
        try:
            self.ca = trustme.CA(organization_name="portlab course CA (throwaway)")
            cert = self.ca.issue_cert(HOSTNAME, LOOPBACK)
            https = ThreadingHTTPServer((LOOPBACK, 0), _HttpsHandler)
            self._servers.append(https)
            https.hsts_max_age = self.hsts_max_age
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            cert.configure_cert(ctx)
            https.socket = ctx.wrap_socket(https.socket, server_side=True)
            self.https_port = https.server_address[1]
            http_server = ThreadingHTTPServer((LOOPBACK, 0), _RedirectHandler)
            self._servers.append(http_server)
            http_server.https_port = self.https_port
            self.http_port = http_server.server_address[1]
            for server in self._servers:
                thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
                thread.start()
                self._threads.append(thread)
        except BaseException:
            self.close()
            raise
        return self

    @property
    def http_url(self) -> str:
        return f"http://{HOSTNAME}:{self.http_port}/"

    @property
    def https_url(self) -> str:
        return f"https://{HOSTNAME}:{self.https_port}/"

    def client_context(self) -> ssl.SSLContext:
        """A TLS client context that trusts this lab's CA (and nothing else)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # checks the certificate and the host name
        self.ca.configure_trust(ctx)
        return ctx

    def close(self) -> None:
        for server, thread in zip(self._servers, self._threads):
            server.shutdown()            # only servers whose loop started: shutdown() waits for the loop
        for server in self._servers:
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()

    def __enter__(self) -> "RedirectLab":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass
class Response:
    url: str
    status: int
    reason: str
    headers: dict = field(default_factory=dict)
    body: str = ""

    def __str__(self) -> str:
        lines = [f"{self.url} -> {self.status} {self.reason}"]
        lines += [f"  {k}: {v}" for k, v in self.headers.items() if k in ("Location", "Strict-Transport-Security")]
        return "\n".join(lines)


def _connection(url: str, context: Optional[ssl.SSLContext], timeout: float,
                via: Optional[int] = None) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            parts.hostname, port, context=context or ssl.create_default_context(), timeout=timeout)
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.hostname, port, timeout=timeout)
    else:
        raise ValueError(f"url {url!r}: expected http:// or https://")
    if parts.hostname not in (HOSTNAME, LOOPBACK):
        raise ValueError(f"url {url!r}: this lesson fetches only from {HOSTNAME} / {LOOPBACK}")
    # "localhost" always means 127.0.0.1 here (the servers listen there only); *via*
    # sends the bytes through a relay on another local port instead.
    target_port = via or port

    def connect_loopback(address, timeout=None, source_address=None, **kwargs):
        return socket.create_connection((LOOPBACK, target_port), timeout)

    conn._create_connection = connect_loopback   # type: ignore[attr-defined]
    return conn, parts.path or "/"


def fetch(url: str, context: Optional[ssl.SSLContext] = None, timeout: float = 5.0,
          via: Optional[int] = None) -> Response:
    """One GET of *url* (on localhost / 127.0.0.1 only), redirects not followed.

    For https, *context* says which certificate authorities to trust (default: the
    system's, which do not know the lesson's throwaway CA).  *via* is the port of an
    :class:`Eavesdropper` to send the bytes through.
    """
    conn, path = _connection(url, context, timeout, via)
    try:
        conn.request("GET", path, headers={"User-Agent": "portlab-course"})
        reply = conn.getresponse()
        body = reply.read().decode("utf-8", "replace")
        return Response(url, reply.status, reply.reason, dict(reply.getheaders()), body)
    finally:
        conn.close()


def fetch_error(url: str, context: Optional[ssl.SSLContext] = None) -> Optional[str]:
    """The error a fetch of *url* ends in (e.g. the certificate check failing), or None."""
    try:
        fetch(url, context)
    except (ssl.SSLError, OSError) as err:
        return f"{type(err).__name__}: {getattr(err, 'verify_message', None) or err}"
    return None


class Eavesdropper:
    """A relay on 127.0.0.1 that forwards to *port* and keeps every byte it passes on:
    what a Wi-Fi neighbour, a router or a provider on the path could read."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.sent = bytearray()       # client -> server
        self.received = bytearray()   # server -> client
        self._listener: Optional[socket.socket] = None
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()

    def start(self) -> "Eavesdropper":
        self._listener = socket.socket()
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen()
        self._listener.settimeout(0.1)
        self.listen_port = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            with client, socket.create_connection((LOOPBACK, self.port), timeout=5) as server:
                self._pump(client, server)

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        import selectors
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, (server, self.sent))
        sel.register(server, selectors.EVENT_READ, (client, self.received))
        open_ends = 2
        deadline = time.monotonic() + 10
        while open_ends and time.monotonic() < deadline and not self._stop.is_set():
            for key, _ in sel.select(timeout=0.1):
                other, log = key.data
                data = key.fileobj.recv(65536)
                if not data:
                    sel.unregister(key.fileobj)
                    open_ends -= 1
                    try:
                        other.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    continue
                log.extend(data)
                other.sendall(data)
        sel.close()

    def readable(self, which: str = "sent", limit: int = 300) -> str:
        """The captured bytes as text, unreadable bytes shown as dots."""
        data = bytes(self.sent if which == "sent" else self.received)[:limit]
        return "".join(chr(b) if 32 <= b < 127 or b == 10 else "" if b == 13 else "." for b in data)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> "Eavesdropper":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def parse_hsts(value: str) -> dict:
    """``Strict-Transport-Security: max-age=31536000; includeSubDomains; preload`` as a dict."""
    result = {"max_age": None, "include_subdomains": False, "preload": False}
    for part in value.split(";"):
        name, _, arg = part.strip().partition("=")
        name = name.strip().lower()
        if name == "max-age":
            result["max_age"] = int(arg.strip().strip('"'))
        elif name == "includesubdomains":
            result["include_subdomains"] = True
        elif name == "preload":
            result["preload"] = True
    return result


class Browser:
    """Just enough of a browser to show redirects and HSTS.

    ``visit(url)`` follows redirects (at most five) and returns the steps it took.
    An HTTPS answer with a ``Strict-Transport-Security`` header puts the host on the
    browser's HSTS list for ``max-age`` seconds; a later ``http://`` URL for that host
    is then rewritten to ``https://`` *before* anything is sent (browsers show this as
    a "307 Internal Redirect"), so no plain-text request ever leaves.  As RFC 6797
    says, an HSTS header over plain HTTP is ignored, and so are IP-address hosts.
    """

    def __init__(self, context: Optional[ssl.SSLContext] = None, clock=time.time) -> None:
        self.context = context
        self.clock = clock
        self.hsts: dict[str, float] = {}   # host -> expiry time
        self._https_port: dict[str, Optional[int]] = {}   # host -> port its HTTPS answered on

    def knows(self, host: str) -> bool:
        return self.hsts.get(host, 0) > self.clock()

    def visit(self, url: str) -> list[str]:
        steps = []
        for _ in range(6):
            parts = urlsplit(url)
            if parts.scheme == "http" and self.knows(parts.hostname):
                https_url = url.replace("http://", "https://", 1)
                if parts.port:   # the demo's HTTPS server sits on another port than the HTTP one
                    https_url = https_url.replace(f":{parts.port}", f":{self._https_port.get(parts.hostname, parts.port)}", 1)
                steps.append(f"307 Internal Redirect (HSTS): {url} -> {https_url}, nothing sent in plain text")
                url = https_url
                continue
            reply = fetch(url, self.context)
            steps.append(f"{reply.status} {reply.reason}: {url}")
            sts = reply.headers.get("Strict-Transport-Security")
            if sts and parts.scheme == "https" and not _is_ip(parts.hostname):
                max_age = parse_hsts(sts)["max_age"] or 0
                if max_age > 0:
                    self.hsts[parts.hostname] = self.clock() + max_age
                    self._https_port[parts.hostname] = parts.port
                    steps.append(f"    HSTS: remember {parts.hostname} as HTTPS-only for {max_age} s")
                else:   # RFC 6797 6.1.1: max-age=0 says "no longer a Known HSTS Host"
                    self.hsts.pop(parts.hostname, None)
                    steps.append(f"    HSTS: max-age=0, so {parts.hostname} is not HTTPS-only (forgotten if it was)")
            if reply.status in (301, 302, 303, 307, 308) and "Location" in reply.headers:
                url = reply.headers["Location"]
                continue
            return steps
        steps.append("too many redirects")
        return steps


@dataclass
class Visits:
    max_age: int
    first: list
    second: list

    def __str__(self) -> str:
        lines = []
        for label, steps in (("first visit", self.first), ("second visit", self.second)):
            lines += [label, *(f"    {step}" for step in steps)]
        lines.append(f"requests sent in plain text: first visit {plain_requests(self.first)}, "
                     f"second visit {plain_requests(self.second)}")
        return "\n".join(lines)


def hsts_visits(max_age: int) -> Visits:
    """A :class:`Browser` visits the ``http://`` address of a :class:`RedirectLab` twice, one
    visit right after the other; the HTTPS server's HSTS header says ``max-age=`` *max_age*.
    Returns both visits' steps; printed, it ends with how many requests went out in plain text."""
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise BadInput(f"max-age {max_age!r}: expected a whole number of seconds, 0 or more (such as 300)")
    with RedirectLab(hsts_max_age=max_age) as lab:
        browser = Browser(context=lab.client_context())
        first = browser.visit(lab.http_url)
        second = browser.visit(lab.http_url)
    return Visits(max_age, first, second)


def plain_requests(steps: list) -> int:
    """How many of a visit's *steps* were requests sent to an ``http://`` address (an HSTS
    upgrade inside the browser sends nothing, so it does not count)."""
    return sum(1 for step in steps if step[:3].isdigit() and not step.startswith("307 Internal")
               and ": http://" in step)


def _is_ip(host: Optional[str]) -> bool:
    import ipaddress
    try:
        ipaddress.ip_address(host or "")
        return True
    except ValueError:
        return False


# ---- SSH on 2222 --------------------------------------------------------------------------

def common_and_full(scenario: str = "ssh-2222", target: str = "10.77.0.10", common: str = "top100",
                    scan_type: str = "syn", timing: int = 4):
    """Scan *target* of *scenario* on the common ports, then on all 65535 (simulated).

    Returns ``(table, full_result)``: a DataFrame, one row a scan: ``scan,
    ports_probed, open_ports, found_2222, simulated_s`` (virtual time: how long it
    would take on the lab's network) and ``computed_s`` (how long this computer took
    to simulate it); and the full-range :class:`~portlab.results.ScanResult` (for a
    port map).
    """
    import pandas as pd

    from ...engine import scan
    rows = []
    result = None
    for label, ports in ((f"common ports ({common})", common), ("all ports (1-65535)", "-")):
        t0 = time.perf_counter()
        result = scan(target, ports, scan_type, scenario=scenario, timing=timing, keep_trace=False)
        computed = time.perf_counter() - t0
        found = result.open_ports(target)
        rows.append({"scan": label, "ports_probed": sum(result.counts().values()),
                     "open_ports": ", ".join(map(str, found)), "found_2222": 2222 in found,
                     "simulated_s": round(result.elapsed_s, 3), "computed_s": round(computed, 3)})
    return pd.DataFrame(rows), result


def common_vs_full(*args, **kwargs):
    """The table of :func:`common_and_full` alone."""
    return common_and_full(*args, **kwargs)[0]


def _hidden_service_inside(common: str, timing: int) -> dict:
    """The live demonstration itself (it runs in the private network namespace): a
    listener on an unusual port, a scan of the *common* ports, a scan of all 65535."""
    from ...engine import scan
    from ...portspec import parse_ports
    common_ports = set(parse_ports(common))
    held = []
    try:
        while True:
            sock = socket.socket()
            held.append(sock)
            sock.bind((LOOPBACK, 0))
            if sock.getsockname()[1] not in common_ports:
                break
        sock.listen()
        port = sock.getsockname()[1]
        t0 = time.perf_counter()
        quick = scan(LOOPBACK, common, "connect", timing=timing, keep_trace=False)
        t1 = time.perf_counter()
        full = scan(LOOPBACK, "-", "connect", timing=timing, keep_trace=False)
        t2 = time.perf_counter()
    finally:
        for s in held:
            s.close()
    return {"port": port, "found_common": port in quick.open_ports(), "found_full": port in full.open_ports(),
            "common_s": round(t1 - t0, 3), "full_s": round(t2 - t1, 3),
            "probed_common": sum(quick.counts().values()), "probed_full": sum(full.counts().values())}


#: The fallback's hidden port: an unusual one, as the OS would pick (not among the common ports).
SIMULATED_HIDDEN_PORT = 47123


def _hidden_service_simulated(common: str, timing: int) -> dict:
    """The same two scans on the simulator, of one host whose only open port is an unusual
    one (virtual seconds: what the scans would take on the lab's network)."""
    from ...engine import scan
    from ...portspec import parse_ports
    from ...scenario import loads
    port = SIMULATED_HIDDEN_PORT
    if port in set(parse_ports(common)):
        raise ValueError(f"{common}: the simulated hidden port {port} is among the common ports")
    scenario = loads(f"""
name = "hidden-service"
description = "one host with one service on an unusual port"
[scanner]
address = "10.77.0.1"
[[hosts]]
name = "server"
address = "10.77.0.10"
tcp = [{port}]
""")
    quick = scan("10.77.0.10", common, "connect", scenario=scenario, timing=timing, keep_trace=False)
    full = scan("10.77.0.10", "-", "connect", scenario=scenario, timing=timing, keep_trace=False)
    return {"port": port, "found_common": port in quick.open_ports(), "found_full": port in full.open_ports(),
            "common_s": round(quick.elapsed_s, 3), "full_s": round(full.elapsed_s, 3),
            "probed_common": sum(quick.counts().values()), "probed_full": sum(full.counts().values())}


def hidden_service_live(common: str = "top100", timing: int = 4) -> dict:
    """A listener on an unusual loopback port (OS-chosen, never one of *common*),
    scanned live on the common ports and then on all 65535, in a private network
    namespace of the learner's own (:mod:`portlab.privatenet`): there nothing listens
    but this listener, so the full-range scan touches no other user's program.

    Returns ``port``, ``found_common`` / ``found_full`` (was it open?),
    ``common_s`` / ``full_s`` (wall-clock seconds), ``probed_common`` /
    ``probed_full``, ``private`` (did it run in the private namespace?) and ``where``
    (one line saying where it ran).  The listener is closed before returning.  Where
    no private namespace can be had, the two scans run on the simulator instead (a
    host like ours; ``common_s`` and ``full_s`` are then virtual seconds), and
    ``where`` says so and why.
    """
    from ...privatenet import run_or
    ran = run_or(lambda: _hidden_service_simulated(common, timing),
                 "notebook ran the two scans on the simulator, of a host with one service on an unusual port "
                 "(the times below are simulated)", _hidden_service_inside, common, timing)
    return {**ran.value, "private": ran.private, "where": ran.line}


# ---- "Address already in use" -------------------------------------------------------------

def bind_twice() -> dict:
    """Two sockets, one port: the second ``bind()`` fails.  Returns the port, the errno
    name and the message the OS gives (both sockets are closed again)."""
    first, second = socket.socket(), socket.socket()
    try:
        first.bind((LOOPBACK, 0))
        first.listen()
        port = first.getsockname()[1]
        try:
            second.bind((LOOPBACK, port))
        except OSError as err:
            return {"port": port, "errno": errno.errorcode.get(err.errno, str(err.errno)), "message": err.strerror}
        return {"port": port, "errno": None, "message": "the second bind worked"}
    finally:
        first.close()
        second.close()


# The holder: binds, says its port on stdout, then waits until its stdin closes (so
# it also ends when the notebook's kernel dies) or until it is terminated.
_HOLDER = (
    "import socket, sys\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "sys.stdin.read()\n"
)


class PortHolder:
    """A child process (a second Python) that listens on a loopback port: the
    "other program" that holds the port you wanted.  ``with PortHolder() as holder:``
    ``holder.port``, ``holder.pid``; the process is stopped when the block ends."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> "PortHolder":
        self.proc = subprocess.Popen([sys.executable, "-c", _HOLDER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        try:
            line = self.proc.stdout.readline()
            self.port = int(line)
        except BaseException:
            self.stop()
            raise
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe:
                pipe.close()

    def __enter__(self) -> "PortHolder":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def who_holds(port: int, host: str = LOOPBACK) -> list[dict]:
    """The processes listening on TCP *port*, as ``ss -ltnp`` shows them: pid, program
    name, command line.  From psutil, which reads the kernel's socket table
    (``/proc/net/tcp``) and finds which process has each socket open.  Another user's
    process shows without pid unless you are root."""
    import psutil
    found = []
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            name, cmdline = None, None
            if conn.pid:
                try:
                    proc = psutil.Process(conn.pid)
                    name, cmdline = proc.name(), " ".join(proc.cmdline())
                except psutil.Error:
                    pass
            found.append({"address": f"{conn.laddr.ip}:{conn.laddr.port}", "state": conn.status,
                          "pid": conn.pid, "program": name, "command": cmdline})
    return found


def ss_line(entry: dict) -> str:
    """One row of :func:`who_holds` the way ``ss -ltnp`` prints it."""
    users = f'users:(("{entry["program"]}",pid={entry["pid"]}))' if entry.get("pid") else ""
    return f"LISTEN  {entry['address']:<22} {users}"


def stop_holder(pid: int, timeout: float = 5.0) -> str:
    """Stop process *pid*, but only if this Python started it (a child): the lesson
    never touches anyone else's program.  Returns what happened."""
    import psutil
    proc = psutil.Process(pid)
    if proc.ppid() != os.getpid():
        raise PermissionError(f"pid {pid} ({proc.name()}) was not started by this notebook: not stopping it")
    proc.terminate()   # SIGTERM: "please stop", as `kill PID` sends
    try:
        proc.wait(timeout)
        return f"pid {pid} stopped (SIGTERM)"
    except psutil.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)
        return f"pid {pid} killed (SIGKILL) after ignoring SIGTERM"


def port_free(port: int, reuse: bool = False) -> Optional[str]:
    """Try to bind *port* on loopback (and let go at once): None if it worked, else the errno name."""
    with socket.socket() as sock:
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError as err:
            return errno.errorcode.get(err.errno, str(err.errno))
    return None


def tcp_states(port: int) -> list[str]:
    """The states of every TCP socket on loopback with local *port* (psutil)."""
    import psutil
    return sorted(c.status for c in psutil.net_connections(kind="tcp")
                  if c.laddr and c.laddr.port == port and c.laddr.ip == LOOPBACK)


def time_wait_demo(server_reuseaddr: bool = False) -> dict:
    """A server accepts one connection and closes it first, then stops listening; then a
    new server tries to bind the same port.

    *server_reuseaddr*: whether the first server set ``SO_REUSEADDR`` before its
    ``bind()``.  Returns ``port``; ``states`` (the port's TCP states right after the
    server stopped: its side of the connection waits in TIME_WAIT); ``rebind`` (errno
    name of a plain ``bind()`` to the port, e.g. ``EADDRINUSE``, or None if it worked)
    and ``rebind_reuseaddr`` (the same with ``SO_REUSEADDR``).  On Linux a rebind
    over a TIME_WAIT connection works only when the new socket *and* the old one
    set ``SO_REUSEADDR``: that is why servers set it from the start.
    """
    listener = socket.socket()
    client = socket.socket()
    try:
        if server_reuseaddr:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, 0))
        listener.listen()
        port = listener.getsockname()[1]
        client.connect((LOOPBACK, port))
        conn, _ = listener.accept()
        conn.close()                          # the server closes first: its side will wait in TIME_WAIT
        client.settimeout(2)
        client.recv(1)                        # the client sees the FIN (end of data) ...
        client.close()                        # ... and closes its side too
        listener.close()                      # the server program stops listening
        deadline = time.monotonic() + 2
        states = tcp_states(port)
        while "TIME_WAIT" not in states and time.monotonic() < deadline:
            time.sleep(0.02)
            states = tcp_states(port)
        return {"port": port, "states": states, "rebind": port_free(port), "rebind_reuseaddr": port_free(port, True)}
    finally:
        client.close()
        listener.close()
