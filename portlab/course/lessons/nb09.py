"""Notebook 09 (misconceptions): tiny services on loopback that answer each myth with a demonstration.

* :class:`BannerService` greets every client with one line, as SSH, SMTP, FTP or
  IMAP servers do (an SSH server says ``SSH-2.0-...`` before the client says anything;
  SMTP and FTP ``220 ...``; IMAP ``* OK ...``).  :func:`grab_banner` reads that first
  line: a port number only *suggests* a service, the first bytes *say* what it is.
  :func:`loopback_hunt` scans a loopback of the learner's own (a private network
  namespace) and reads every open port's banner.
* :class:`ToyAdminConsole` is a deliberately poor line-based "admin console" that
  accepts the factory default login ``admin``/``admin``: one open port is enough
  to be broken into.  ``ToyAdminConsole(fixed=True)`` is the updated version: no
  default account, and it gives up after a few wrong tries.  A port scan sees the
  two exactly alike.
* :data:`DEV_DAY`: the ports a developer touches in one ordinary day, from the
  course's list of common ports, and a chart of them.  :func:`database_fault`: the site's
  database connection with a firewall, a stopped service or nothing in the way, and the
  error each one makes the application log.

Every server binds ``127.0.0.1`` on a port the OS chooses (port 0), so nothing can
clash and nothing leaves the machine; each is a context manager that closes its
socket and thread on exit, even when the cell fails.
"""

from __future__ import annotations

import secrets
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Iterable, Sequence

from ... import common_ports
from ...errors import BadInput

LOOPBACK = "127.0.0.1"
SSH_BANNER = b"SSH-2.0-OpenSSH_9.6 portlab-toy\r\n"


class _LoopbackServer:
    """A TCP server on 127.0.0.1 with an OS-chosen port, one thread, one client at a time."""

    def __init__(self, port: int = 0) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self._sock.bind((LOOPBACK, port))   # port 0: the OS picks a free one, so nothing clashes
        except OSError:
            self._sock.close()
            raise
        self._sock.listen(16)
        self._sock.settimeout(0.1)       # so the thread notices close() quickly
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, name=f"toy-{self.port}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(2.0)
                try:
                    self.handle(conn)
                except OSError:
                    pass   # a scanner that connects and leaves at once is normal, not an error

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    @property
    def address(self) -> tuple[str, int]:
        return LOOPBACK, self.port

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        self._thread.join(timeout=2)

    @property
    def closed(self) -> bool:
        return self._sock.fileno() == -1

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class BannerService(_LoopbackServer):
    """Sends *banner* to every client, then closes: the first bytes a real service would send."""

    def __init__(self, banner: bytes = SSH_BANNER, port: int = 0) -> None:
        self.banner = banner
        super().__init__(port)

    def handle(self, conn: socket.socket) -> None:
        conn.sendall(self.banner)


def grab_banner(port: int, host: str = LOOPBACK, timeout: float = 1.0, limit: int = 200) -> bytes:
    """Connect and read what the service says first (``b""`` if it says nothing within *timeout*)."""
    if host not in (LOOPBACK, "localhost"):
        raise ValueError("this helper reads banners on loopback only")
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as conn:
        try:
            return conn.recv(limit)
        except socket.timeout:
            return b""


def grab_banners(ports: Iterable[int], timeout: float = 0.5) -> dict[int, bytes]:
    """Banners of several loopback ports at once (a port that refuses or stays silent gives ``b""``)."""
    def one(port: int) -> bytes:
        try:
            return grab_banner(port, timeout=timeout)
        except OSError:
            return b""
    ports = list(ports)
    with ThreadPoolExecutor(max_workers=min(16, max(1, len(ports)))) as pool:
        return dict(zip(ports, pool.map(one, ports)))


#: First bytes -> the protocol that sends them (the start of the greeting line).  SMTP
#: and FTP both greet with the reply code 220 (``220-`` begins a greeting of several
#: lines); IMAP greets with an untagged ``* OK``, POP3 with ``+OK``.
BANNER_PREFIXES = (
    (b"SSH-", "SSH"), (b"220 ", "SMTP or FTP"), (b"220-", "SMTP or FTP"), (b"* OK", "IMAP"), (b"+OK", "POP3"),
    (b"HTTP/", "HTTP"), (b"RFB ", "VNC"), (b"toy-admin", "toy admin console"),
)
FTP_BANNER = b"220 portlab toy FTP server ready\r\n"


def identify(banner: bytes) -> str:
    """What a banner says the service is (``"unknown"`` when it says nothing we know)."""
    for prefix, name in BANNER_PREFIXES:
        if banner.startswith(prefix):
            return name
    return "unknown" if banner else "silent (speaks only when spoken to, as HTTP does)"


#: The hunt's services besides the hidden SSH-like one, in its private loopback:
#: (port, first bytes).  A web server says nothing until it is asked.
HUNT_COMPANIONS = ((21, FTP_BANNER), (80, b""))


def _hunt(banner: bytes, everything: bool) -> dict:
    """Start the services, scan, read every open port's banner, close the services.
    *everything*: the hunt scans all 65535 ports and starts the companions too (in the
    private namespace, where every port is ours); else only the hidden service's port."""
    from contextlib import ExitStack

    from ...engine import scan
    with ExitStack() as stack:
        hidden = stack.enter_context(BannerService(banner))
        services = [hidden]
        if everything:
            services += [stack.enter_context(BannerService(first, port)) for port, first in HUNT_COMPANIONS]
        result = scan(LOOPBACK, "-" if everything else [hidden.port], "connect", keep_trace=False)
        open_ports = [p.port for p in result.hosts[0].ports if p.state.value == "open"]
        banners = grab_banners(open_ports)
    return {"port": hidden.port, "open": open_ports, "banners": banners, "elapsed_s": result.elapsed_s,
            "scanned": sum(result.counts().values()),
            "ssh": [p for p, b in banners.items() if b.startswith(b"SSH-")], "found": hidden.port in open_ports,
            "closed": all(s.closed for s in services)}


def loopback_hunt(banner: bytes = SSH_BANNER) -> dict:
    """What an attacker does, on a loopback of the learner's own: start a service that
    greets with *banner* on a port the OS picks (and, beside it, an FTP-like service on
    21 and a silent web server on 80), scan all 65535 ports, read the banner of every
    open port, close the services.

    It runs in a private network namespace (:mod:`portlab.privatenet`): there nothing
    listens but these services, so neither the scan nor the banner reading touches
    another user's program.  Where no private namespace can be had, only the hidden
    service is started and only its port is scanned and read.

    Returns ``{"port", "open": [...], "banners": {port: bytes}, "ssh": [ports], "found",
    "closed", "scanned" (ports probed), "elapsed_s", "private", "where"}`` (``where``:
    one line saying where the hunt ran and why).
    """
    from ...privatenet import run_or
    ran = run_or(lambda: _hunt(banner, everything=False),
                 "hunt scanned only the port of the service this notebook started, not all 65535: on a shared "
                 "machine the other open ports of loopback are other people's programs", _hunt, banner, True)
    return {**ran.value, "private": ran.private, "where": ran.line}


# ---------------------------------------------------------------- a weak service

#: Logins that devices and appliances ship with; the first thing anyone tries.
DEFAULT_CREDENTIALS: tuple[tuple[str, str], ...] = (
    ("root", "root"), ("admin", "password"), ("admin", "1234"), ("admin", "admin"), ("user", "user"),
)
SECRET = "db_password=hunter2"


class ToyAdminConsole(_LoopbackServer):
    """A deliberately weak line-based admin console (do not copy it!).

    Protocol: it greets, asks ``login:`` and ``password:`` (one line each) and
    answers ``welcome`` with its configuration, or ``access denied``.  Version 1.0
    ships with the account admin/admin.  ``fixed=True`` is version 1.1: the
    default account is gone (the installer sets a random password, kept in
    ``.password``), and after :attr:`MAX_FAILURES` wrong logins it answers nobody.
    """

    MAX_FAILURES = 3

    def __init__(self, fixed: bool = False) -> None:
        self.fixed = fixed
        self.version = "1.1" if fixed else "1.0"
        self.password = secrets.token_urlsafe(12) if fixed else "admin"
        self.failures = 0
        super().__init__()

    def handle(self, conn: socket.socket) -> None:
        conn.sendall(f"toy-admin {self.version} ready\r\nlogin: ".encode())
        reader = conn.makefile("rb")
        user = reader.readline(200).strip().decode(errors="replace")
        conn.sendall(b"password: ")
        password = reader.readline(200).strip().decode(errors="replace")
        if self.fixed and self.failures >= self.MAX_FAILURES:
            conn.sendall(b"locked: too many failed logins\r\n")
            return
        if user == "admin" and secrets.compare_digest(password, self.password):
            conn.sendall(f"welcome, admin. config: {SECRET}\r\n".encode())
        else:
            self.failures += 1
            conn.sendall(b"access denied\r\n")


def try_login(port: int, user: str, password: str, timeout: float = 2.0) -> str:
    """Log in to a toy console on loopback; its last line (``welcome...``, ``access denied``, ``locked...``)."""
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as conn:
        conn.sendall(f"{user}\n{password}\n".encode())
        data = b""
        while True:
            chunk = conn.recv(1024)
            if not chunk:
                break
            data += chunk
    text = data.decode(errors="replace")
    return text.rsplit("password: ", 1)[-1].strip()   # what came after the password prompt


@dataclass(frozen=True)
class Attempt:
    user: str
    password: str
    answer: str

    @property
    def success(self) -> bool:
        return self.answer.startswith("welcome")


def try_defaults(port: int, credentials: Sequence[tuple[str, str]] = DEFAULT_CREDENTIALS) -> list[Attempt]:
    """Try the factory logins one by one, as an attacker's script does; stop at the first that works."""
    tries = []
    for user, password in credentials:
        attempt = Attempt(user, password, try_login(port, user, password))
        tries.append(attempt)
        if attempt.success:
            break
    return tries


def scan_view(port: int) -> tuple[str, str]:
    """``(state, reason)`` of one loopback port, as a connect scan reports it."""
    from ...engine import scan
    found = scan(LOOPBACK, [port], "connect", keep_trace=False).hosts[0].ports[0]
    return found.state.value, found.reason


# ---------------------------------------------------------------- a developer's day

@dataclass(frozen=True)
class Task:
    time: str
    what: str
    port: int
    protocol: str

    @property
    def service(self) -> str:
        entry = common_ports.common_port(self.port)
        return entry.service if entry else str(self.port)


DEV_DAY: tuple[Task, ...] = (
    Task("08:55", "log in to the build server", 22, "tcp"),
    Task("09:00", "git pull over SSH", 22, "tcp"),
    Task("09:01", "every name lookup behind it (github.com -> address)", 53, "udp"),
    Task("09:30", "run the app's tests against PostgreSQL", 5432, "tcp"),
    Task("11:00", "check the legacy shop's orders in MySQL", 3306, "tcp"),
    Task("14:00", "clear the Redis cache", 6379, "tcp"),
    Task("15:00", "open the dev server on 8080", 8080, "tcp"),
    Task("16:00", "deploy: HTTPS to the cloud API", 443, "tcp"),
)


def dev_day_table():
    import pandas as pd
    return pd.DataFrame([{"time": t.time, "task": t.what, "port": f"{t.port}/{t.protocol}", "service": t.service,
                          "is it 80 or 443?": "yes" if t.port in (80, 443) else "no"} for t in DEV_DAY])


def dev_day_chart():
    """One dot per task: the time of day against the port used, the web ports marked apart."""
    from ..theme import STATE_COLOURS, Chart, new_figure

    rows = [(t.time, t.port, t.service, t.port in (80, 443)) for t in DEV_DAY]
    other = sum(1 for r in rows if not r[3])

    def build(th):
        fig = new_figure(8.5, 3.4)
        ax = fig.add_subplot()
        for i, (time, port, service, web) in enumerate(rows):
            colour = STATE_COLOURS["closed"] if web else STATE_COLOURS["open"]
            ax.scatter([i], [port], s=80, color=colour, marker="s" if web else "o", zorder=3)
            ax.annotate(f"{service} {port}", (i, port), textcoords="offset points", xytext=(6, 5), fontsize=9)
        ax.set_yscale("log")
        ax.set_ylim(10, 30000)
        ax.set_xticks(range(len(rows)), [r[0] for r in rows])
        ax.set_xlim(-0.5, len(rows) + 0.8)
        ax.set_ylabel("port (log scale)")
        ax.set_xlabel("time of day")
        ax.grid(axis="y", alpha=0.4)
        ax.set_title(f"A developer's day: {other} of {len(rows)} tasks use neither 80 nor 443")
        return fig

    text = ("A developer's tasks through one day and the port each uses: "
            + "; ".join(f"{t} {s} on {p}" for t, p, s, _ in rows)
            + f". {other} of the {len(rows)} tasks use a port other than 80 and 443.")
    return Chart(build, text, rows, "a developer's day")


def db_blocked_scenario():
    """The capstone network after a hurried change: db accepts SSH only, so the site's
    database connections vanish (for the troubleshooting story)."""
    from .nb10 import apply_rules
    return apply_rules('[db]\npolicy = "drop"\nrules = [ { action = "accept", protocol = "tcp", ports = "22" } ]')


def app_to_database(scenario=None):
    """The web server's application opens its database connection (simulated): what it gets."""
    from ...sim.experiments import outbound_attempt
    return outbound_attempt(scenario or db_blocked_scenario(), "web", "db", 5432)


#: What can stand between the site's application and its database, for :func:`database_fault`.
FAULTS = ("firewall", "stopped", "none")


@dataclass(frozen=True)
class DatabaseTry:
    fault: str
    log: str
    attempt: object      # the simulator's OutboundResult: the walk, hop by hop

    def __str__(self) -> str:
        return "\n".join([f"fault: {self.fault}", f"the application logs: {self.log}",
                          "the first packet's walk:", *(f"   {step}" for step in self.attempt.trace)])


def database_fault(fault: str = "firewall") -> DatabaseTry:
    """The web server's application opens its database connection (simulated) with one
    *fault* in the way: ``"firewall"`` (db's hurried firewall, which accepts SSH only),
    ``"stopped"`` (no firewall, but PostgreSQL is not running on db) or ``"none"``.
    Returns what the application would log, and the attempt itself."""
    from ...sim.network import load_scenario
    if fault not in FAULTS:
        raise BadInput(f"fault {fault!r}: expected one of {', '.join(map(repr, FAULTS))}")
    if fault == "firewall":
        scenario = db_blocked_scenario()
    else:
        scenario = load_scenario("capstone")
        if fault == "stopped":
            hosts = tuple(replace(h, tcp=tuple(p for p in h.tcp if p != 5432)) if h.name == "db" else h
                          for h in scenario.hosts)
            scenario = replace(scenario, hosts=hosts)
    attempt = app_to_database(scenario)
    where = f"{attempt.destination}:{attempt.port}"
    if attempt.allowed:
        log = f"connected to {where}"
    elif attempt.errno is None:      # no answer at all: connect() gives up after its retries
        log = f"connect ETIMEDOUT {where} (no answer: connect() gave up after about two minutes of retries)"
    else:
        log = f"connect {attempt.errno_name} {where} (at once)"
    return DatabaseTry(fault, log, attempt)


def first_line(banner: bytes) -> str:
    return banner.split(b"\n", 1)[0].decode(errors="replace").strip()

