"""A scan of a running lab's hosts without netns=: the engine finds the lab (its state
file) and scans from the lab's scanner namespace.  Root only, with a real lab of the
shipped single-host scenario; everything scanned lies inside the lab's namespaces."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from netlab import netns_skip_reason
from portlab import scenario as scenario_mod
from portlab.engine import lab_netns_for, scan
from portlab.errors import BadInput, MissingPrivilege
from portlab.lab.run import Lab
from portlab.states import PortState

SKIP = netns_skip_reason()
def live(test):
    """A test that builds a lab: root and Linux, skipped with the reason otherwise."""
    return pytest.mark.netns(pytest.mark.skipif(SKIP is not None, reason=SKIP or "")(test))


@pytest.fixture(autouse=True)
def state_dir(tmp_path, monkeypatch):
    """Labs on record in this test's own directory (the engine and scope read it too)."""
    directory = tmp_path / "labs"
    directory.mkdir()
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(directory))
    return directory


def fake_lab(directory, prefix: str, netns: str, networks: list[str]) -> None:
    (directory / f"{prefix}.json").write_text(json.dumps(
        {"prefix": prefix, "scanner_netns": netns, "networks": networks, "status": "up"}))


# --- which namespace (state files only, nothing sent) -------------------------------

def test_targets_outside_every_lab_need_no_namespace(state_dir):
    assert lab_netns_for(["127.0.0.1"]) is None
    fake_lab(state_dir, "a", "a-scanner", ["10.77.0.0/24"])
    assert lab_netns_for(["127.0.0.1", "::1"]) is None
    assert lab_netns_for(["10.77.0.2", "10.77.0.3"]) == "a-scanner"


def test_a_half_written_or_foreign_state_file_is_ignored(state_dir):
    (state_dir / "broken.json").write_text("{not json")
    fake_lab(state_dir, "building", "b-scanner", [])      # networks come last: not up yet
    assert lab_netns_for(["10.77.0.2"]) is None


def test_targets_in_two_labs_are_bad_input(state_dir):
    fake_lab(state_dir, "a", "a-scanner", ["10.77.0.0/24"])
    fake_lab(state_dir, "b", "b-scanner", ["10.88.0.0/24"])
    with pytest.raises(BadInput, match=r"span two running labs \(a, b\)"):
        lab_netns_for(["10.77.0.2", "10.88.0.2"])


def test_a_lab_and_something_else_is_bad_input(state_dir):
    fake_lab(state_dir, "a", "a-scanner", ["10.77.0.0/24"])
    with pytest.raises(BadInput, match="mix the running lab a with 127.0.0.1"):
        lab_netns_for(["10.77.0.2", "127.0.0.1"])


def test_an_address_in_two_overlapping_labs_asks_for_netns(state_dir):
    fake_lab(state_dir, "a", "a-scanner", ["10.77.0.0/24"])
    fake_lab(state_dir, "b", "b-scanner", ["10.77.0.0/16"])
    with pytest.raises(BadInput, match="several running labs"):
        lab_netns_for(["10.77.0.2"])


def test_cli_mixing_a_lab_and_loopback_exits_2_with_one_line(state_dir):
    fake_lab(state_dir, "a", "a-scanner", ["10.77.0.0/24"])
    done = subprocess.run([sys.executable, "-m", "portlab", "scan", "10.77.0.2", "127.0.0.1", "-p", "22"],
                          capture_output=True, text=True, env=dict(os.environ), timeout=60)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "mix the running lab a" in done.stderr and "Traceback" not in done.stderr


def test_without_root_entering_the_lab_is_missing_privilege_exit_4(tmp_path_factory):
    # A state directory the unprivileged child can read (pytest's tmp dirs are 0700).
    directory = tempfile.mkdtemp(prefix="portlab-labs-")
    try:
        os.chmod(directory, 0o755)
        fake_lab(Path(directory), "a", "a-scanner", ["10.77.0.0/24"])
        os.chmod(Path(directory) / "a.json", 0o644)
        drop = ""
        if os.geteuid() == 0:
            # Import what the scan needs, then become nobody (no capabilities left): the
            # same path a user without root takes.
            drop = ("import argparse, json, ipaddress, csv, portlab.engine, portlab.commands.scan, "
                    "portlab.transports.connect, portlab.privilege, portlab.nsenter, portlab.registry, "
                    "portlab.progress, portlab.scope, portlab.targets, portlab.portspec, portlab.fdlimit, "
                    "portlab.formats, portlab.common_ports, encodings.ascii; "
                    "os.setgroups([]); os.setgid(65534); os.setuid(65534); ")
        code = ("import os, sys; from portlab.cli import main; " + drop +
                "sys.exit(main(['scan', '10.77.0.2', '-p', '22']))")
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              env={**os.environ, "PORTLAB_STATE_DIR": directory}, timeout=60)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert done.returncode == 4, (done.returncode, done.stderr)
    assert "run the scan as root" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --- a real lab ------------------------------------------------------------------------

@live
def test_a_running_labs_hosts_are_scanned_from_its_scanner_namespace():
    lab = Lab(scenario_mod.load(scenario_mod.shipped()["single-host"]))
    lab.up()
    try:
        result = scan("10.77.0.2", "22,81,9000,9003", "connect")     # no netns=
        ports = {p.port: (p.state, p.reason) for h in result.hosts for p in h.ports}
        assert ports == {22: (PortState.OPEN, "syn-ack"), 81: (PortState.CLOSED, "conn-refused"),
                         9000: (PortState.FILTERED, "no-response"),
                         9003: (PortState.FILTERED, "host-unreach")}
        # The same as saying where explicitly.
        explicit = scan("10.77.0.2", "22,81", "connect", netns=lab.scanner_netns)
        assert [(p.port, p.state) for p in explicit.hosts[0].ports] == [
            (22, PortState.OPEN), (81, PortState.CLOSED)]
    finally:
        lab.down()
    assert lab_netns_for(["10.77.0.2"]) is None   # its state file is gone with it


@live
def test_netns_given_wins_even_where_two_labs_share_the_address():
    # Two labs of one scenario share its addresses: netns= says which one to scan.
    s = scenario_mod.load(scenario_mod.shipped()["single-host"])
    with Lab(s) as a, Lab(s) as b:
        with pytest.raises(BadInput, match="several running labs"):
            scan("10.77.0.2", "22", "connect")
        ra = a.scan("10.77.0.2", "22", "connect")
        rb = b.scan("10.77.0.2", "22", "connect")
    assert ra.hosts[0].ports[0].state is rb.hosts[0].ports[0].state is PortState.OPEN
