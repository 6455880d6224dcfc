"""``portlab scan`` as a user runs it: a subprocess, real listeners on loopback, exit
codes 0/2/3/4 with one-line messages, every format, -o written atomically."""

from __future__ import annotations

import ctypes
import csv
import io
import json
import shutil
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest


def run_cli(*args, preexec_fn=None, timeout=120, env=None):
    environment = {**os.environ, "PORTLAB_STATE_DIR": "/nonexistent-portlab-test-labs", **(env or {})}
    return subprocess.run([sys.executable, "-m", "portlab", "scan", *args], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=preexec_fn, env=environment)


def one_line_error(proc, code):
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_table_shows_open_port(listener):
    closed = free_port()
    proc = run_cli("127.0.0.1", "-p", f"{listener},{closed}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""          # no progress bar: stderr is not a terminal
    assert f"{listener}/tcp" in proc.stdout and "open" in proc.stdout
    line = next(l for l in proc.stdout.splitlines() if l.startswith(f"{listener}/tcp"))
    assert line.split()[1] == "open"


def test_full_range_json_is_compact_and_lossless(listener, tmp_path):
    from portlab.results import ScanResult, load

    out = tmp_path / "scan.json"
    proc = run_cli("127.0.0.1", "-p", "-", "--format", "json", "-o", str(out), "-q")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    # docs/design.md (portlab JSON): well under 3 MB for the full range (it was 8.5 MB with every port spelled out).
    assert len(text.encode()) < 3_000_000
    data = json.loads(text)
    assert data["scan_type"] == "connect" and data["transport"] == "connect"
    (host,) = data["hosts"]
    assert host["address"] == "127.0.0.1"
    # The closed ports are folded as nmap's XML does; the listener stays listed, one port per line.
    (fold,) = host["extraports"]
    assert fold["state"] == "closed" and fold["reason"] == "conn-refused" and fold["count"] >= 65534 - 64
    assert any(line.startswith('{"port": %d,' % listener) for line in text.splitlines())
    # Every reader expands the fold: all 65535 ports come back, each with its registry name.
    result = ScanResult.from_json(text)
    ports = result.hosts[0].ports
    assert [p.port for p in ports] == list(range(1, 65536))
    assert result.hosts[0].port(listener).state == "open"
    assert result.hosts[0].port(22).service == "ssh" and result.hosts[0].port(22).rtt is not None
    assert len(load(out).to_dataframe()) == 65535
    again = json.loads(result.to_json())
    assert again == data  # writing what was read gives the same document
    shown = subprocess.run([sys.executable, "-m", "portlab", "show", str(out), "--format", "csv"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and shown.stdout.count("\n") == 65536  # header + every port


def test_csv_and_xml_formats(listener):
    csv_proc = run_cli("127.0.0.1", "-p", str(listener), "--format", "csv")
    assert csv_proc.returncode == 0, csv_proc.stderr
    rows = list(csv.DictReader(io.StringIO(csv_proc.stdout)))
    assert len(rows) == 1 and rows[0]["state"] == "open" and int(rows[0]["port"]) == listener
    xml_proc = run_cli("127.0.0.1", "-p", str(listener), "--format", "xml")
    assert xml_proc.returncode == 0, xml_proc.stderr
    root = ET.fromstring(xml_proc.stdout.split("\n", 1)[1] if xml_proc.stdout.startswith("<?xml") else xml_proc.stdout)
    port = root.find(".//port")
    assert port.get("portid") == str(listener) and port.find("state").get("state") == "open"


def test_output_file_is_written_atomically_and_table_printed(listener, tmp_path):
    out = tmp_path / "scan.json"
    out.write_text("old")
    proc = run_cli("127.0.0.1", "-p", str(listener), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "open" in proc.stdout and not proc.stdout.lstrip().startswith("{")   # the table
    data = json.loads(out.read_text())
    assert data["hosts"][0]["ports"][0]["state"] == "open"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.json"]   # no temp file left
    xml_out = tmp_path / "scan.xml"
    assert run_cli("127.0.0.1", "-p", str(listener), "-o", str(xml_out)).returncode == 0
    assert xml_out.read_text().lstrip().startswith("<?xml")


def test_output_into_missing_directory_is_bad_input(tmp_path):
    line = one_line_error(run_cli("127.0.0.1", "-p", "1", "-o", str(tmp_path / "nope" / "x.json")), 2)
    assert "does not exist" in line


@pytest.mark.parametrize("args,fragment", [
    (["127.0.0.1", "-p", "70000"], "70000"),
    (["127.0.0.1", "-p", "22,no-such-service"], "'no-such-service'"),
    (["127.0.0.1", "-p", "100-20"], "100-20"),
    (["999.0.0.1", "-p", "22"], "999.0.0.1"),
    (["10.0.0.0/33", "-p", "22"], "10.0.0.0/33"),
    (["127.0.0.1", "-T", "7"], "7"),
    (["127.0.0.1", "-s", "xmas"], "xmas"),
    (["127.0.0.1", "--max-retries", "-1"], "-1"),
    (["127.0.0.1", "--max-rate", "0"], "0"),
    (["127.0.0.1", "--allow-target", "10.0.0.0/99"], "10.0.0.0/99"),
    (["127.0.0.1", "--scenario", "no-such-scenario"], "no-such-scenario"),
    (["127.0.0.1", "--netns", "../etc"], "../etc"),
])
def test_bad_input_exits_2_with_one_line(args, fragment):
    line = one_line_error(run_cli(*args), 2)
    assert fragment in line


def test_out_of_scope_exits_3_and_names_the_fix():
    line = one_line_error(run_cli("127.0.0.1", "192.0.2.10", "-p", "22"), 3)
    assert "192.0.2.10" in line and "--allow-target" in line


def _drop_net_raw() -> None:
    # Runs in the child before exec: remove CAP_NET_RAW from the bounding set, so even
    # root's python starts without it (what an unprivileged user has).
    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP, CAP_NET_RAW = 24, 13
    if libc.prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="capabilities are Linux-only")
def test_syn_without_raw_privilege_exits_4_and_suggests_connect():
    if os.geteuid() == 0:
        proc = run_cli("127.0.0.1", "-p", "22", "-s", "syn", preexec_fn=_drop_net_raw)
    else:
        proc = run_cli("127.0.0.1", "-p", "22", "-s", "syn")
    line = one_line_error(proc, 4)
    assert "CAP_NET_RAW" in line and "-s connect" in line


def test_scenario_scan_sends_nothing_and_uses_the_scenario_scope():
    proc = run_cli("10.77.0.10", "--scenario", "web-server", "-p", "22,80,443", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["transport"] == "sim"
    states = {p["port"]: p["state"] for p in data["hosts"][0]["ports"]}
    assert states[80] == "open" and states[443] == "open"
    line = one_line_error(run_cli("10.78.0.10", "--scenario", "web-server", "-p", "22"), 3)
    assert "10.77.0.0/24" in line


def test_no_randomize_and_timing_flags_are_accepted(listener):
    proc = run_cli("127.0.0.1", "-p", str(listener), "--no-randomize", "-T", "4", "--max-retries", "1",
                   "--max-rate", "1000", "--max-parallelism", "10", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "open" in proc.stdout


def test_ctrl_c_exits_130_with_one_line():
    # A listener with a full accept queue drops SYNs: the scan waits, and we interrupt it.
    import signal
    import time

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    clients = []
    try:
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            clients.append(c)
        time.sleep(0.1)
        proc = subprocess.Popen([sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p", str(port),
                                 "--min-rtt-timeout", "20", "--max-rtt-timeout", "30"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None, proc.communicate()   # still waiting for an answer
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130
        assert out == "" and err.strip().splitlines() == ["portlab scan: interrupted"]
    finally:
        for c in clients:
            c.close()
        server.close()


def test_nmap_spellings_of_scan_type_and_timing(listener):
    proc = run_cli("127.0.0.1", "-p", str(listener), "-sT", "-T4", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["scan_type"] == "connect"
    assert data["hosts"][0]["ports"][0]["state"] == "open"


def _drop_sys_admin() -> None:
    # Before exec: without CAP_SYS_ADMIN even root may not enter a network namespace.
    libc = ctypes.CDLL(None, use_errno=True)
    PR_CAPBSET_DROP, CAP_SYS_ADMIN = 24, 21
    if libc.prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0 or not shutil.which("ip"),
                    reason="needs Linux, root and iproute2 to create a namespace")
def test_netns_without_privilege_exits_4():
    name = f"plt-cli-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        line = one_line_error(run_cli("127.0.0.1", "-p", "1", "--netns", name, preexec_fn=_drop_sys_admin), 4)
        assert name in line and "root" in line
        ok = run_cli("127.0.0.1", "-p", "1", "--netns", name, "--format", "csv")
        assert ok.returncode == 0, ok.stderr
        # Inside the fresh namespace loopback is down: the kernel answers ENETUNREACH.
        assert "127.0.0.1,,1,tcp,filtered,net-unreach" in ok.stdout
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def test_the_header_says_how_and_a_simulated_scan_which_time_is_virtual():
    proc = run_cli("10.77.0.2", "--scenario", "single-host", "-s", "udp", "-p", "50-60")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("portlab 0.1.0: UDP scan, simulated: computed from a scenario, no packet sent;")
    last = lines[-1]
    assert "of simulated time (computed in " in last and last.endswith(" s of real time)")


def test_a_live_header_names_connect_once(listener):
    proc = run_cli("127.0.0.1", "-p", str(listener))
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.splitlines()[0]
    assert "TCP connect scan, live, with the operating system's connect()" in head
    assert "connect scan via connect" not in head and "simulated" not in proc.stdout


def test_ports_by_service_name_and_wildcard(listener):
    # nmap's -p takes names and * / ? patterns; the simulator keeps it deterministic.
    proc = run_cli("10.77.0.2", "--scenario", "single-host", "-p", "ssh,http*", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    ports = {p["port"] for p in json.loads(proc.stdout)["hosts"][0]["ports"]}
    assert {22, 80, 443} <= ports


def test_all_ignored_ports_still_say_what_was_not_shown(listener):
    proc = run_cli("127.0.0.1", "-p", f"{listener},{listener + 1}-{listener + 40}")
    assert proc.returncode == 0, proc.stderr
    assert "Not shown: " in proc.stdout and " closed tcp ports (conn-refused)" in proc.stdout
    assert f"{listener}/tcp open" in proc.stdout


def test_a_scenario_address_without_scenario_suggests_it_first():
    proc = run_cli("10.77.0.2", "-p", "22")
    line = one_line_error(proc, 3)
    assert "add --scenario single-host" in line
    assert line.index("--scenario") < line.index("--allow-target")
    # An address no scenario holds gets only the scope message.
    other = one_line_error(run_cli("10.200.0.9", "-p", "22"), 3)
    assert "--scenario" not in other and "--allow-target 10.200.0.9" in other


def test_no_target_prints_a_usage_line_and_help_has_no_markup():
    line = one_line_error(run_cli(), 2)
    assert "required: TARGET" in line and "usage: portlab scan TARGET..." in line
    helped = run_cli("--help")
    assert helped.returncode == 0 and "``" not in helped.stdout
    assert "SERVICE is the name IANA's registry gives the port number" in helped.stdout
    assert "leaves out the ports\nother users listen on" in helped.stdout    # the shared-machine rule


@pytest.mark.parametrize("command", [[], ["scan"], ["show"], ["lookup"], ["lab"], ["lab", "up"], ["record"]])
def test_every_help_is_plain_text(command):
    proc = subprocess.run([sys.executable, "-m", "portlab", *command, "--help"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "``" not in proc.stdout and ":class:" not in proc.stdout and proc.stdout.startswith("usage: ")
