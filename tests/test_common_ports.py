"""The curated common ports and nmap-style top-N lists."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from portlab import registry
from portlab.common_ports import (
    COMMON_PORTS, NMAP_SERVICES_ENV, SOURCE_CURATED, SOURCE_NMAP, common_port, nmap_services_path,
    parse_nmap_services, top_ports, top_ports_source,
)
from portlab.errors import BadInput

COURSE_PORTS = {20, 21, 22, 23, 25, 53, 67, 68, 69, 80, 110, 123, 135, 137, 138, 139, 143, 161, 389, 443,
                445, 465, 587, 993, 995, 1433, 1521, 2049, 2222, 3306, 3389, 5432, 5900, 6379, 8080, 8443,
                9200, 27017}


def test_the_course_list_is_complete_and_unique():
    ports = [entry.port for entry in COMMON_PORTS]
    assert len(ports) == len(set(ports))
    assert COURSE_PORTS <= set(ports)


def test_each_common_port_is_in_the_iana_registry_for_its_protocols():
    for entry in COMMON_PORTS:
        for proto in entry.protocols:
            assert registry.lookup(entry.port, proto), f"{entry.port}/{proto} has no IANA row"
        assert entry.description and entry.description[0].isupper()


def test_common_port_finds_entries():
    assert common_port(5432).service == "PostgreSQL"
    assert common_port(4) is None


def write_services(tmp_path, text):
    path = tmp_path / "nmap-services"
    path.write_text(text)
    return path


def test_top_ports_ranks_by_frequency_then_port(tmp_path, monkeypatch):
    path = write_services(tmp_path, "# comment line\n"
                          "a\t10/tcp\t0.1\t# x\n" "b\t5/tcp\t0.5\n" "c\t7/tcp\t0.1\n" "d\t9/udp\t0.9\n"
                          "garbage line\n" "e\tx/tcp\t0.3\n")
    monkeypatch.setenv(NMAP_SERVICES_ENV, str(path))
    assert nmap_services_path() == path and top_ports_source() == SOURCE_NMAP
    assert top_ports(10) == [5, 7, 10]
    assert top_ports(2, "tcp") == [5, 7]
    assert top_ports(5, "UDP") == [9]
    assert parse_nmap_services(path.read_text())["tcp"] == [(0.1, 10), (0.5, 5), (0.1, 7)]


def test_without_nmap_the_curated_list_stands_in(monkeypatch):
    monkeypatch.setenv(NMAP_SERVICES_ENV, "")
    assert nmap_services_path() is None and top_ports_source() == SOURCE_CURATED
    tcp = top_ports(1000)
    assert tcp[:3] == [80, 443, 22] and len(tcp) < 1000  # fewer than asked for: documented
    assert 161 in top_ports(100, "udp") and 161 not in tcp


@pytest.mark.parametrize("n, proto", [(0, "tcp"), (-5, "tcp"), ("100", "tcp"), (True, "tcp"), (10, "icmp")])
def test_bad_top_ports_arguments(n, proto):
    with pytest.raises(BadInput):
        top_ports(n, proto)


def _expand(spec: str) -> set[int]:
    ports: set[int] = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        ports.update(range(int(lo), int(hi or lo) + 1))
    return ports


@pytest.mark.skipif(shutil.which("nmap") is None or nmap_services_path() is None, reason="nmap is not installed")
@pytest.mark.parametrize("n", [100, 1000])
def test_top_ports_match_nmaps_own_choice(n):
    # nmap states the ports it chose in its XML; a connect scan of loopback is
    # harmless and takes well under a second.
    xml = subprocess.run(["nmap", "-sT", "-Pn", "-n", "-T5", "--top-ports", str(n), "-oX", "-", "127.0.0.1"],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    chosen = _expand(re.search(r'<scaninfo [^>]*\sservices="([^"]+)"', xml).group(1))
    assert len(chosen) == n
    assert set(top_ports(n)) == chosen
