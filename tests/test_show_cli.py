"""`portlab show` through a real subprocess: every format, real nmap files, bad files."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from portlab.formats.nmapxml import loads as xml_loads
from portlab.results import HostResult, PortResult, ScanResult
from portlab.states import PortState, ScanType

DATA = Path(__file__).parent / "data"
NMAP_FILES = sorted(DATA.glob("nmap-*.xml"))


def show(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portlab", "show", *map(str, args)],
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def recording(tmp_path) -> tuple[Path, ScanResult]:
    ports = [PortResult(22, "tcp", PortState.OPEN, "syn-ack", "ssh", rtt=0.0002),
             PortResult(8082, "tcp", PortState.FILTERED, "admin-prohibited", None, tries=2)]
    ports += [PortResult(p, "tcp", PortState.CLOSED, "reset", None) for p in range(100, 130)]
    result = ScanResult(ScanType.SYN, "raw", datetime(2026, 2, 3, 4, 5, 6, tzinfo=timezone.utc), 2.5,
                        [HostResult("10.77.0.2", "web", ports)], probes_sent=33, retries=1)
    path = tmp_path / "web.json"
    path.write_text(result.to_json())
    return path, result


def test_show_portlab_json_as_a_table(recording):
    path, _ = recording
    run = show(path)
    assert run.returncode == 0 and run.stderr == ""
    lines = run.stdout.splitlines()
    assert "portlab scan report for web (10.77.0.2)" in lines
    assert "Not shown: 30 closed tcp ports (reset)" in lines
    assert "22/tcp   open     ssh     syn-ack" in lines
    assert "8082/tcp filtered unknown admin-prohibited" in lines


def test_show_all_lists_every_port(recording):
    path, _ = recording
    run = show(path, "--all")
    assert run.returncode == 0 and "Not shown" not in run.stdout
    assert "129/tcp  closed   unknown reset" in run.stdout.splitlines()


def test_json_output_parses_back_to_the_same_result(recording):
    path, result = recording
    run = show(path, "--format", "json")
    assert run.returncode == 0
    assert ScanResult.from_json(run.stdout) == result


def test_csv_output_reads_with_pandas(recording):
    path, _ = recording
    frame = pd.read_csv(io.StringIO(show(path, "--format", "csv").stdout))
    assert len(frame) == 32
    assert frame.set_index("port").loc[8082, "reason"] == "admin-prohibited"


def test_xml_output_reads_back(recording):
    path, result = recording
    again = xml_loads(show(path, "--format", "xml").stdout)
    assert again.counts() == result.counts() == {"open": 1, "closed": 30, "filtered": 1}
    assert again.scan_type is ScanType.SYN


@pytest.mark.parametrize("path", NMAP_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("fmt", ["table", "json", "csv", "xml"])
def test_real_nmap_files_in_every_format(path, fmt):
    expected = xml_loads(path.read_text())
    run = show(path, "--format", fmt)
    assert run.returncode == 0, run.stderr
    if fmt == "table":
        # Every port nmap reported is accounted for: listed lines + the "Not shown" count.
        listed = [line for line in run.stdout.splitlines() if "/tcp " in line or "/udp " in line]
        hidden = sum(int(line.split()[2]) for line in run.stdout.splitlines() if line.startswith("Not shown:"))
        assert len(listed) + hidden == sum(expected.counts().values())
    elif fmt == "json":
        assert ScanResult.from_json(run.stdout).hosts == expected.hosts
    elif fmt == "csv":
        frame = pd.read_csv(io.StringIO(run.stdout))
        assert frame["state"].value_counts().to_dict() == expected.counts()
    else:
        assert xml_loads(run.stdout).hosts == expected.hosts


def test_real_nmap_counts_match_nmaps_own_summary():
    run = show(DATA / "nmap-loopback-sT.xml")
    assert "Not shown: 1995 closed tcp ports (conn-refused)" in run.stdout
    assert run.stdout.count("/tcp ") == 5
    assert "scanned in 0.08 seconds" in run.stdout


def test_content_decides_not_the_extension(tmp_path, recording):
    path, _ = recording
    renamed = tmp_path / "scan.xml"
    renamed.write_text(path.read_text())  # JSON inside a .xml name
    assert show(renamed).returncode == 0


def test_a_byte_order_mark_is_not_content(tmp_path, recording):
    path, result = recording
    with_bom = tmp_path / "bom.json"
    with_bom.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    run = show(with_bom, "--format", "json")
    assert run.returncode == 0, run.stderr
    assert ScanResult.from_json(run.stdout) == result


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    ("", "the file is empty"),
    ("PORT STATE SERVICE\n22/tcp open ssh\n", "neither portlab JSON"),
    ('{"portlab": "0.1.0", "scan_type": "syn"', "not valid JSON (line 1"),
    ('{"hello": 1}', "not a portlab result"),
    ("<nmaprun><scaninfo type='syn'", "XML at line 1"),
    (b"\xff\xfe\x00garbage", "not UTF-8 text"),
])
def test_bad_files_exit_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    run = show(path)
    assert run.returncode == 2
    assert run.stdout == ""
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr
    assert run.stderr.startswith(f"portlab show: {path}: ") and message in run.stderr


def test_a_directory_and_a_bad_format_choice(tmp_path, recording):
    run = show(tmp_path)
    assert run.returncode == 2 and "is a directory" in run.stderr
    path, _ = recording
    run = show(path, "--format", "yaml")
    assert run.returncode == 2 and "invalid choice: 'yaml'" in run.stderr and run.stderr.count("\n") == 1


def test_a_recordings_meta_json_is_named_for_what_it_is():
    from portlab.paths import DATA_DIR

    meta = DATA_DIR / "recordings" / "home-nat-forward" / "meta.json"
    run = show(meta)
    assert run.returncode == 2 and run.stdout == "" and run.stderr.count("\n") == 1
    assert "not a scan result but a recording's description" in run.stderr
    assert "connect.json" in run.stderr and "portlab show reads a scan result" in run.stderr
    assert "started: missing" not in run.stderr


def test_a_recording_says_how_it_was_made():
    from portlab.paths import DATA_DIR

    run = show(DATA_DIR / "recordings" / "single-host" / "connect.json")
    assert run.returncode == 0, run.stderr
    head = run.stdout.splitlines()[0]
    assert "TCP connect scan, live, with the operating system's connect()" in head
    assert "via connect" not in head
