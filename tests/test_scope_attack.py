"""The scope guard under attack: every spelling of an address outside scope is refused
before a packet leaves, and the spellings of loopback scan loopback only.

The guard judges the address a target *resolves to*, once, and the transports
connect to that address (never to the name again), so a name whose answer changes
between the check and the connect cannot move the scan.  The live half runs the
command line inside a network namespace whose only way out is a dummy interface
with a default route: anything that tried to leave would be captured there, and
the capture must stay empty.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from netlab import netns_skip_reason
from portlab import engine, scenario as scenario_mod
from portlab.errors import BadInput, ScopeRefused

ROOT = Path(__file__).resolve().parents[1]

# Spellings glibc's resolver turns into an address outside scope (8.8.8.8, 10.1.2.3, ...).
OUTSIDE = [
    "0x08.0x08.0x08.0x08",  # hex octets
    "0x8080808",            # one hex number
    "::ffff:8.8.8.8",       # IPv4-mapped IPv6 reaches 8.8.8.8
    "::ffff:10.1.2.3",
    "10.77.0.0/23",         # a block that overlaps a scenario network only in part
    "127.0.0.1,8.8.8.8",    # one good target does not carry a bad one
]
# Spellings of loopback: allowed, and scanned as loopback.
LOOPBACK_SPELLINGS = ["0x7f.1", "0x7f000001", "::ffff:127.0.0.1"]
# Digits and dots that are no dotted quad: one number (8.8.8.8 as 134744072), short
# forms, leading zeros (octal to some parsers, decimal to others).  Refused as bad
# input rather than guessed, whichever address a resolver would make of them.
AMBIGUOUS = ["134744072", "2130706433", "127.1", "0177.0.0.1", "010.8.8.8", "127.000.000.001"]


@pytest.fixture(autouse=True)
def no_labs(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path / "labs"))


@pytest.mark.parametrize("target", OUTSIDE)
def test_outside_spellings_are_refused(target):
    with pytest.raises(ScopeRefused):
        engine.scan(target, "80")


@pytest.mark.parametrize("target", LOOPBACK_SPELLINGS)
def test_loopback_spellings_scan_loopback(target):
    result = engine.scan(target, "1", timing=5)
    assert [h.address for h in result.hosts] in (["127.0.0.1"], ["::ffff:7f00:1"])


@pytest.mark.parametrize("target", AMBIGUOUS)
def test_ambiguous_dotted_forms_are_bad_input(target):
    with pytest.raises(BadInput, match="not a valid IP address"):
        engine.scan(target, "80")


def test_a_partly_allowed_block_is_refused_whole():
    with pytest.raises(ScopeRefused):
        engine.scan("10.77.0.0/23", "80", scenario="single-host")
    with pytest.raises(ScopeRefused):
        engine.scan("10.0.0.0/23", "80", allow=["10.0.0.0/24"])


def test_a_name_is_resolved_once_and_the_checked_address_is_scanned(monkeypatch):
    # A DNS answer that changes between the check and the connect (rebinding): the
    # first answer is loopback, every later one outside.  Only the first may count.
    real = socket.getaddrinfo
    calls = []

    def rebinding(host, *args, **kw):
        if host == "rebind.test":
            calls.append(host)
            address = "127.0.0.1" if len(calls) == 1 else "8.8.8.8"
            return real(address, *args, **kw)
        return real(host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    result = engine.scan("rebind.test", "1", timing=5)
    assert calls == ["rebind.test"]
    assert [h.address for h in result.hosts] == ["127.0.0.1"]


def test_a_name_resolving_outside_is_refused_by_its_address(monkeypatch):
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo",
                        lambda host, *a, **k: real("8.8.4.4" if host == "outside.test" else host, *a, **k))
    with pytest.raises(ScopeRefused, match=r"outside\.test \(8\.8\.4\.4\)"):
        engine.scan("outside.test", "80")


@pytest.mark.parametrize("address", ["8.8.8.1", "1.1.1.1", "100.64.0.1/10"])
def test_a_scenario_cannot_make_a_public_address_scannable(tmp_path, address):
    path = tmp_path / "public.toml"
    path.write_text(f'name = "public"\n[scanner]\naddress = "{address.split("/")[0]}"\n'
                    f'[[hosts]]\nname = "x"\naddress = "{address.split("/")[0].rsplit(".", 1)[0]}.9"\n')
    try:
        scenario_mod.load(path)
    except BadInput as err:
        assert "public.toml" in str(err)
    else:  # CGNAT space is allowed in scenarios (never routed on the Internet)
        assert address.startswith("100.64.")


# ---------------------------------------------------------------- live: nothing leaves

SKIP = netns_skip_reason() or (None if shutil.which("tcpdump") else "tcpdump is not installed")


@pytest.fixture
def sealed_namespace():
    """A namespace whose default route leads into a veth whose other end sits in an
    empty namespace (the void), with tcpdump capturing everything that leaves."""
    if SKIP:
        pytest.skip(SKIP)
    ns = f"plscope{uuid.uuid4().hex[:6]}"
    void = ns + "v"
    etc = Path("/etc/netns") / ns        # `ip netns exec` mounts these over /etc
    subprocess.run(["ip", "netns", "add", ns], check=True)
    subprocess.run(["ip", "netns", "add", void], check=True)
    capture = None
    try:
        for argv in (["link", "set", "lo", "up"], ["link", "add", "out0", "type", "veth", "peer", "name", "in0",
                                                    "netns", void],
                     ["addr", "add", "192.0.2.1/24", "dev", "out0"], ["link", "set", "out0", "up"],
                     ["route", "add", "default", "via", "192.0.2.254", "dev", "out0", "onlink"],
                     ["-6", "route", "add", "default", "dev", "out0"]):
            subprocess.run(["ip", "-n", ns, *argv], check=True, capture_output=True)
        subprocess.run(["ip", "-n", void, "link", "set", "in0", "up"], check=True)
        etc.mkdir(parents=True)
        (etc / "hosts").write_text("127.0.0.1 localhost\n8.8.8.8 outside.test\n127.0.0.1 inside.test\n")
        capture = subprocess.Popen(["ip", "netns", "exec", ns, "tcpdump", "-n", "-i", "out0", "-l", "-c", "50",
                                    "not ip6 multicast"],  # not the kernel's own IPv6 chatter
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)   # tcpdump is listening before anything runs
        yield ns, capture
    finally:
        if capture is not None and capture.poll() is None:
            capture.terminate()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        subprocess.run(["ip", "netns", "del", void], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)


def cli_in(ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "portlab", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "PORTLAB_STATE_DIR": "/nonexistent"})


@pytest.mark.netns
@pytest.mark.slow
def test_nothing_leaves_the_namespace_for_any_refused_spelling(sealed_namespace):
    ns, capture = sealed_namespace
    for target in [*OUTSIDE, "outside.test"]:
        # Every scan type refuses in the same guard; three of them on two targets suffice.
        for scan_type in ("connect", "syn", "udp") if target in (OUTSIDE[0], "outside.test") else ("connect",):
            done = cli_in(ns, "scan", *target.split(","), "-p", "53,80,443", "-s", scan_type)
            assert done.returncode == 3, (target, scan_type, done.stderr)
            assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    for target in AMBIGUOUS:
        assert cli_in(ns, "scan", target, "-p", "80").returncode == 2
    for target, scan_type in [("inside.test", "syn"), *((t, "connect") for t in LOOPBACK_SPELLINGS)]:
        done = cli_in(ns, "scan", target, "-p", "1-100", "-s", scan_type)
        assert done.returncode == 0, (target, done.stderr)
    # A control: the capture does see what really leaves (so an empty capture means something).
    subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                    "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.77', 9))"],
                   check=True, timeout=30)
    time.sleep(0.5)
    capture.terminate()
    out, _ = capture.communicate(timeout=10)
    leaving = [line for line in out.splitlines() if line.strip()]
    assert leaving and all("192.0.2.77" in line for line in leaving), leaving
