"""`portlab lookup` end to end, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from portlab import registry


def lookup(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "portlab", "lookup", *args],
                          capture_output=True, text=True, timeout=60)


def test_port_as_table():
    res = lookup("443")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].split() == ["PORT", "PROTO", "SERVICE", "RANGE", "DESCRIPTION"]
    assert len(lines) == 1 + len(registry.lookup(443))
    assert lines[1].split()[:4] == ["443", "tcp", "https", "system"]
    # aligned: every row's SERVICE column starts where the header's does
    col = lines[0].index("SERVICE")
    assert all(line[col - 2:col] == "  " and line[col] != " " for line in lines[1:])


def test_port_as_json_has_exactly_the_documented_keys():
    res = lookup("443", "--protocol", "tcp", "--format", "json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data and all(set(item) == {"port", "protocol", "service", "description", "range"} for item in data)
    assert data[0] == {"port": 443, "protocol": "tcp", "service": "https",
                       "description": registry.lookup(443, "tcp")[0].description, "range": "system"}
    assert all(item["protocol"] == "tcp" for item in data)


def test_name_lookup_is_case_insensitive():
    res = lookup("PostgreSQL", "--format", "json")
    assert res.returncode == 0, res.stderr
    assert {(i["port"], i["protocol"], i["range"]) for i in json.loads(res.stdout)} == {
        (5432, "tcp", "user"), (5432, "udp", "user")}


def test_range_rows_give_the_port_as_a_lo_hi_string():
    data = json.loads(lookup("6000", "-P", "tcp", "-f", "json").stdout)
    x11 = next(item for item in data if item["service"] == "x11")
    assert x11["port"] == "6000-6063"


def test_range_query_and_unassigned_rows():
    data = json.loads(lookup("80-90", "-f", "json").stdout)
    assert {item["port"] for item in data if isinstance(item["port"], int)} >= {80, 81, 88, 90}
    assert any(item["service"] is None for item in data)


@pytest.mark.parametrize("query, fragment", [("70000", "out of range"), ("-1", "out of range"),
                                             ("abc!", "not a port, a range or a service name"),
                                             ("", "empty"), ("90-80", "backwards")])
def test_bad_input_exits_2_with_one_line(query, fragment):
    res = lookup(query)
    assert res.returncode == 2
    assert res.stdout == ""
    assert res.stderr.count("\n") == 1 and fragment in res.stderr
    assert "Traceback" not in res.stderr


def test_bad_protocol_exits_2():
    res = lookup("22", "--protocol", "icmp")
    assert res.returncode == 2 and res.stderr.count("\n") == 1


@pytest.mark.parametrize("query, fragment", [("no-such-service", "no entries"), ("50000", "dynamic range")])
def test_no_match_exits_1_like_grep(query, fragment):
    res = lookup(query)
    assert res.returncode == 1
    assert res.stdout == "" and fragment in res.stderr and res.stderr.count("\n") == 1


def test_help_documents_exit_status_and_json_keys():
    res = lookup("--help")
    assert res.returncode == 0
    assert "exit status" in res.stdout and '"lo-hi"' in res.stdout


def test_open_ended_range_reads_as_the_scan_reads_it():
    # `portlab scan -p 49000-` scans 49000-65535; lookup takes the same text the same way.
    from portlab.portspec import parse_ports

    res = lookup("49000-", "-f", "json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    ports = parse_ports("49000-")
    assert (ports[0], ports[-1]) == (49000, 65535)
    assert rows and len(rows) == len(registry.in_range(49000, 65535))
    assert lookup("22-", "-f", "json").returncode == 0
    empty = lookup("65530-")
    assert empty.returncode == 1 and "65530-65535" in empty.stderr and "dynamic range" in empty.stderr
    bad = lookup("70000-")
    assert bad.returncode == 2 and "out of range" in bad.stderr


def test_a_name_only_row_is_labelled_and_explained():
    # IANA registers some names with no port (ssh has one such row): say so, not "-".
    res = lookup("ssh")
    assert res.returncode == 0, res.stderr
    rows = [line.split() for line in res.stdout.splitlines()]
    assert ["name", "only", "tcp", "ssh"] == rows[4][:4]
    assert "note: 'name only' rows register a service name without a port" in res.stdout
    assert "note:" not in lookup("443").stdout
