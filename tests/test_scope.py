"""The scope guard: loopback and running labs by default, anything else only with an
explicit allow; a refused scan builds no transport and opens no socket."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from portlab import engine
from portlab.errors import BadInput, ScopeRefused
from portlab.scope import ScopeGuard, check_scope, in_scope, lab_networks, parse_allow


@pytest.fixture
def no_labs(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path / "labs"))
    return tmp_path / "labs"


def test_loopback_is_in_scope_by_default(no_labs):
    check_scope(["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"])


@pytest.mark.parametrize("address", ["10.0.0.1", "192.0.2.1", "::2", "fd00::1", "0.0.0.0",
                                     "::ffff:10.0.0.1", "128.0.0.1"])
def test_other_addresses_are_refused_naming_the_target_and_the_fix(no_labs, address):
    with pytest.raises(ScopeRefused) as err:
        check_scope(["127.0.0.1", address, "10.9.9.9"])
    message = str(err.value)
    assert f"target {address} " in message        # the first refused target
    assert "--allow-target" in message
    assert "\n" not in message
    assert err.value.exit_code == 3


def test_allow_opens_exactly_the_given_block(no_labs):
    check_scope(["10.0.0.1", "10.0.0.254"], allow=["10.0.0.0/24"])
    check_scope(["192.0.2.7"], allow="192.0.2.7")          # a bare address is a /32
    with pytest.raises(ScopeRefused, match="10.0.1.1"):
        check_scope(["10.0.1.1"], allow=["10.0.0.0/24"])
    # An IPv4-mapped IPv6 address is judged by the IPv4 address it reaches.
    check_scope(["::ffff:10.0.0.9"], allow=["10.0.0.0/24"])


def test_bad_allow_is_bad_input():
    with pytest.raises(BadInput, match="'10.0.0.0/99'"):
        parse_allow(["10.0.0.0/99"])


def test_running_labs_widen_the_scope(no_labs):
    no_labs.mkdir()
    (no_labs / "pl1a2b.json").write_text(json.dumps({"prefix": "pl1a2b", "networks": ["10.77.0.0/24", "10.78.0.0/24"]}))
    (no_labs / "broken.json").write_text("{not json")       # skipped, never widens the scope
    (no_labs / "odd.json").write_text(json.dumps({"networks": "10.0.0.0/8"}))  # wrong type: skipped
    (no_labs / "notes.txt").write_text(json.dumps({"networks": ["10.99.0.0/16"]}))  # not *.json
    assert [str(n) for n in lab_networks()] == ["10.77.0.0/24", "10.78.0.0/24"]
    check_scope(["10.77.0.2", "10.78.0.200"])
    for outside in ("10.79.0.1", "10.99.0.1", "10.1.2.3"):
        with pytest.raises(ScopeRefused):
            check_scope([outside])


def test_extra_networks_are_in_scope(no_labs):
    guard = ScopeGuard(extra_networks=["10.77.1.0/24"])
    guard.check(["10.77.1.5"])
    assert in_scope("10.77.1.5", guard.allowed) and not in_scope("10.77.2.5", guard.allowed)


def test_refused_scan_builds_no_transport_and_opens_no_socket(no_labs, monkeypatch):
    built = []
    real_class = engine.transport_class
    monkeypatch.setattr(engine, "transport_class", lambda name: built.append(name) or real_class(name))
    import portlab.transports.connect as connect_module
    opened = []
    real_socket = connect_module._new_socket
    monkeypatch.setattr(connect_module, "_new_socket",
                        lambda *a, **k: opened.append(a) or real_socket(*a, **k))
    with pytest.raises(ScopeRefused, match="10.0.0.1"):
        engine.scan(["127.0.0.1", "10.0.0.1"], "22,80")
    with pytest.raises(ScopeRefused):
        engine.scan("10.0.0.0/30", "-", scan_type="syn")
    assert built == [] and opened == []
    # The same spies do see a scan that is allowed: they would have caught one.
    engine.scan("127.0.0.1", "1")
    assert built == ["connect"] and len(opened) == 1


def test_cli_refusal_exits_3_before_sending(no_labs, tmp_path):
    # The in-process test above proves no socket is created; this checks the exit
    # status and the one-line message a user sees.
    proc = subprocess.run([sys.executable, "-m", "portlab", "scan", "192.0.2.1", "-p", "22"],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PORTLAB_STATE_DIR": str(no_labs)})
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "192.0.2.1" in lines[0] and "--allow-target" in lines[0]


def test_refusal_of_a_hostname_names_both_name_and_address(no_labs, monkeypatch):
    import portlab.targets as targets

    monkeypatch.setattr(targets, "resolve_hostname", lambda name: "192.0.2.44")
    with pytest.raises(ScopeRefused, match=r"target lab-web \(192\.0\.2\.44\) is outside"):
        engine.scan("lab-web", "80")


# --- the shared-machine rule's parts (portlab.shared; the real thing: test_shared_machine.py) ---

def test_proc_net_addresses_are_read_in_the_hosts_byte_order():
    from portlab.shared import _hex_address, _reachable_from_loopback
    if sys.byteorder != "little":
        pytest.skip("the sample lines below are a little-endian machine's")
    assert _hex_address("0100007F") == "127.0.0.1" and _hex_address("00000000") == "0.0.0.0"
    assert _hex_address("00000000000000000000000001000000") == "::1"
    import ipaddress
    mapped = ipaddress.ip_address(_hex_address("0000000000000000FFFF00000100007F"))
    assert str(mapped.ipv4_mapped) == "127.0.0.1"
    assert [_reachable_from_loopback(a) for a in ("127.0.0.53", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1",
                                                  "10.0.0.5", "fe80::1")] == [True] * 5 + [False] * 2


def test_uid_min_comes_from_login_defs(tmp_path):
    from portlab.shared import DEFAULT_UID_MIN, uid_min
    defs = tmp_path / "login.defs"
    defs.write_text("# UID_MIN 5\nUID_MIN\t\t\t 2000\nUID_MAX 60000\n")
    assert uid_min(str(defs)) == 2000
    assert uid_min(str(tmp_path / "missing")) == DEFAULT_UID_MIN


def test_a_hub_or_the_teachers_setting_makes_the_machine_shared(monkeypatch):
    from portlab.shared import Listener, NOBODY, shared_reason
    for name in ("JUPYTERHUB_USER", "JUPYTERHUB_API_TOKEN", "PORTLAB_SHARED"):
        monkeypatch.delenv(name, raising=False)
    me = os.geteuid()
    system = [Listener("tcp", "127.0.0.1", 631, 0 if me else 1), Listener("tcp", "0.0.0.0", 53, NOBODY)]
    assert shared_reason(system) is None                   # the system's own services: not shared
    assert shared_reason(system + [Listener("tcp", "127.0.0.1", 8888, me)]) is None   # nor one's own
    person = Listener("tcp", "127.0.0.1", 8888, 54321 if me != 54321 else 54322)
    assert shared_reason(system + [person]).startswith("other users listen on its loopback")
    monkeypatch.setenv("PORTLAB_SHARED", "1")
    assert shared_reason(system) == "PORTLAB_SHARED is set"
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert shared_reason([]) == "JupyterHub"


def test_root_and_non_loopback_scans_are_never_narrowed(monkeypatch):
    from portlab import shared
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    assert shared.narrow(["10.77.0.2"], [22, 80]) is None            # not loopback: nothing to leave out
    if shared.privileged():
        assert shared.narrow(["127.0.0.1"], list(range(1, 65536))) is None
