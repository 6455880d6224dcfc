"""nmap's options on ``portlab scan`` (issue 25, sections 1 and 2): each accepted option is
run against a real listener on loopback and, where nmap has the same option, compared with
what nmap itself reports on the same ports; each option portlab does not do gives one line
and exit 2; every output path is checked before the first packet, and a write that fails
at the end still prints the table and leaves no partial file."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.unprivileged import learner_argv

ROOT = Path(__file__).resolve().parents[1]
NMAP = shutil.which("nmap")
needs_nmap = pytest.mark.skipif(NMAP is None, reason="nmap is not installed")


def portlab(*args, argv_prefix=(), timeout=120):
    env = {**os.environ, "PORTLAB_STATE_DIR": "/nonexistent-portlab-test-labs", "PYTHONPATH": str(ROOT)}
    return subprocess.run([*argv_prefix, sys.executable, "-m", "portlab", "scan", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def nmap(*args, targets=("127.0.0.1",), stdin=None):
    proc = subprocess.run([NMAP, "-Pn", "-n", "-sT", *args, *targets], capture_output=True, input=stdin,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc


def one_line(proc, code=2):
    assert proc.returncode == code, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "unrecognized arguments" not in proc.stderr
    return lines[0]


@pytest.fixture
def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s
    finally:
        s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grepable(text: str) -> dict:
    """nmap's -oG syntax read as a script would: ports as (port, state, protocol), the
    number of '/'-separated fields per entry, and the Ignored State field."""
    hosts = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        fields = dict(f.split(": ", 1) for f in line.split("\t"))
        if "Status" in fields:
            assert fields["Status"] == "Up"
            continue
        entries = [e for e in fields["Ports"].split(", ") if e]
        ports = set()
        for entry in entries:
            parts = entry.split("/")
            assert len(parts) == 8 and parts[-1] == "", entry     # port/state/proto/owner/service/rpc/version/
            ports.add((int(parts[0]), parts[1], parts[2]))
        hosts[fields["Host"].split()[0]] = (ports, fields.get("Ignored State"))
    return hosts


# -- section 1: the options, against nmap on the same loopback ports -----------------------

@needs_nmap
@pytest.mark.parametrize("options", [
    ["-p", "{open},{closed}"],
    ["-p", "1-1000,{open}"],
    ["-F"],
    ["--top-ports", "20"],
    ["-p", "{open},{closed},22-30", "--exclude-ports", "{closed},25"],
    ["-p", "{open},{closed}", "--open"],
    ["-p", "1-200,{open}", "--open"],
], ids=["list", "fold", "F", "top-ports", "exclude-ports", "open", "open-fold"])
def test_grepable_matches_nmap(listener, options):
    values = {"open": listener.getsockname()[1], "closed": free_port()}
    options = [o.format(**values) for o in options]
    ours = portlab("127.0.0.1", "-sT", "-oG", "-", *options)
    assert ours.returncode == 0, ours.stderr
    theirs = nmap("-oG", "-", *options)
    assert grepable(ours.stdout) == grepable(theirs.stdout)
    assert ours.stdout.splitlines()[1] == "Host: 127.0.0.1 ()\tStatus: Up"


@needs_nmap
@pytest.mark.parametrize("targets, options", [
    ([], ["-iL", "{list}"]),
    ([], ["-iL", "-"]),
    (["127.0.0.1-6"], ["--exclude", "127.0.0.2,127.0.0.5"]),
    (["127.0.0.1-6"], ["--excludefile", "{list}"]),
    (["127.0.0.1", "127.0.0.2"], ["--open"]),
], ids=["iL-file", "iL-stdin", "exclude", "excludefile", "open-drops-host"])
def test_targets_match_nmap(listener, tmp_path, targets, options):
    listing = tmp_path / "targets.txt"
    listing.write_text("# lab hosts\n127.0.0.1   127.0.0.3 # two on a line\n\n\t127.0.0.4\n")
    options = [o.format(list=listing) for o in options]
    stdin = listing.read_text() if "-" in options else None
    port = listener.getsockname()[1]
    env = {**os.environ, "PORTLAB_STATE_DIR": "/nonexistent-portlab-test-labs", "PYTHONPATH": str(ROOT)}
    ours = subprocess.run([sys.executable, "-m", "portlab", "scan", *targets, "-p", str(port), "-oG", "-",
                           *options], capture_output=True, text=True, input=stdin, env=env, timeout=120)
    assert ours.returncode == 0, ours.stderr
    theirs = nmap("-p", str(port), "-oG", "-", *options, targets=targets, stdin=stdin)
    assert grepable(ours.stdout) == grepable(theirs.stdout)
    assert len(grepable(ours.stdout)) >= 1


@needs_nmap
def test_xml_file_has_nmaps_ports(listener, tmp_path):
    """-oX FILE before the target: the file is written (today's bug resolved 'out.xml')."""
    from portlab.formats import load

    port = listener.getsockname()[1]
    ours = portlab("-oX", str(tmp_path / "ours.xml"), "127.0.0.1", "-p", f"1-100,{port}")
    assert ours.returncode == 0, ours.stderr
    assert "portlab scan report for 127.0.0.1" in ours.stdout      # the table is still printed
    nmap("-oX", str(tmp_path / "nmap.xml"), "-p", f"1-100,{port}")
    a, b = load(tmp_path / "ours.xml"), load(tmp_path / "nmap.xml")
    assert a.counts() == b.counts() and a.open_ports() == b.open_ports() == [port]
    assert ET.parse(tmp_path / "ours.xml").getroot().tag == "nmaprun"


def test_oA_writes_three_files_and_oN_dash_prints_the_table(listener, tmp_path):
    port = listener.getsockname()[1]
    proc = portlab("127.0.0.1", "-p", str(port), "-oA", str(tmp_path / "base"))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.gnmap", "base.nmap", "base.xml"]
    assert f"{port}/tcp open" in " ".join((tmp_path / "base.nmap").read_text().split())
    assert grepable((tmp_path / "base.gnmap").read_text())["127.0.0.1"][0] == {(port, "open", "tcp")}
    assert ET.parse(tmp_path / "base.xml").getroot().find("host/ports/port").get("portid") == str(port)
    table = portlab("127.0.0.1", "-p", str(port), "-oN", "-")
    assert table.returncode == 0 and table.stdout.startswith("portlab ")
    xml = portlab("127.0.0.1", "-p", str(port), "-oX", "-")
    assert ET.fromstring(xml.stdout).tag == "nmaprun"            # XML alone on stdout, as nmap


def test_rtt_timeouts_take_nmaps_units(listener):
    port = listener.getsockname()[1]
    proc = portlab("127.0.0.1", "-p", str(port), "--min-rtt-timeout", "100ms", "--max-rtt-timeout", "2s")
    assert proc.returncode == 0, proc.stderr
    assert "expected a time" in one_line(portlab("127.0.0.1", "--max-rtt-timeout", "5d"))


def test_verbose_reason_n_Pn(listener):
    port = listener.getsockname()[1]
    proc = portlab("127.0.0.1", "-p", f"{port},{free_port()}", "-vv", "--reason", "-n", "-Pn", "-T4")
    assert proc.returncode == 0, proc.stderr
    assert f"Discovered open port {port}/tcp on 127.0.0.1" in proc.stdout.splitlines()
    notes = proc.stderr.strip().splitlines()
    assert len(notes) == 2 and notes[0].startswith("portlab scan: note: -Pn:") and "-n:" in notes[1]


@pytest.mark.parametrize("args, named", [
    (["-O", "127.0.0.1"], "-O"),
    (["-A", "127.0.0.1"], "-A"),
    (["-sA", "127.0.0.1"], "-sA"),
    (["-sV", "127.0.0.1"], "-sV"),
    (["--script", "http-title", "127.0.0.1"], "--script"),
    (["--script=default", "127.0.0.1"], "--script"),
    (["-PS22,80", "127.0.0.1"], "-PS22,80"),
    (["-6", "::1"], "-6"),
    (["-iR", "5"], "-iR"),
    (["127.0.0.1", "-D", "decoy.example"], "-D"),
    (["127.0.0.1", "--min-rate", "100"], "--min-rate"),
])
def test_unsupported_option_is_one_line(args, named):
    line = one_line(portlab(*args))
    assert line.startswith(f"portlab scan: {named}: not supported by portlab: ")
    # the option's argument was never looked up as a host: the line is about the option
    assert "resolve" not in line and "scope" not in line


@pytest.mark.parametrize("args, words", [
    (["127.0.0.1", "--no-such-option"], "--no-such-option: not an option"),
    (["127.0.0.1", "-sS", "-sU"], "one scan type at a time"),
    (["127.0.0.1", "-F", "-p", "22"], "-p and -F both choose the ports"),
    (["127.0.0.1", "-p", "22", "--exclude-ports", "22"], "leaves no port"),
    (["127.0.0.1", "--top-ports", "0"], "expected a whole number >= 1"),
    (["127.0.0.1", "-oX", "-", "-oG", "-"], "-oX and -oG both write to standard output"),
    (["127.0.0.1", "-oA", "-"], "-oA -"),
    (["127.0.0.1", "-T", "fast"], "timing template"),
    (["-iL", "/nonexistent/targets.txt"], "-iL /nonexistent/targets.txt: no such file"),
    ([], "required: TARGET"),
    (["127.0.0.1", "--exclude", "127.0.0.1"], "leaves no target"),
])
def test_bad_combination_is_one_line(args, words):
    assert words in one_line(portlab(*args))


# -- section 2: no finished scan lost --------------------------------------------------------

def _connections_waiting(sock) -> int:
    sock.setblocking(False)
    n = 0
    try:
        while True:
            sock.accept()[0].close()
            n += 1
    except BlockingIOError:
        return n


@pytest.mark.parametrize("case", ["missing-dir", "is-dir", "not-a-dir", "no-permission"])
def test_bad_output_path_before_any_packet(listener, tmp_path, case):
    port = listener.getsockname()[1]
    prefix = ()
    if case == "missing-dir":
        path = tmp_path / "nope" / "out.xml"
    elif case == "is-dir":
        path = tmp_path
    elif case == "not-a-dir":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "out.xml"
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        tmp_path.chmod(0o755)
        path = locked / "out.xml"
        prefix = tuple(learner_argv([])) if os.geteuid() == 0 else ()
    proc = portlab("127.0.0.1", "-p", str(port), "-oN", str(tmp_path / "fine.nmap"), "-oX", str(path),
                   argv_prefix=prefix)
    line = one_line(proc)
    assert proc.stdout == ""
    assert line.startswith(f"portlab scan: -oX {path}: ")
    assert _connections_waiting(listener) == 0          # not one connection reached the listener
    assert not (tmp_path / "fine.nmap").exists()        # and no other file was written either


@pytest.fixture
def full_disk(tmp_path):
    """A 64 KiB tmpfs filled to the last byte: checking it succeeds, writing to it fails."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    mnt = tmp_path / "full"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        fd = os.open(mnt / "filler", os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            while True:
                os.write(fd, b"\0" * 512)
        except OSError as err:
            assert err.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_late_write_failure_keeps_table_and_leaves_nothing(listener, tmp_path, full_disk):
    port = listener.getsockname()[1]
    proc = portlab("127.0.0.1", "-p", f"1-200,{port}", "-oX", str(full_disk / "out.xml"),
                   "-oG", str(tmp_path / "ok.gnmap"))
    line = one_line(proc)
    assert f"-oX {full_disk / 'out.xml'}" in line and "No space left" in line
    assert f"{port}/tcp" in proc.stdout and "portlab done" in proc.stdout     # the table is printed
    assert sorted(p.name for p in full_disk.iterdir()) == ["filler"]           # nothing half-written
    assert (tmp_path / "ok.gnmap").read_text().count("Host: 127.0.0.1") == 2  # the other file is whole
