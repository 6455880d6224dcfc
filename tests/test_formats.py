"""CSV, the nmap-style table (nmap's folding rule), render/save/load helpers, port lists."""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portlab.errors import BadInput
from portlab.formats import detect, loads, render
from portlab.formats.portlist import compress, expand
from portlab.formats.table import MAX_SHOWN_PER_STATE, folded_states
from portlab.results import ExtraPorts, HostResult, PortResult, ScanResult
from portlab.states import PortState, ScanType

START = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)


def host_with(closed: int, filtered: int = 0, open_ports=(22, 80), name="web") -> HostResult:
    ports = [PortResult(p, "tcp", PortState.OPEN, "syn-ack", {22: "ssh", 80: "http"}.get(p)) for p in open_ports]
    ports += [PortResult(1000 + i, "tcp", PortState.CLOSED, "conn-refused") for i in range(closed)]
    ports += [PortResult(5000 + i, "tcp", PortState.FILTERED, "no-response" if i % 3 else "host-unreach")
              for i in range(filtered)]
    return HostResult("10.77.0.2", name, ports)


def result_of(*hosts: HostResult, elapsed=1.234) -> ScanResult:
    return ScanResult(ScanType.CONNECT, "connect", START, elapsed, list(hosts))


# -- CSV ---------------------------------------------------------------------------

def test_csv_header_and_rows_read_back_with_pandas():
    result = result_of(host_with(3), HostResult("::1", None, [PortResult(53, "udp", PortState.OPEN_FILTERED,
                                                                          "no-response", "domain")]))
    text = result.to_csv()
    assert text.splitlines()[0] == "address,name,port,protocol,state,reason,service"
    frame = pd.read_csv(io.StringIO(text))
    assert len(frame) == 6
    assert list(frame["port"]) == [22, 80, 1000, 1001, 1002, 53]
    last = frame.iloc[-1]
    assert (last["address"], last["state"], last["reason"]) == ("::1", "open|filtered", "no-response")
    assert pd.isna(last["name"])  # no name is an empty cell, not "None"


def test_csv_quotes_what_needs_quoting():
    result = result_of(HostResult("10.0.0.1", 'odd, "name"', [PortResult(1, "tcp", PortState.OPEN, "syn-ack")]))
    frame = pd.read_csv(io.StringIO(result.to_csv()))
    assert frame.loc[0, "name"] == 'odd, "name"'


# -- the table ---------------------------------------------------------------------

def test_table_folds_a_state_with_more_than_25_ports_like_nmap():
    text = result_of(host_with(MAX_SHOWN_PER_STATE + 1)).table()
    lines = text.splitlines()
    assert lines[0] == ("portlab 0.1.0: TCP connect scan, live, with the operating system's connect(); "
                        "started 2026-03-04T05:06:07Z")
    assert "portlab scan report for web (10.77.0.2)" in lines
    assert "Not shown: 26 closed tcp ports (conn-refused)" in lines
    header = lines.index("PORT   STATE SERVICE REASON")
    assert lines[header + 1:header + 3] == ["22/tcp open  ssh     syn-ack", "80/tcp open  http    syn-ack"]
    assert lines[-1] == "portlab done: 1 IP address (1 host up) scanned in 1.23 seconds"


def test_table_shows_25_ports_of_a_state():
    text = result_of(host_with(MAX_SHOWN_PER_STATE)).table()
    assert "Not shown" not in text
    assert text.count("conn-refused") == 25


def test_table_folds_several_states_and_lists_mixed_reasons():
    host = host_with(40, filtered=30)
    assert folded_states(host) == {"closed", "filtered"}
    text = result_of(host).table()
    assert "Not shown: 40 closed tcp ports (conn-refused), 30 filtered tcp ports (20 no-response, 10 host-unreach)" in text


def test_open_ports_are_never_folded():
    host = host_with(0, open_ports=range(1, 101))
    assert folded_states(host) == set()
    assert len(re.findall(r"^\d+/tcp +open ", result_of(host).table(), re.M)) == 100


def test_show_all_lists_every_port():
    text = result_of(host_with(100)).table(show_all=True)
    assert "Not shown" not in text
    assert text.count("/tcp ") == 102


def test_table_when_every_port_is_folded_says_so():
    host = host_with(30, open_ports=())
    text = result_of(host).table()
    assert "All 30 scanned ports on web (10.77.0.2) are in ignored states." in text
    assert "PORT" not in text


def test_table_counts_extraports_nmap_gave_only_as_counts():
    host = HostResult("127.0.0.1", None, [PortResult(22, "tcp", PortState.OPEN, "syn-ack", "ssh")],
                      extraports=[ExtraPorts(PortState.CLOSED, 999, {"reset": 999})])
    lines = result_of(host).table().splitlines()
    assert "portlab scan report for 127.0.0.1" in lines
    assert "Not shown: 999 closed tcp ports (reset)" in lines
    assert "22/tcp open  ssh     syn-ack" in lines


def test_table_unknown_service_and_several_hosts():
    one = HostResult("10.0.0.1", None, [PortResult(31337, "tcp", PortState.OPEN, "syn-ack", None)])
    two = HostResult("10.0.0.2", None, [PortResult(53, "udp", PortState.CLOSED, "port-unreach", "domain")])
    text = result_of(one, two, elapsed=0.5).table()
    assert "31337/tcp open  unknown syn-ack" in text
    assert "53/udp closed domain  port-unreach" in text
    assert text.endswith("portlab done: 2 IP addresses (2 hosts up) scanned in 0.50 seconds")


# -- render / detect / loads -------------------------------------------------------

def test_render_each_format_and_refuse_others():
    result = result_of(host_with(2))
    assert render(result, "json").endswith("}\n")
    assert render(result, "csv").startswith("address,")
    assert render(result, "xml").startswith("<?xml")
    assert render(result, "table").startswith("portlab 0.1.0")
    with pytest.raises(BadInput, match="output format 'yaml': expected one of table, json, csv, xml"):
        render(result, "yaml")


def test_detect_by_first_character():
    assert detect('\ufeff  \n{"portlab": 1}') == "json"
    assert detect("<?xml version='1.0'?><nmaprun/>") == "xml"
    with pytest.raises(ValueError, match="empty"):
        detect("  \n")
    with pytest.raises(ValueError, match="neither portlab JSON"):
        detect("PORT STATE SERVICE")


def test_loads_reads_both_kinds():
    result = result_of(host_with(2))
    assert loads(result.to_json()) == result
    assert loads(result.to_xml()).counts() == result.counts()
    with pytest.raises(BadInput, match="^memo: neither"):
        loads("hello", where="memo")


# -- nmap port lists ---------------------------------------------------------------

def test_port_lists_both_ways():
    assert compress([5, 3, 1, 2, 3, 65535]) == "1-3,5,65535"
    assert compress([]) == ""
    assert expand("1-3,5,65535") == [1, 2, 3, 5, 65535]
    assert expand("T:22,U:53") == [22, 53]
    ports = [1, 2, 3, 7, 9, 10, 11, 4000]
    assert expand(compress(ports)) == ports


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 65535), max_size=60), st.lists(st.integers(0, 200), max_size=60))
def test_port_lists_round_trip_with_runs_and_duplicates(scattered, dense):
    ports = scattered + dense          # dense: many runs of neighbours, and repeats
    text = compress(ports)
    assert expand(text) == sorted(set(ports))
    # Each piece is a maximal run: no two pieces could have been joined.
    pieces = [expand(piece) for piece in text.split(",")] if text else []
    assert all(b[0] > a[-1] + 1 for a, b in zip(pieces, pieces[1:]))


@pytest.mark.parametrize("bad", ["1-x", "9-3", "70000", "a"])
def test_bad_port_lists_are_refused(bad):
    with pytest.raises(ValueError, match="port list piece"):
        expand(bad)
