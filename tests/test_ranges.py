"""RFC 6335 ranges, port validation and the OS ephemeral range."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from portlab.errors import BadInput
from portlab.ranges import (
    DYNAMIC, LINUX_DEFAULT_EPHEMERAL, RANGES, SYSTEM, USER, check_port, ephemeral_range, parse_port, port_range,
)


@pytest.mark.parametrize("port, key", [(0, "system"), (1023, "system"), (1024, "user"),
                                       (49151, "user"), (49152, "dynamic"), (65535, "dynamic")])
def test_edges_fall_in_the_right_range(port, key):
    assert port_range(port).key == key


def test_ranges_tile_the_port_space_without_gaps():
    assert RANGES[0].lo == 0 and RANGES[-1].hi == 65535
    for left, right in zip(RANGES, RANGES[1:]):
        assert left.hi + 1 == right.lo
    assert sum(r.size for r in RANGES) == 65536


def test_names_follow_rfc6335_and_the_older_vocabulary():
    # RFC 6335 section 6: "the System Ports, also known as the Well Known Ports", "the User
    # Ports, also known as the Registered Ports", "the Dynamic Ports, also known as the
    # Private or Ephemeral Ports".  "Dynamic and/or Private Ports" is IANA's older label.
    assert (SYSTEM.rfc6335_name, SYSTEM.aliases, SYSTEM.older_name) == (
        "System Ports", ("Well Known Ports",), "Well Known Ports")
    assert (USER.rfc6335_name, USER.aliases, USER.older_name) == (
        "User Ports", ("Registered Ports",), "Registered Ports")
    assert (DYNAMIC.rfc6335_name, DYNAMIC.aliases, DYNAMIC.older_name) == (
        "Dynamic Ports", ("Private Ports", "Ephemeral Ports"), "Dynamic and/or Private Ports")
    assert str(DYNAMIC) == "Dynamic Ports 49152-65535"
    assert 5432 in USER and 5432 not in SYSTEM and "5432" not in USER


@pytest.mark.parametrize("bad", [-1, 65536, 70000, 3.0, "443", None, True])
def test_bad_ports_are_refused_with_one_line(bad):
    with pytest.raises(BadInput) as err:
        port_range(bad)
    message = str(err.value)
    assert "\n" not in message and "0-65535" in message


@pytest.mark.parametrize("text, port", [("0", 0), (" 443 ", 443), ("65535", 65535)])
def test_parse_port_accepts_plain_digits(text, port):
    assert parse_port(text) == port


@pytest.mark.parametrize("text, fragment", [("-1", "out of range"), ("70000", "out of range"), ("", "not a number"),
                                            ("+80", "not a number"), ("4_43", "not a number"), ("８０", "not a number"),
                                            ("--1", "not a number"), ("http", "not a number")])
def test_parse_port_names_the_problem(text, fragment):
    with pytest.raises(BadInput, match=fragment):
        parse_port(text, "lookup port")


def test_check_port_names_where():
    with pytest.raises(BadInput, match="^range end 70000 is out of range"):
        check_port(70000, "range end")


@pytest.mark.skipif(not Path("/proc/sys/net/ipv4/ip_local_port_range").exists(), reason="no Linux /proc here")
def test_linux_ephemeral_range_is_the_live_setting():
    lo, hi = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert ephemeral_range("linux") == (lo, hi)
    assert 0 < lo <= hi <= 65535


def test_unreadable_proc_file_gives_linux_default(tmp_path):
    assert ephemeral_range("linux", tmp_path / "missing") == LINUX_DEFAULT_EPHEMERAL == (32768, 60999)
    garbled = tmp_path / "garbled"
    garbled.write_text("not numbers\n")
    assert ephemeral_range("linux", garbled) == LINUX_DEFAULT_EPHEMERAL


def test_custom_proc_file_is_read(tmp_path):
    custom = tmp_path / "ip_local_port_range"
    custom.write_text("10000\t20000\n")
    assert ephemeral_range("linux", custom) == (10000, 20000)


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_windows_and_macos_use_the_iana_dynamic_range(platform):
    assert ephemeral_range(platform) == (DYNAMIC.lo, DYNAMIC.hi)


def test_default_platform_is_this_one():
    assert ephemeral_range() == ephemeral_range(sys.platform)
