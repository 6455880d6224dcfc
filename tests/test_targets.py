"""portlab.targets: addresses, hostnames and CIDR blocks as nmap expands them."""

from __future__ import annotations

import pytest

from portlab.errors import BadInput
from portlab.targets import Target, parse_targets, sort_key


def addresses(spec):
    return [t.address for t in parse_targets(spec)]


def test_single_addresses():
    assert addresses("127.0.0.1") == ["127.0.0.1"]
    assert addresses("::1") == ["::1"]
    assert addresses("[::1]") == ["::1"]
    assert addresses("0:0:0:0:0:0:0:1") == ["::1"]   # normalised


def test_cidr_excludes_network_and_broadcast_below_31():
    assert addresses("10.0.0.0/30") == ["10.0.0.1", "10.0.0.2"]
    assert addresses("10.0.0.0/29") == [f"10.0.0.{i}" for i in range(1, 7)]
    assert len(addresses("10.0.0.0/24")) == 254


def test_cidr_31_and_32_keep_every_address():
    assert addresses("10.0.0.0/31") == ["10.0.0.0", "10.0.0.1"]
    assert addresses("10.0.0.5/32") == ["10.0.0.5"]
    assert addresses("10.0.0.5/30") == ["10.0.0.5", "10.0.0.6"]  # host bits set: nmap takes the block


def test_nmap_octet_ranges():
    assert addresses("127.0.0.1-3") == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert addresses("10.0.1-2.5") == ["10.0.1.5", "10.0.2.5"]
    assert addresses("10.0.0.7-7") == ["10.0.0.7"]


def test_ipv6_block_is_every_address():
    assert addresses("fd00::/126") == ["fd00::", "fd00::1", "fd00::2", "fd00::3"]


def test_list_string_with_spaces_and_commas_dedupes_in_order():
    assert addresses("127.0.0.2, 127.0.0.1 127.0.0.2") == ["127.0.0.2", "127.0.0.1"]
    assert addresses(["127.0.0.1", "127.0.0.0/30"]) == ["127.0.0.1", "127.0.0.2"]


def test_localhost_resolves_once_and_keeps_its_name():
    targets = parse_targets("localhost")
    assert len(targets) == 1
    assert targets[0].name == "localhost"
    assert targets[0].address in ("127.0.0.1", "::1")


def test_resolution_uses_the_given_resolver_once_per_name():
    calls = []

    def resolver(name):
        calls.append(name)
        return "127.0.0.9"

    targets = parse_targets(["lab-host", "lab-host"], resolve=resolver)
    assert targets == [Target("127.0.0.9", "lab-host")]
    assert calls == ["lab-host"]


def test_unresolvable_name_is_bad_input_from_the_resolver():
    def resolver(name):
        raise BadInput(f"target {name!r}: cannot resolve the hostname")

    with pytest.raises(BadInput, match="cannot resolve"):
        parse_targets("nowhere", resolve=resolver)


@pytest.mark.parametrize("spec,fragment", [
    ("999.1.1.1", "not a valid IP address"),
    ("10.0.0", "not a valid IP address"),
    ("1:2:3", "not a valid IP address"),
    ("10.0.0.0/33", "bad CIDR block"),
    ("10.0.0.0/x", "bad CIDR block"),
    ("10.0.0.0/8", "too many"),
    ("10.0.0.5-300", "octet range '5-300'"),
    ("10.0.0.9-3", "octet range '9-3'"),
    ("10.0-255.0-255.0-255", "too many"),
    ("fd00::/64", "too many"),
    ("bad_host!", "not a valid hostname"),
    ("-leading", "not a valid hostname"),
    ("", "no target"),
    ([], "no target"),
    ([42], "42"),
])
def test_bad_targets_are_one_line_bad_input(spec, fragment):
    def resolver(name):  # must never be asked: these are rejected before any lookup
        raise AssertionError(f"resolver asked about {name}")

    with pytest.raises(BadInput) as err:
        parse_targets(spec, resolve=resolver)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)


def test_sort_key_is_numeric_and_ipv4_first():
    assert sorted(["::1", "10.0.0.10", "10.0.0.9", "127.0.0.1"], key=sort_key) == \
        ["10.0.0.9", "10.0.0.10", "127.0.0.1", "::1"]
