"""The classroom's privileged lab helper (portlab.lab.helper), for servers that forbid
unprivileged user namespaces: run by students through sudo, it builds, scans and takes
down a shipped scenario under a prefix made from the student's uid, and nothing else.

The helper runs here as root with SUDO_UID set, which is what sudo hands it; each call
is a whole process, as a student's `sudo portlab-lab-helper ...` would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from netlab import netns_skip_reason
from portlab.lab import helper, names
from portlab.lab.run import existing_netns
from unprivileged import learner_argv

SKIP = netns_skip_reason()
ROOT = Path(__file__).resolve().parents[1]
ALICE, BOB = 61021, 61022


@pytest.fixture
def labs(tmp_path, monkeypatch):
    directory = tmp_path / "labs"
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(directory))
    yield directory
    for uid in (ALICE, BOB):
        helper.teardown_student_lab(uid)


def as_student(uid, *args, env=None):
    return subprocess.run([sys.executable, "-m", "portlab.lab.helper", *args], capture_output=True, text=True,
                          timeout=180, env={**os.environ, "PYTHONPATH": str(ROOT), "SUDO_UID": str(uid),
                                            **(env or {})})


def owned(prefix):
    return {ns for ns in existing_netns() if names.owns_netns(prefix, ns)}


# ---------------------------------------------------------------- pure parts

def test_prefix_is_made_from_the_uid_and_is_a_valid_lab_prefix():
    assert helper.student_prefix(1001) == "u1001"
    assert names.check_prefix(helper.student_prefix(999_999_999))
    for bad in (0, -1, 10**9):
        with pytest.raises(Exception, match="ordinary user"):
            helper.student_prefix(bad)


@pytest.mark.parametrize("argv, says", [
    (["up", "single-host", "--prefix", "x"], "unrecognized arguments: --prefix x"),
    (["scan", "10.77.0.2", "-o", "/etc/passwd"], "unrecognized arguments: -o"),
    (["scan", "10.77.0.2", "--allow-target", "8.8.8.8"], "unrecognized arguments: --allow-target"),
    (["scan", "10.77.0.2", "--netns", "other"], "unrecognized arguments: --netns"),
    (["scan", "10.77.0.2", "-s", "ack"], "invalid choice: 'ack'"),
    (["rm", "-rf"], "invalid choice: 'rm'"),
])
def test_the_parser_refuses_everything_it_does_not_name(argv, says):
    done = as_student(ALICE, *argv)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to be what sudo makes it")
def test_without_sudo_uid_or_without_root_it_refuses():
    done = subprocess.run([sys.executable, "-m", "portlab.lab.helper", "status"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "SUDO_UID"} | {"PYTHONPATH": str(ROOT)})
    assert done.returncode == 2 and "through sudo (SUDO_UID" in done.stderr
    as_learner = subprocess.run(learner_argv([sys.executable, "-m", "portlab.lab.helper", "status"]),
                                capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                                     "SUDO_UID": str(ALICE)})
    assert as_learner.returncode == 4 and "runs as root through sudo" in as_learner.stderr, as_learner.stderr


# ---------------------------------------------------------------- the real thing

@pytest.mark.netns
@pytest.mark.skipif(SKIP is not None, reason=SKIP or "")
def test_a_students_helper_lab_is_theirs_alone(labs, tmp_path):
    # Only shipped scenarios, by name: never a file, whoever wrote it.
    evil = tmp_path / "mine.toml"
    evil.write_text((ROOT / "data" / "scenarios" / "single-host.toml").read_text())
    for name in (str(evil), "../data/scenarios/single-host", "single-host.toml"):
        done = as_student(ALICE, "up", name)
        assert done.returncode == 2 and "shipped scenarios only, by name" in done.stderr, done.stderr
    assert not list(labs.glob("*.json"))

    up = as_student(ALICE, "up", "single-host")
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith(f"lab u{ALICE} up: scenario single-host")
    assert owned(f"u{ALICE}")
    again = as_student(ALICE, "up", "web-server")
    assert again.returncode == 2 and "you have a lab up already" in again.stderr

    scan = as_student(ALICE, "scan", "10.77.0.2", "-p", "22,81,9000", "-s", "syn", "--format", "json")
    assert scan.returncode == 0, scan.stderr
    states = {p["port"]: p["state"] for p in json.loads(scan.stdout)["hosts"][0]["ports"]}
    assert states == {22: "open", 81: "closed", 9000: "filtered"}
    # Targets outside the student's lab: refused before anything is sent.
    for target in ("127.0.0.1", "8.8.8.8", "10.77.0.0/16", "localhost"):
        out = as_student(ALICE, "scan", target, "-p", "22")
        assert out.returncode == 2 and ("not in your lab's networks" in out.stderr
                                        or "not names" in out.stderr), out.stderr

    # Bob has no lab: he can neither scan Alice's nor take it down.
    assert as_student(BOB, "status").stdout.strip() == "you have no lab up"
    bob_scan = as_student(BOB, "scan", "10.77.0.2", "-p", "22")
    assert bob_scan.returncode == 2 and "you have no lab up" in bob_scan.stderr
    assert as_student(BOB, "down").stdout.strip() == "you have no lab up: nothing to take down"
    assert owned(f"u{ALICE}")
    # Bob's own lab (same scenario, same addresses) stands beside Alice's; each scan finds its own.
    assert as_student(BOB, "up", "ssh-2222").returncode == 0
    bob_scan = as_student(BOB, "scan", "10.77.0.10", "-p", "22,2222", "--format", "json")
    assert {p["port"]: p["state"] for p in json.loads(bob_scan.stdout)["hosts"][0]["ports"]} == \
        {22: "closed", 2222: "open"}
    # The same address from Alice's side is in her own lab, where nothing has it: Bob's server is out of reach.
    alice_side = as_student(ALICE, "scan", "10.77.0.10", "-p", "2222", "--format", "json")
    assert alice_side.returncode == 0, alice_side.stderr
    assert [p["state"] for p in json.loads(alice_side.stdout)["hosts"][0]["ports"]] != ["open"]

    # What the hub does when a student's server stops.
    assert helper.teardown_student_lab(BOB)
    assert not owned(f"u{BOB}")
    down = as_student(ALICE, "down")
    assert down.returncode == 0 and down.stdout.startswith(f"lab u{ALICE} down:")
    assert not owned(f"u{ALICE}") and not list(labs.glob("*.json"))
    assert helper.teardown_student_lab(ALICE) == []
