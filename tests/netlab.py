"""A two-namespace test network: a scanner, a target, one veth between them.

    with netlab("fw", tcp=[22, 80], udp=[53], ruleset=RULES) as lab:
        results = lab.run_in_scanner(some_coroutine_factory)

Everything lives inside namespaces this helper creates: addresses in
10.199.0.0/24, no default route in either namespace, so nothing a test sends can
leave the machine.  The target runs ``portlab.lab.services`` (listening TCP,
answering UDP) and an optional nftables ruleset.  Teardown (in ``finally``, so also
on a failed assertion or Ctrl-C) kills the service process and deletes both
namespaces, which removes the veth pair with them.

Other tests import it: ``from netlab import netlab, netns_skip_reason``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional, Sequence

SCANNER_ADDR = "10.199.0.1"
TARGET_ADDR = "10.199.0.2"
PREFIX_LEN = 24


def netns_skip_reason() -> Optional[str]:
    """Why namespace tests cannot run here, or None when they can."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network-namespace tests need root (CI runs them as root)"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (iproute2 / nftables)"
    probe = f"plchk{uuid.uuid4().hex[:8]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _run(argv: Sequence[str], stdin: Optional[str] = None) -> str:
    done = subprocess.run(list(argv), input=stdin, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass
class NetLab:
    scanner_ns: str
    target_ns: str
    scanner_addr: str = SCANNER_ADDR
    target_addr: str = TARGET_ADDR
    _procs: list[subprocess.Popen] = field(default_factory=list)

    def ip(self, netns: str, *args: str) -> str:
        return _run(["ip", "-n", netns, *args])

    def exec(self, netns: str, *argv: str, stdin: Optional[str] = None) -> str:
        return _run(["ip", "netns", "exec", netns, *argv], stdin=stdin)

    def nft(self, ruleset: str) -> None:
        """Replace the target's ruleset (flush first, so a fixture can swap rules)."""
        self.exec(self.target_ns, "nft", "-f", "-", stdin="flush ruleset\n" + ruleset)

    def sysctl(self, netns: str, key: str, value: Optional[str] = None) -> str:
        if value is None:
            return self.exec(netns, "sysctl", "-n", key).strip()
        return self.exec(netns, "sysctl", "-qw", f"{key}={value}")

    def add_target_address(self, address: str) -> None:
        """One more address on the target (one machine, several addresses: a router)."""
        self.ip(self.target_ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", "veth0")

    def start_services(self, tcp: Sequence[int] = (), udp: Sequence[int] = ()) -> None:
        """Start portlab's lab service daemon in the target; return once it is listening."""
        if not tcp and not udp:
            return
        argv = ["ip", "netns", "exec", self.target_ns, sys.executable, "-m", "portlab.lab.services"]
        if tcp:
            argv += ["--tcp", ",".join(map(str, tcp))]
        if udp:
            argv += ["--udp", ",".join(map(str, udp))]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._procs.append(proc)
        line = proc.stdout.readline()
        if "ready" not in line:
            proc.kill()
            raise RuntimeError(f"services did not start: {line!r} {proc.stderr.read()[:500]}")

    def run_in(self, netns: str, fn: Callable[[], Any]) -> Any:
        """Call *fn* in a new thread that entered *netns*; sockets it opens live there.

        A thread is used (not the caller) because setns() is one-way for a thread.
        """
        from portlab.nsenter import enter_netns

        box: dict[str, Any] = {}

        def body() -> None:
            try:
                enter_netns(netns)
                box["value"] = fn()
            except BaseException as err:  # handed to the caller's thread below
                box["error"] = err

        thread = threading.Thread(target=body, name=f"netns-{netns}")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box.get("value")

    def run_in_scanner(self, make_coro: Callable[[], Any]) -> Any:
        """Run ``asyncio.run(make_coro())`` from the scanner namespace."""
        return self.run_in(self.scanner_ns, lambda: asyncio.run(make_coro()))

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            for stream in (proc.stdout, proc.stderr):
                if stream:
                    stream.close()
        self._procs.clear()
        for netns in (self.scanner_ns, self.target_ns):
            # Anything still running in a namespace we made was started by us.
            pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", netns], capture_output=True)


@contextlib.contextmanager
def netlab(tag: str = "t", *, tcp: Sequence[int] = (), udp: Sequence[int] = (),
           ruleset: Optional[str] = None) -> Iterator[NetLab]:
    """Build scanner + target namespaces joined by a veth pair; tear down on exit."""
    uid = uuid.uuid4().hex[:6]
    lab = NetLab(scanner_ns=f"pl-{tag}-{uid}-s", target_ns=f"pl-{tag}-{uid}-t")
    try:
        _run(["ip", "netns", "add", lab.scanner_ns])
        _run(["ip", "netns", "add", lab.target_ns])
        # Create the veth ends straight inside the namespaces: no name is ever taken in
        # the host's namespace, so parallel tests cannot collide.
        _run(["ip", "link", "add", "name", "veth0", "netns", lab.scanner_ns, "type", "veth",
              "peer", "name", "veth0", "netns", lab.target_ns])
        for netns, addr in ((lab.scanner_ns, lab.scanner_addr), (lab.target_ns, lab.target_addr)):
            lab.ip(netns, "link", "set", "lo", "up")
            lab.ip(netns, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", "veth0")
            lab.ip(netns, "link", "set", "veth0", "up")
        # Only the connected /24: no default route, so no address outside it is reachable.
        assert "default" not in lab.ip(lab.scanner_ns, "route", "show")
        if ruleset:
            lab.nft(ruleset)
        lab.start_services(tcp, udp)
        yield lab
    finally:
        lab.close()
