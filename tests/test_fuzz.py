"""Fuzzing, bounded in time: every input ends in a result or a portlab error with one
clear line, never a traceback, a hang or a partial file.

Each target gets a fixed budget of examples (``FUZZ_EXAMPLES``, default 300) and
hypothesis's deadline, with a derandomized seed so CI is repeatable; run with a
larger ``PORTLAB_FUZZ_EXAMPLES`` to search longer.  The scanner parts fuzzed here
never send a packet: targets are parsed and judged by the scope guard, scans run
on the simulator.
"""

from __future__ import annotations

import json
import os
import socket
import string
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from portlab import engine, formats, scenario as scenario_mod  # noqa: E402
from portlab.errors import PortlabError  # noqa: E402
from portlab.portspec import parse_ports  # noqa: E402
from portlab.targets import parse_targets  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
FUZZ_EXAMPLES = int(os.environ.get("PORTLAB_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def one_line(err: Exception) -> None:
    text = str(err)
    assert text and "\n" not in text.strip() and "Traceback" not in text, repr(text)


# ---- port specs -----------------------------------------------------------------------

PORT_ALPHABET = string.digits + ",-*?:/ abcdeghilmnopqrstuwxyzT" + "\t"
port_tokens = st.one_of(
    st.integers(-5, 70000).map(str),
    st.tuples(st.integers(-5, 70000), st.integers(-5, 70000)).map(lambda t: f"{t[0]}-{t[1]}"),
    st.sampled_from(["-", "top10", "top0", "top70000", "http", "ssh", "ht*", "*", "?", "x?z", "T:80", "U:53",
                     "22-", "-22", "", " ", "1--2", "0", "65535", "65536"]),
    st.text(PORT_ALPHABET, max_size=12),
)


@FUZZ
@given(st.lists(port_tokens, min_size=1, max_size=5).map(",".join))
def test_port_specs_parse_or_refuse_in_one_line(spec):
    try:
        ports = parse_ports(spec)
    except PortlabError as err:
        one_line(err)
        assert err.exit_code == 2
    else:
        assert ports and all(0 <= p <= 65535 for p in ports)
        assert list(ports) == sorted(set(ports)) or len(set(ports)) == len(ports)


# ---- target specs ---------------------------------------------------------------------

def _no_dns(name):
    # Fuzzed names must not reach a real resolver: every name is "unknown" here.
    from portlab.errors import BadInput
    raise BadInput(f"target {name!r}: cannot resolve the hostname (fuzzing resolves nothing)")


octet = st.integers(-3, 300).map(str)
target_tokens = st.one_of(
    st.tuples(octet, octet, octet, octet).map(".".join),
    st.tuples(octet, octet, octet, octet, st.integers(-1, 40)).map(lambda t: ".".join(t[:4]) + f"/{t[4]}"),
    st.sampled_from(["127.0.0.1", "::1", "::ffff:8.8.8.8", "10.0.0.1-300", "10.0.0-2.1-3", "[::1]",
                     "0x7f.1", "127.1", "localhost.", "a" * 70, "-", "1.2.3.4/0", "fe80::1%lo"]),
    st.text(string.ascii_letters + string.digits + ".-:/[]%_ ", max_size=30),
)


@FUZZ
@given(st.lists(target_tokens, min_size=1, max_size=4))
def test_target_specs_parse_or_refuse_in_one_line(tokens):
    try:
        targets = parse_targets(tokens, resolve=_no_dns)
    except PortlabError as err:
        one_line(err)
    else:
        assert 0 < len(targets) <= 65536 * len(tokens)


_real_getaddrinfo = socket.getaddrinfo


def _numeric_only(host, *args, **kw):
    # A fuzzed name must never become a DNS query: numeric forms only (no lookup).
    return _real_getaddrinfo(host, *args[:3], flags=socket.AI_NUMERICHOST)


@FUZZ
@given(st.lists(target_tokens, min_size=1, max_size=3), st.sampled_from(["connect", "syn", "udp"]))
def test_scans_of_fuzzed_targets_refuse_or_stay_in_the_scenario(tokens, scan_type):
    # On the simulator (nothing is ever sent); anything outside the scenario is refused.
    with mock.patch.object(socket, "getaddrinfo", _numeric_only):
        try:
            result = engine.scan(tokens, "80", scan_type, scenario="single-host")
        except PortlabError as err:
            one_line(err)
            assert err.exit_code in (2, 3)
        else:
            assert all(h.address.startswith("10.77.0.") or h.address.startswith("127.") or h.address == "::1"
                       for h in result.hosts)


# ---- scenario files -------------------------------------------------------------------

SHIPPED_TEXT = {name: path.read_text() for name, path in scenario_mod.shipped().items()}


@st.composite
def mutated_scenarios(draw):
    text = draw(st.sampled_from(sorted(SHIPPED_TEXT.values())))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "truncate", "replace-value", "insert-junk"]))
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "truncate":
            lines[i] = lines[i][:draw(st.integers(0, max(0, len(lines[i]) - 1)))]
        elif how == "replace-value" and "=" in lines[i]:
            key = lines[i].split("=", 1)[0]
            value = draw(st.sampled_from(['"x"', "70000", "-1", "[]", "{}", "true", '"10.77.0.0/33"',
                                          '"8.8.8.8"', '"reject"', '"drop"', "[1, 2, 70000]", '""']))
            lines[i] = f"{key}= {value}"
        else:
            lines.insert(i, draw(st.text(string.printable, max_size=20)))
    return "\n".join(lines) + "\n"


@FUZZ
@given(mutated_scenarios())
def test_scenario_files_load_or_refuse_naming_file_and_key(text):
    try:
        s = scenario_mod.loads(text, "fuzz.toml")
    except PortlabError as err:
        one_line(err)
        assert str(err).startswith("fuzz.toml"), str(err)
    else:
        # What loads round-trips and simulates.
        assert scenario_mod.loads(scenario_mod.to_toml(s)) == s


# ---- recordings: portlab JSON and nmap XML ---------------------------------------------

RECORDINGS = sorted((ROOT / "data" / "recordings").glob("*/*.json")) + \
    sorted((ROOT / "data" / "recordings").glob("*/*.xml"))
SMALL = [p.read_text() for p in RECORDINGS if p.stat().st_size < 200_000 and p.name != "meta.json"][:12]


@st.composite
def mutated_recordings(draw):
    text = draw(st.sampled_from(SMALL))
    data = bytearray(text.encode())
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        how = draw(st.sampled_from(["flip", "cut", "insert", "delete-span"]))
        if how == "flip":
            data[i] = draw(st.sampled_from(b'{}[]<>"/:,0123456789-aez &;'))
        elif how == "cut":
            del data[i:]
        elif how == "insert":
            data[i:i] = draw(st.binary(max_size=8))
        else:
            del data[i:i + draw(st.integers(1, 40))]
    return bytes(data)


@FUZZ
@given(mutated_recordings())
def test_recordings_load_or_refuse_in_one_line(data):
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    try:
        result = formats.loads(text, "fuzz")
    except PortlabError as err:
        one_line(err)
    else:
        # What loads can be shown and written again.
        result.table()
        formats.loads(result.to_json(), "again")


@FUZZ
@given(st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.text(max_size=8),
                              st.floats(allow_nan=True)),
                    lambda children: st.one_of(st.lists(children, max_size=4),
                                               st.dictionaries(st.sampled_from(
                                                   ["portlab", "hosts", "ports", "port", "state", "reason",
                                                    "protocol", "address", "scan_type", "started", "elapsed_s",
                                                    "extraports", "count", "transport", "service", "tries"]),
                                                   children, max_size=6)),
                    max_leaves=25))
def test_json_documents_of_any_shape_load_or_refuse(doc):
    try:
        formats.loads(json.dumps(doc), "fuzz.json")
    except PortlabError as err:
        one_line(err)


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
<!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
<!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
<!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
<!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">]>
<nmaprun scanner="nmap" args="&lol9;"><host><address addr="127.0.0.1" addrtype="ipv4"/></host></nmaprun>
"""
EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE nmaprun [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<nmaprun scanner="nmap" args="&secret;"><host><address addr="127.0.0.1" addrtype="ipv4"/></host></nmaprun>
"""


@pytest.mark.parametrize("name, text", [("billion-laughs", BILLION_LAUGHS), ("external-entity", EXTERNAL_ENTITY)])
def test_hostile_xml_is_refused_quickly(name, text, tmp_path):
    path = tmp_path / f"{name}.xml"
    path.write_text(text)
    started = time.process_time()   # CPU time: the attack is about work, not waiting
    done = subprocess.run([sys.executable, "-m", "portlab", "show", str(path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "root:" not in done.stdout + done.stderr
    assert "entit" in done.stderr.lower() or "doctype" in done.stderr.lower()
    assert time.process_time() - started < 5


# ---- the command line ------------------------------------------------------------------

cli_words = st.sampled_from([
    "scan", "show", "lookup", "lab", "record", "-p", "22", "1-1024", "-", "http", "-s", "syn", "udp", "connect",
    "xmas", "-T", "9", "4", "--format", "json", "xml", "csv", "table", "yaml", "-o", "/nonexistent/dir/x.json",
    "--scenario", "single-host", "no-such-scenario", "10.77.0.2", "127.0.0.1", "8.8.8.8", "--allow-target",
    "not-a-cidr", "up", "down", "status", "--prefix", "BAD", "443", "ssh", "--help-me", "", "-", "--"])


@settings(max_examples=max(15, FUZZ_EXAMPLES // 20), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cli_words, min_size=0, max_size=7))
def test_cli_argument_combinations_end_with_a_documented_exit(argv):
    if {"up", "down", "record"} & set(argv) and "lab" in argv:
        argv = [w for w in argv if w not in ("up", "down", "record")]   # never build a lab from fuzz
    done = subprocess.run([sys.executable, "-m", "portlab", *argv], capture_output=True, text=True, timeout=60,
                          cwd="/tmp", env={**os.environ, "PYTHONPATH": str(ROOT),
                                           "PORTLAB_STATE_DIR": "/nonexistent-portlab-labs"})
    assert done.returncode in (0, 1, 2, 3, 4), (argv, done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, (argv, done.stderr)
    if done.returncode not in (0, 1):
        assert len(done.stderr.strip().splitlines()) == 1, (argv, done.stderr)
