"""The IANA registry parser, checked against the CSV read a second, simpler way."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter

import pytest

from portlab import registry
from portlab.errors import BadInput
from portlab.registry import CSV_PATH, Registry, Service

# Facts the CSV itself states, read with the csv module and nothing else.
with open(CSV_PATH, newline="", encoding="utf-8") as _fh:
    RAW = list(csv.reader(_fh))
HEADER, ROWS = RAW[0], RAW[1:]


def raw_rows(port: str, proto: str) -> list[list[str]]:
    return [r for r in ROWS if r[1] == port and r[2] == proto]


def test_every_data_row_becomes_one_record():
    assert len(ROWS) == 14499  # SOURCES.md: 14,499 data rows
    assert len(registry.records()) == len(ROWS)


def test_counts_per_protocol_match_a_plain_csv_count():
    expected = Counter(r[2] or None for r in ROWS)
    assert Counter(s.protocol for s in registry.records()) == expected
    assert set(expected) == {"tcp", "udp", "sctp", "dccp", None}


def test_fields_round_trip_the_csv():
    for row, svc in zip(ROWS, registry.records()):
        assert (svc.name or "") == row[0].strip()
        lo, _, hi = row[1].partition("-")  # one row writes a single port as "4748-4748"
        assert (svc.port_start, svc.port_end) == ((int(lo), int(hi or lo)) if lo else (None, None))
        assert (svc.description or "") == row[3].strip()
        assert (svc.unauthorized_use or "") == row[10].strip()
        assert (svc.notes or "") == row[11].strip()


@pytest.mark.parametrize("port, proto, name", [(443, "tcp", "https"), (5432, "tcp", "postgresql"),
                                               (22, "tcp", "ssh"), (53, "udp", "domain")])
def test_well_known_services(port, proto, name):
    first_named = next(r[0] for r in raw_rows(str(port), proto) if r[0])
    assert first_named == name
    assert registry.service_name(port, proto) == name
    assert name in [s.name for s in registry.lookup(port, proto)]


def test_lookup_returns_every_row_for_the_port_in_file_order():
    hits = registry.lookup(443)
    assert [(s.name, s.protocol) for s in hits] == [(r[0] or None, r[2] or None) for r in ROWS if r[1] == "443"]


def test_a_range_row_covers_each_of_its_ports():
    row = next(r for r in ROWS if r[0] and "-" in r[1] and r[2] == "tcp")
    lo, hi = (int(x) for x in row[1].split("-"))
    rec = next(s for s in registry.by_name(row[0], "tcp") if s.is_range)
    assert (rec.port_start, rec.port_end, rec.port, rec.is_range) == (lo, hi, None, True)
    for port in (lo, (lo + hi) // 2, hi):
        assert rec in registry.lookup(port, "tcp")
        assert registry.service_name(port, "tcp") == row[0]
    assert rec not in registry.lookup(hi + 1, "tcp")


def test_x11_range_names_every_display_port():
    assert registry.service_name(6000, "tcp") == registry.service_name(6063, "tcp") == "x11"


def test_protocolless_row_applies_to_every_protocol():
    row = next(r for r in ROWS if r[0] and r[1] and not r[2])
    lo = int(row[1].split("-")[0])
    assert any(s.name == row[0] for s in registry.lookup(lo, "udp"))
    assert any(s.name == row[0] for s in registry.lookup(lo, "tcp"))


def test_multiline_fields_are_kept_whole():
    row = next(r for r in ROWS if "\n" in r[3])
    rec = next(s for s in registry.by_name(row[0]) if s.description == row[3].strip())
    assert "\n" in rec.description
    assert "\r" not in rec.description  # bare LF inside the field, CRLF only between records


def test_row_without_a_port():
    row = next(r for r in ROWS if not r[1] and r[0])
    recs = [s for s in registry.by_name(row[0]) if s.port_start is None]
    assert recs and all(s.port is None and not s.is_range for s in recs)


def test_status_of_unassigned_reserved_and_assigned_rows():
    by_status = Counter(s.status for s in registry.records())
    named = sum(1 for r in ROWS if r[0])
    assert by_status["assigned"] == named
    assert by_status["unassigned"] >= sum(1 for r in ROWS if not r[0] and r[3] == "Unassigned")
    assert by_status["reserved"] >= sum(1 for r in ROWS if not r[0] and r[3] == "Reserved")
    assert [s.status for s in registry.lookup(0)] == ["reserved", "reserved"]
    assert registry.lookup(4, "tcp")[0].status == "unassigned"
    assert registry.service_name(4, "tcp") is None


def test_unauthorized_use_column_is_read():
    assert any(s.unauthorized_use for s in registry.lookup(79, "tcp"))


def test_names_are_case_insensitive():
    assert registry.by_name("SSH") == registry.by_name("ssh") == registry.by_name(" Ssh ")
    assert {s.protocol for s in registry.by_name("ssh") if s.port == 22} == {"tcp", "udp", "sctp"}
    assert registry.by_name("no-such-service-xyz") == []


def test_in_range_overlaps_include_range_rows():
    hits = registry.in_range(80, 90, "tcp")
    expected = {int(r[1]) for r in ROWS if r[1].isdigit() and 80 <= int(r[1]) <= 90 and r[2] in ("tcp", "")}
    assert {s.port_start for s in hits if not s.is_range} == expected
    assert len(expected) == 11
    assert all(s.port_start <= 90 and s.port_end >= 80 for s in hits)
    with pytest.raises(BadInput, match="backwards"):
        registry.in_range(90, 80)


def test_dynamic_range_has_no_assignments():
    assert registry.in_range(49152, 65535) == []


@pytest.mark.parametrize("call", [lambda: registry.lookup(-1), lambda: registry.lookup(65536),
                                  lambda: registry.lookup("443"), lambda: registry.lookup(4.5),
                                  lambda: registry.in_range(0, 70000), lambda: registry.lookup(80, "icmp"),
                                  lambda: registry.by_name(22)])
def test_bad_arguments_raise_badinput_with_one_line(call):
    with pytest.raises(BadInput) as err:
        call()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("text, expect", [("443", "https"), ("PostgreSQL", "postgresql"), ("20-22", "ssh")])
def test_search_interprets_text(text, expect):
    assert expect in {s.name for s in registry.search(text)}


@pytest.mark.parametrize("text", ["", "  ", "70000", "-1", "abc!", "80-70000"])
def test_search_refuses_bad_text(text):
    with pytest.raises(BadInput):
        registry.search(text)


def test_service_name_is_a_dict_lookup_for_any_port():
    names = [registry.service_name(p, "tcp") for p in range(65536)]
    assert names[22] == "ssh" and names[50000] is None


def test_a_bad_csv_names_the_record(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text(",".join(registry.HEADER) + "\r\nfoo,12x,tcp,,,,,,,,,\r\n", encoding="utf-8")
    with pytest.raises(BadInput, match="record 1: port '12x'"):
        Registry.from_csv(bad)
    with pytest.raises(BadInput, match="not found"):
        Registry.from_csv(tmp_path / "missing.csv")


def test_service_is_frozen():
    svc = registry.records()[0]
    assert isinstance(svc, Service)
    with pytest.raises(AttributeError):
        svc.name = "x"  # type: ignore[misc]


def test_import_and_first_lookup_stay_light():
    code = ("import sys, portlab.registry as r; assert r.lookup(443, 'tcp');"
            "print('pandas' in sys.modules, 'matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_dataframe_shape_and_dtypes():
    pd = pytest.importorskip("pandas")
    df = registry.to_dataframe()
    assert df.shape == (len(ROWS), 15)
    assert list(df.columns[:4]) == ["name", "port_start", "port_end", "protocol"]
    assert str(df["port_start"].dtype) == "Int64" and str(df["port_end"].dtype) == "Int64"
    assert df["port_start"].isna().sum() == sum(1 for r in ROWS if not r[1])
    assert set(df["range"].dropna()) == {"system", "user"}
    assert df.loc[df["port_start"] == 443, "range"].eq("system").all()
    assert df.loc[df["port_start"] == 5432, "range"].eq("user").all()
    assert df["protocol"].value_counts(dropna=True).to_dict() == dict(Counter(r[2] for r in ROWS if r[2]))
    assert isinstance(df, pd.DataFrame)


def test_port_status_covers_every_port_and_agrees_with_lookup():
    status = registry.port_status("tcp")
    assert len(status) == 65536
    assert status[443] == "assigned" and status[0] == "reserved" and status[4] == "unassigned"
    assert set(status[49152:]) == {registry.NO_ENTRY}
    # cross-check a sample against lookup(): assigned exactly when some row has a name
    for port in range(0, 49152, 97):
        assert (status[port] == "assigned") == any(s.name for s in registry.lookup(port, "tcp"))
    assert sum(1 for s in status if s == "assigned") == sum(
        1 for p in range(65536) if registry.service_name(p, "tcp"))
    with pytest.raises(BadInput):
        registry.port_status(None)  # type: ignore[arg-type]
