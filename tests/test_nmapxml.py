"""nmap -oX XML: real nmap 7.93 files in, nmap-style XML out, hostile files refused.

The files in tests/data were written by nmap 7.93 scanning 127.0.0.1 / ::1 with
listeners on tcp 22, 80, 443, 631, 1234 and udp 53, 123 (see tests/data/README.md).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import xml.etree.ElementTree as ET
from contextlib import ExitStack
from datetime import datetime, timezone
from pathlib import Path

import pytest

from portlab.errors import BadInput
from portlab.formats import load
from portlab.formats.nmapxml import loads, parse_safely
from portlab.results import HostResult, PortResult, ScanResult
from portlab.states import PortState, ScanType

DATA = Path(__file__).parent / "data"
LISTENING_TCP = [22, 80, 443, 631, 1234]


def test_connect_scan_with_folded_closed_ports_is_complete():
    result = load(DATA / "nmap-loopback-sT.xml")
    assert result.scan_type is ScanType.CONNECT and result.transport == "nmap"
    assert result.started == datetime.fromtimestamp(1795666840, tz=timezone.utc)
    assert result.elapsed_s == 0.08
    host = result.hosts[0]
    assert (host.address, host.name) == ("127.0.0.1", "localhost")
    # nmap: "Not shown: 1995 closed tcp ports (conn-refused)" + 5 open = the 2000 scanned.
    assert result.counts() == {"open": 5, "closed": 1995}
    assert [p.port for p in host.ports] == list(range(1, 2001))  # expanded from extrareasons ports=
    assert host.extraports == []
    assert result.open_ports() == LISTENING_TCP
    assert host.port(22) == PortResult(22, "tcp", PortState.OPEN, "syn-ack", "ssh")
    assert host.port(21) == PortResult(21, "tcp", PortState.CLOSED, "conn-refused", None)


def test_reason_flag_changes_nothing_in_the_result():
    plain, reason = load(DATA / "nmap-loopback-sT.xml"), load(DATA / "nmap-loopback-sT-reason.xml")
    assert plain.hosts == reason.hosts


def test_syn_scan_maps_to_syn_and_reset():
    result = load(DATA / "nmap-loopback-sS-reason.xml")
    assert result.scan_type is ScanType.SYN
    assert result.counts() == {"open": 4, "closed": 1096}
    assert {p.reason for _, p in result.ports("closed")} == {"reset"}


def test_udp_scan():
    result = load(DATA / "nmap-loopback-sU.xml")
    assert result.scan_type is ScanType.UDP
    states = {p.port: (str(p.state), p.reason, p.service) for _, p in result.ports()}
    assert states == {53: ("open", "udp-response", "domain"), 123: ("open", "udp-response", "ntp"),
                      161: ("closed", "port-unreach", "snmp"), 5353: ("closed", "port-unreach", "zeroconf")}


def test_ipv6_scan_with_every_port_listed():
    result = load(DATA / "nmap-loopback6-sT.xml")
    assert result.hosts[0].address == "::1" and result.hosts[0].name is None
    assert result.counts() == {"closed": 11}
    assert "ipv6" in result.to_xml()


# -- writing -------------------------------------------------------------------------

def test_written_xml_follows_nmaps_layout():
    result = load(DATA / "nmap-loopback-sT.xml")
    root = ET.fromstring(result.to_xml())
    assert root.tag == "nmaprun"
    assert root.get("scanner") == "portlab" and root.get("xmloutputversion") == "1.05"
    assert root.get("start") == "1795666840"
    info = root.find("scaninfo")
    assert (info.get("type"), info.get("protocol"), info.get("numservices"), info.get("services")) == \
        ("connect", "tcp", "2000", "1-2000")
    host = root.find("host")
    assert host.find("status").get("state") == "up"
    assert host.find("address").attrib == {"addr": "127.0.0.1", "addrtype": "ipv4"}
    extra = host.find("ports/extraports")
    assert (extra.get("state"), extra.get("count")) == ("closed", "1995")
    reasons = extra.find("extrareasons")
    assert reasons.get("ports") == "1-21,23-79,81-442,444-630,632-1233,1235-2000"
    listed = host.findall("ports/port")
    assert [p.get("portid") for p in listed] == [str(p) for p in LISTENING_TCP]
    assert listed[0].find("state").attrib == {"state": "open", "reason": "syn-ack", "reason_ttl": "0"}
    assert listed[0].find("service").get("name") == "ssh"
    assert root.find("runstats/finished").get("elapsed") == "0.08"
    assert root.find("runstats/hosts").attrib == {"up": "1", "down": "0", "total": "1"}


def test_written_xml_reads_back_with_every_state_and_reason():
    original = load(DATA / "nmap-loopback-sT.xml")
    again = loads(original.to_xml())
    assert again.scan_type is original.scan_type and again.started == original.started
    assert again.hosts == original.hosts


def test_unfolded_ports_keep_their_services_and_folded_ones_lose_them():
    ports = [PortResult(p, "tcp", PortState.CLOSED, "reset", f"svc{p}") for p in range(1, 31)]
    ports.append(PortResult(443, "tcp", PortState.OPEN, "syn-ack", "https"))
    result = ScanResult(ScanType.SYN, "raw", datetime(2026, 1, 1, tzinfo=timezone.utc), 1.0,
                        [HostResult("10.77.0.2", "web", ports)])
    again = loads(result.to_xml())
    assert again.counts() == result.counts()
    assert again.hosts[0].port(443).service == "https"
    assert again.hosts[0].port(1).service is None  # folded: JSON is the lossless format
    assert [(p.port, p.state, p.reason) for p in again.hosts[0].ports] == \
        [(p.port, p.state, p.reason) for p in ports]


# -- older nmap: counts without port numbers ---------------------------------------------

OLD_STYLE = """<?xml version="1.0"?>
<nmaprun scanner="nmap" args="nmap -sS 10.0.0.1" start="1700000000" version="7.40" xmloutputversion="1.04">
<scaninfo type="syn" protocol="tcp" numservices="40" services="1-40"/>
<host><status state="up" reason="echo-reply"/><address addr="10.0.0.1" addrtype="ipv4"/>
<address addr="00:11:22:33:44:55" addrtype="mac"/>
<ports>{folds}
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/></port>
</ports></host>
<host><status state="down" reason="no-response"/><address addr="10.0.0.2" addrtype="ipv4"/></host>
<runstats><finished time="1700000003" elapsed="3.50"/><hosts up="1" down="1" total="2"/></runstats>
</nmaprun>"""


def test_old_nmap_fold_is_worked_out_from_scaninfo():
    folds = '<extraports state="closed" count="39"><extrareasons reason="resets" count="39"/></extraports>'
    result = loads(OLD_STYLE.format(folds=folds))
    assert len(result.hosts) == 1  # the host that was down has no ports to show
    host = result.hosts[0]
    assert host.extraports == []
    assert [p.port for p in host.ports] == list(range(1, 41))
    assert host.port(40).state is PortState.CLOSED and host.port(40).reason == "resets"
    assert result.elapsed_s == 3.5


def test_old_nmap_fold_that_is_ambiguous_stays_a_count():
    folds = ('<extraports state="closed" count="30"><extrareasons reason="resets" count="30"/></extraports>'
             '<extraports state="filtered" count="9"><extrareasons reason="no-responses" count="9"/></extraports>')
    result = loads(OLD_STYLE.format(folds=folds))
    host = result.hosts[0]
    assert [p.port for p in host.ports] == [22]
    assert [(e.state, e.count, e.reasons) for e in host.extraports] == \
        [(PortState.CLOSED, 30, {"resets": 30}), (PortState.FILTERED, 9, {"no-responses": 9})]
    assert result.counts() == {"open": 1, "closed": 30, "filtered": 9}
    assert ScanResult.from_json(result.to_json()) == result  # JSON keeps the counts


# -- hostile and broken files ----------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE nmaprun [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<nmaprun scanner="&lol9;"><scaninfo type="connect" protocol="tcp" services="1"/></nmaprun>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE nmaprun [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<nmaprun scanner="&secret;"><scaninfo type="connect" protocol="tcp" services="1"/></nmaprun>"""


def test_billion_laughs_is_refused():
    with pytest.raises(BadInput, match=r"^evil.xml: unsafe XML: the file declares the entity 'lol'"):
        loads(BILLION_LAUGHS, where="evil.xml")


def test_external_entity_is_refused_not_fetched():
    with pytest.raises(BadInput, match=r"unsafe XML: the file declares the entity 'secret'"):
        loads(EXTERNAL_ENTITY)


def test_an_external_dtd_is_never_fetched():
    # expat reads no files itself; with parameter-entity parsing off it never asks for the DTD.
    root = parse_safely('<!DOCTYPE nmaprun SYSTEM "file:///nonexistent/nmap.dtd"><nmaprun/>', "x")
    assert root.tag == "nmaprun"


def test_nmaps_own_doctype_line_is_fine():
    root = parse_safely('<?xml version="1.0"?>\n<!DOCTYPE nmaprun>\n<nmaprun/>', "x")
    assert root.tag == "nmaprun"


def test_truncated_real_file():
    text = (DATA / "nmap-loopback-sT.xml").read_text()
    with pytest.raises(BadInput, match=r"^cut.xml: truncated XML at line \d+"):
        loads(text[: len(text) // 2], where="cut.xml")


@pytest.mark.parametrize("text, message", [
    ("<nmaprun><scaninfo", "malformed XML|truncated XML"),
    ("<nmaprun></nmap>", "malformed XML at line 1"),
    ("<html><body/></html>", r"not an nmap -oX file \(the root element is <html>, expected <nmaprun>\)"),
    ('<nmaprun start="1"/>', "has no <scaninfo>"),
    ('<nmaprun start="1"><scaninfo type="ack" protocol="tcp" services="1"/></nmaprun>',
     "nmap scan type 'ack' is not one portlab models; expected one of connect, syn, udp"),
    ('<nmaprun><scaninfo type="syn" protocol="tcp" services="1"/></nmaprun>', r"<nmaprun start=...> is missing"),
    ('<nmaprun start="1"><scaninfo type="syn" protocol="tcp" services="1"/><host><address addr="10.0.0.1" '
     'addrtype="ipv4"/><ports><port protocol="tcp" portid="1"><state state="ajar"/></port></ports></host></nmaprun>',
     "host 10.0.0.1: port 1 state is 'ajar', expected one of open"),
])
def test_broken_files_give_one_clear_line(text, message):
    with pytest.raises(BadInput, match=message) as caught:
        loads(text, where="f.xml")
    assert str(caught.value).startswith("f.xml: ") and "\n" not in str(caught.value)


# -- a live nmap run against loopback ----------------------------------------------------------

@pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")
def test_live_nmap_connect_scan_of_loopback_reads_back_exactly():
    """nmap scans ports this test holds on 127.0.0.1: 3 listening, 30 bound but not listening."""
    with ExitStack() as stack:
        def bound(listen: bool) -> int:
            sock = stack.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            if listen:
                sock.listen(8)
            return sock.getsockname()[1]

        listening = sorted(bound(True) for _ in range(3))
        closed = sorted(bound(False) for _ in range(30))  # bound, not listening: connect() is refused
        ports = ",".join(map(str, listening + closed))
        run = subprocess.run(["nmap", "-sT", "-n", "-Pn", "-p", ports, "-oX", "-", "127.0.0.1"],
                             capture_output=True, text=True, timeout=60, check=True)
    result = loads(run.stdout, where="nmap stdout")
    assert "<extraports" in run.stdout  # 30 closed > 25: nmap folded them
    assert result.open_ports() == listening
    assert sorted(p.port for _, p in result.ports("closed")) == closed
    assert {p.reason for _, p in result.ports("closed")} == {"conn-refused"}


# -- validity against nmap's own DTD ----------------------------------------------------------

NMAP_DTD = Path("/usr/share/nmap/nmap.dtd")


@pytest.mark.skipif(shutil.which("xmllint") is None or not NMAP_DTD.exists(),
                    reason="needs xmllint (libxml2-utils) and nmap's nmap.dtd")
@pytest.mark.parametrize("source", ["folded", "nmap-loopback-sU.xml", "nmap-loopback6-sT.xml"])
def test_written_xml_is_valid_under_nmaps_dtd_but_for_the_scanner_name(tmp_path, source):
    if source == "folded":
        ports = [PortResult(p, "tcp", PortState.FILTERED, "no-response") for p in range(1, 40)]
        ports += [PortResult(80, "tcp", PortState.OPEN, "syn-ack", "http")]
        hosts = [HostResult("10.77.0.2", "web", ports), HostResult("fd00::2", None, ports[-1:])]
        result = ScanResult(ScanType.SYN, "raw", datetime(2026, 1, 1, tzinfo=timezone.utc), 3.0, hosts)
    else:
        result = load(DATA / source)
    # nmap's DTD enumerates scanner="nmap" only; portlab names itself, which is the one
    # deliberate difference.  Everything else must validate.
    text = result.to_xml()
    assert text.count('scanner="portlab"') == 1
    path = tmp_path / "out.xml"
    path.write_text(text.replace('scanner="portlab"', 'scanner="nmap"'))
    check = subprocess.run(["xmllint", "--noout", "--dtdvalid", str(NMAP_DTD), str(path)],
                           capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stderr
