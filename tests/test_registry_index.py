"""The service-name index a scan reads instead of parsing IANA's CSV on every run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from portlab import registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_index(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    registry._name_tables.cache_clear()
    yield tmp_path / "cache" / "portlab" / f"service-names-v{registry.INDEX_VERSION}.json"
    registry._name_tables.cache_clear()


@pytest.mark.parametrize("protocol", ["tcp", "udp"])
def test_the_index_names_every_port_as_the_registry_does(fresh_index, protocol):
    table = registry.name_table(protocol)
    reg = registry.default()
    assert len(table) == 65536
    assert table == [reg.service_name(p, protocol) for p in range(65536)]
    assert (table[22], table[514]) == (("ssh", "shell") if protocol == "tcp" else ("ssh", "syslog"))


def test_the_index_is_written_once_with_the_csvs_digest(fresh_index):
    registry.name_table("tcp")
    data = json.loads(fresh_index.read_text())
    assert data["csv_sha256"] == registry._csv_digest()
    registry._name_tables.cache_clear()
    # A second process reads the file: tamper with one name to see that it does.
    data["tcp"][22] = "from-the-cache"
    fresh_index.write_text(json.dumps(data))
    assert registry.name_table("tcp")[22] == "from-the-cache"


def test_a_stale_or_corrupt_index_is_rebuilt_from_the_csv(fresh_index):
    registry.name_table("tcp")
    data = json.loads(fresh_index.read_text())
    data["csv_sha256"], data["csv_stamp"] = "0" * 64, [0, 0]     # another CSV's index
    data["tcp"][22] = "stale"
    fresh_index.write_text(json.dumps(data))
    registry._name_tables.cache_clear()
    assert registry.name_table("tcp")[22] == "ssh"
    fresh_index.write_text("{not json")
    registry._name_tables.cache_clear()
    assert registry.name_table("udp")[514] == "syslog"
    assert json.loads(fresh_index.read_text())["csv_sha256"] == registry._csv_digest()


def test_an_index_of_the_same_csv_bytes_is_kept_whatever_the_files_time(fresh_index, monkeypatch):
    registry.name_table("tcp")
    data = json.loads(fresh_index.read_text())
    stat = registry.CSV_PATH.stat()
    assert data["csv_stamp"] == [stat.st_size, stat.st_mtime_ns]
    # A fresh checkout gives the CSV a new time, not new bytes: the digest says so, the
    # tables stay (a tampered name shows they were read) and the new time is recorded.
    data["csv_stamp"] = [stat.st_size, 1]
    data["tcp"][22] = "kept"
    fresh_index.write_text(json.dumps(data))
    registry._name_tables.cache_clear()
    assert registry.name_table("tcp")[22] == "kept"
    assert json.loads(fresh_index.read_text())["csv_stamp"] == [stat.st_size, stat.st_mtime_ns]
    # While size and time match, the CSV is not even read.
    registry._name_tables.cache_clear()
    monkeypatch.setattr(registry, "_csv_digest", lambda: pytest.fail("the CSV was hashed"))
    assert registry.name_table("tcp")[22] == "kept"


def test_an_unwritable_cache_is_not_an_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))     # a cache dir under a file cannot exist
    registry._name_tables.cache_clear()
    try:
        assert registry.name_table("tcp")[443] == "https"
    finally:
        registry._name_tables.cache_clear()


def test_a_scan_with_a_warm_index_does_not_parse_the_csv(tmp_path):
    code = ("import sys, portlab.registry as r; r.name_table('tcp'); "
            "r.default.cache_clear(); from portlab.cli import main; main(['scan', '127.0.0.1', '-p', '1-3']); "
            "sys.exit(0 if r.default.cache_info().currsize == 0 else 9)")
    env = {"PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", "import portlab.registry as r; r.name_table('tcp')"], env=env, check=True)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
