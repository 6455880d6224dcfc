"""ScanResult's own API: looking inside, JSON (lossless round trip), DataFrame, save/load."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from portlab.errors import BadInput
from portlab.results import ExtraPorts, HostResult, PortResult, ScanResult, load
from portlab.states import PortState, ScanType
from portlab.transports.base import TraceEvent

DESIGN_EXAMPLE = """{"portlab": "0.1.0", "scan_type": "syn", "transport": "raw", "started": "2026-01-01T00:00:00Z",
 "elapsed_s": 1.42,
 "hosts": [{"address": "10.77.0.2", "name": null,
            "ports": [{"port": 22, "protocol": "tcp", "state": "open", "reason": "syn-ack", "service": "ssh"}]}]}"""


def sample() -> ScanResult:
    """A result using every field the formats must carry."""
    trace = (TraceEvent(0.0, "sent", "SYN 127.0.0.1:40312 > 127.0.0.1:22"),
             TraceEvent(0.000125, "recv", "SYN/ACK 127.0.0.1:22 > 127.0.0.1:40312"))
    web = HostResult("10.77.0.2", "web", [
        PortResult(22, "tcp", PortState.OPEN, "syn-ack", "ssh", tries=1, rtt=0.000125, trace=trace),
        PortResult(23, "tcp", PortState.CLOSED, "reset", "telnet"),
        PortResult(9000, "tcp", PortState.FILTERED, "no-response", None, tries=3),
        PortResult(8082, "tcp", PortState.FILTERED, "admin-prohibited", "us-cli", rtt=0.5),
    ])
    old = HostResult("fd00::5", None, [PortResult(80, "tcp", PortState.OPEN, "syn-ack", "http")],
                     extraports=[ExtraPorts(PortState.CLOSED, 995, {"reset": 995})])
    return ScanResult(ScanType.SYN, "raw", datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc), 12.5,
                      [web, old], probes_sent=1003, retries=2)


def test_json_round_trip_is_lossless():
    result = sample()
    assert ScanResult.from_json(result.to_json()) == result
    assert ScanResult.from_json(result.to_json(indent=2)) == result
    assert ScanResult.from_json(json.loads(result.to_json())) == result  # a dict works too


def test_json_has_designs_keys_and_extras_only_when_present():
    doc = json.loads(sample().to_json())
    assert list(doc)[:5] == ["portlab", "scan_type", "transport", "started", "elapsed_s"]
    assert doc["started"] == "2026-01-02T03:04:05.678901Z"
    assert doc["probes_sent"] == 1003 and doc["retries"] == 2
    ports = doc["hosts"][0]["ports"]
    assert ports[0]["trace"][1] == {"t": 0.000125, "direction": "recv",
                                    "summary": "SYN/ACK 127.0.0.1:22 > 127.0.0.1:40312"}
    assert ports[1] == {"port": 23, "protocol": "tcp", "state": "closed", "reason": "reset", "service": "telnet"}
    assert ports[2]["tries"] == 3 and "rtt" not in ports[2]
    assert "extraports" not in doc["hosts"][0]
    assert doc["hosts"][1]["extraports"] == [{"state": "closed", "count": 995, "protocol": "tcp",
                                              "reasons": {"reset": 995}}]


def test_whole_seconds_are_written_without_a_fraction():
    result = ScanResult(ScanType.CONNECT, "connect", datetime(2026, 1, 1, tzinfo=timezone.utc), 0.0)
    assert json.loads(result.to_json())["started"] == "2026-01-01T00:00:00Z"


def test_designs_example_reads():
    result = ScanResult.from_json(DESIGN_EXAMPLE)
    assert result.scan_type is ScanType.SYN and result.transport == "raw"
    assert result.started == datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert result.hosts[0].ports == [PortResult(22, "tcp", PortState.OPEN, "syn-ack", "ssh")]
    assert ScanResult.from_json(result.to_json()) == result


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("hosts"), "hosts: missing (expected a list of hosts)"),
    (lambda d: d.update(scan_type="ack"), "scan_type: expected one of connect, syn, udp, got \"ack\""),
    (lambda d: d.update(started="yesterday"), "started: expected an ISO 8601 time"),
    (lambda d: d["hosts"][0]["ports"][0].update(state="half-open"), "hosts[0].ports[0].state: expected one of open"),
    (lambda d: d["hosts"][0]["ports"][0].update(port=70000), "hosts[0].ports[0].port: expected a port number 0-65535, got 70000"),
    (lambda d: d["hosts"][0]["ports"][0].update(port=True), "hosts[0].ports[0].port: expected a port number"),
    (lambda d: d["hosts"][0]["ports"][0].pop("reason"), "hosts[0].ports[0].reason: missing"),
    (lambda d: d["hosts"][0].update(address=7), "hosts[0].address: expected an address, got 7"),
    (lambda d: d.pop("portlab"), "not a portlab result"),
])
def test_bad_json_names_the_key(mutate, message):
    doc = json.loads(DESIGN_EXAMPLE)
    mutate(doc)
    with pytest.raises(BadInput) as caught:
        ScanResult.from_json(json.dumps(doc), where="rec.json")
    text = str(caught.value)
    assert text.startswith("rec.json: ") and message in text and "\n" not in text


def test_broken_json_says_where():
    with pytest.raises(BadInput, match=r"x.json: not valid JSON \(line 2, column 1"):
        ScanResult.from_json('{"portlab":\n', where="x.json")


def test_ports_counts_open_ports_and_host():
    result = sample()
    assert [(h.address, p.port) for h, p in result.ports("filtered")] == [("10.77.0.2", 9000), ("10.77.0.2", 8082)]
    assert len(list(result.ports())) == 5
    # Count-only extraports count; the order is nmap's state order.
    assert result.counts() == {"open": 2, "closed": 996, "filtered": 2}
    assert list(result.counts()) == ["open", "closed", "filtered"]
    assert result.open_ports() == [22, 80]
    assert result.open_ports("web") == [22] and result.open_ports("fd00::5") == [80]
    assert result.host("10.77.0.2").port(8082).reason == "admin-prohibited"
    assert result.host("10.77.0.2").port(8082, "udp") is None
    with pytest.raises(KeyError, match="no host '10.0.0.9'"):
        result.host("10.0.0.9")


def test_repr_is_short_and_says_what_matters():
    text = repr(sample())
    assert text == "<ScanResult syn via raw: 2 host(s), 2 open, 996 closed, 2 filtered, 12.50s>"


def test_jupyter_shows_the_table():
    shown = sample()._repr_html_()
    assert shown.startswith("<pre>portlab 0.1.0: TCP SYN scan, live, with hand-built packets") and shown.endswith("</pre>")
    assert "9000/tcp filtered unknown no-response" in shown


def test_dataframe_one_row_per_port_with_ordered_states():
    frame = sample().to_dataframe()
    assert list(frame.columns) == ["address", "name", "port", "protocol", "state", "reason", "service", "tries", "rtt"]
    assert len(frame) == 5
    assert frame["state"].cat.ordered
    assert list(frame["state"].cat.categories) == ["open", "closed", "filtered", "unfiltered",
                                                   "open|filtered", "closed|filtered"]
    assert list(frame.sort_values("state")["port"])[:2] == [22, 80]  # open sorts first, not alphabetically
    assert frame.loc[frame.port == 9000, "tries"].item() == 3
    assert frame["rtt"].isna().sum() == 3
    assert str(frame["port"].dtype) == "int64"


def test_empty_result_still_makes_a_frame_and_json():
    result = ScanResult(ScanType.UDP, "sim", datetime(2026, 1, 1, tzinfo=timezone.utc), 0.0)
    assert len(result.to_dataframe()) == 0
    assert ScanResult.from_json(result.to_json()) == result
    assert result.counts() == {}


@pytest.mark.parametrize("suffix", [".json", ".xml", ".csv", ".txt"])
def test_save_picks_the_format_from_the_extension(tmp_path, suffix):
    path = sample().save(tmp_path / f"scan{suffix}")
    text = path.read_text()
    first = {".json": "{", ".xml": "<?xml", ".csv": "address,name,port", ".txt": "portlab 0.1.0: TCP SYN scan"}
    assert text.startswith(first[suffix])


def test_save_and_load_json_and_xml(tmp_path):
    result = sample()
    loaded = load(result.save(tmp_path / "scan.json"))
    assert loaded.source == str(tmp_path / "scan.json")
    loaded.source = None
    assert loaded == result
    from_xml = load(result.save(tmp_path / "scan.xml"))
    assert from_xml.transport == "nmap" and from_xml.counts() == result.counts()


def test_load_goes_by_content_not_name(tmp_path):
    path = tmp_path / "scan.txt"
    sample().save(path, format="json")
    assert load(path).hosts[0].name == "web"


def test_save_refuses_an_unknown_extension(tmp_path):
    with pytest.raises(BadInput, match=r"scan\.pdf: cannot tell the format from the extension '\.pdf'"):
        sample().save(tmp_path / "scan.pdf")
    assert not (tmp_path / "scan.pdf").exists()


def test_plain_strings_and_naive_times_are_accepted_where_enums_are_expected():
    result = ScanResult("udp", "sim", datetime(2026, 1, 1, 12, 0, 0), 1.0,
                        [HostResult("10.0.0.1", None, [PortResult(53, "udp", "open|filtered", "no-response")])])
    assert repr(result).startswith("<ScanResult udp via sim")
    assert json.loads(result.to_json())["started"] == "2026-01-01T12:00:00Z"  # naive means UTC
    assert 'start="1767268800"' in result.to_xml()
    assert "53/udp open|filtered unknown no-response" in result.table()
    again = ScanResult.from_json(result.to_json())
    assert again.started == datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)  # read back aware
    assert again.hosts == result.hosts  # "open|filtered" == PortState.OPEN_FILTERED
