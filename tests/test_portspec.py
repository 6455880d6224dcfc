"""portlab.portspec: nmap's -p syntax, edge cases and one-line errors."""

from __future__ import annotations

import pytest

from portlab.common_ports import top_ports
from portlab.errors import BadInput
from portlab.portspec import parse_ports


@pytest.mark.parametrize("spec,expected", [
    ("22", (22,)),
    ("22,80,443", (22, 80, 443)),
    ("443,22,80,22", (22, 80, 443)),            # sorted, deduplicated
    ("1-5", (1, 2, 3, 4, 5)),
    ("22,80,8000-8003", (22, 80, 8000, 8001, 8002, 8003)),
    (" 22 , 80 ", (22, 80)),
    ("7-7", (7,)),
    ("65533-", (65533, 65534, 65535)),          # open top ends at 65535
    ("-3", (1, 2, 3)),                          # open bottom starts at 1, not 0
    ("0", (0,)),                                # port 0 only when explicit
    ("0-2", (0, 1, 2)),
    (80, (80,)),
    ([443, 22, "80", "1-2"], (1, 2, 22, 80, 443)),
    (range(10, 13), (10, 11, 12)),
])
def test_valid_specs(spec, expected):
    assert parse_ports(spec) == expected


def test_dash_is_every_port_but_zero():
    ports = parse_ports("-")
    assert len(ports) == 65535 and ports[0] == 1 and ports[-1] == 65535


def test_top_n_is_the_registry_helpers_list():
    assert parse_ports("top100") == tuple(sorted(top_ports(100, "tcp")))
    assert set(parse_ports("top10", "udp")) == set(top_ports(10, "udp"))
    assert parse_ports("top1000,1") == tuple(sorted(set(top_ports(1000, "tcp")) | {1}))
    assert len(parse_ports("top1000")) == len(set(top_ports(1000, "tcp")))


@pytest.mark.parametrize("spec,fragment", [
    ("70000", "'70000'"),
    ("65536", "'65536'"),
    ("80-70000", "port 70000 in '80-70000'"),
    ("100-20", "start 100 is above end 20"),
    ("22,,80", "empty item"),
    ("no-such-service", "'no-such-service'"),
    ("22-80-90", "'22-80-90'"),
    ("-1-", "'-1-'"),
    ("", "empty"),
    ("top0", "N >= 1"),
    ([-1], "'-1'"),
    ([], "empty list"),
    ([True], "True"),
    (1.5, "1.5"),
])
def test_bad_specs_name_the_token_in_one_line(spec, fragment):
    with pytest.raises(BadInput) as err:
        parse_ports(spec)
    message = str(err.value)
    assert fragment in message
    assert "\n" not in message
    assert "expected" in message or "above" in message or "N >= 1" in message


def test_service_names_and_wildcards_as_nmap_reads_them(tmp_path, monkeypatch):
    # nmap's -p takes names from nmap-services, * and ? as globs, case-insensitive.
    services = tmp_path / "nmap-services"
    services.write_text("http\t80/tcp\t0.48\t# web\nhttp\t8008/tcp\t0.006\nhttps\t443/tcp\t0.2\n"
                        "domain\t53/udp\t0.2\nssh\t22/tcp\t0.18\n")
    monkeypatch.setenv("PORTLAB_NMAP_SERVICES", str(services))
    assert parse_ports("http") == (80, 8008)
    assert parse_ports("HTTP,22") == (22, 80, 8008)
    assert parse_ports("http*") == (80, 443, 8008)
    assert parse_ports("ht?p") == (80, 8008)
    assert parse_ports("domain", "udp") == (53,)
    with pytest.raises(BadInput, match="no tcp service of that name in nmap's services file"):
        parse_ports("domain")


def test_service_names_fall_back_to_iana_without_nmap(monkeypatch):
    monkeypatch.setenv("PORTLAB_NMAP_SERVICES", "")
    assert parse_ports("http") == (80,)
    assert 5432 in parse_ports("postgres*")
    with pytest.raises(BadInput, match="IANA's registry"):
        parse_ports("no-such-service")
