"""Notebook 02's helpers: the state grid, the six states, the listener, the refused scan; and the
exercises of notebooks 02 and 03 (every solution passes, every predict reveals its solution)."""

from __future__ import annotations

import socket

import pytest

import portlab
from portlab.course.exercises import core
from portlab.course.lessons import nb02


def test_grid_is_the_design_table():
    rows = {r["reply"]: r for r in nb02.grid_rows()}
    code3 = rows["ICMP unreachable, code 3 (port-unreach)"]
    # The one reply whose meaning flips with the scan type (docs/design.md).
    assert (code3["connect"], code3["syn"], code3["udp"]) == \
        ("closed (conn-refused)", "filtered (port-unreach)", "closed (port-unreach)")
    admin = rows["ICMP unreachable, code 13 (admin-prohibited)"]
    assert (admin["connect"], admin["syn"]) == ("filtered (host-unreach)", "filtered (admin-prohibited)")
    silence = rows["nothing, even after retries"]
    assert (silence["syn"], silence["udp"]) == ("filtered (no-response)", "open|filtered (no-response)")
    assert rows["SYN/ACK"]["udp"] is None and rows["UDP datagram"]["syn"] is None
    assert len(rows) == 3 + 7 + 1


def test_state_grid_chart():
    chart = nb02.state_grid()
    assert chart.data == nb02.grid_rows()
    assert "syn: filtered (port-unreach)" in chart.text
    fig = chart.figure("dark")
    assert len(fig.axes) == 1 and len(fig.axes[0].texts) == 33


def test_six_states_and_table():
    frame = nb02.six_states()
    assert list(frame.index) == ["open", "closed", "filtered", "open|filtered", "unfiltered", "closed|filtered"]
    counts = frame["rows in portlab's table"]
    assert counts["unfiltered"] == counts["closed|filtered"] == 0
    assert counts["open|filtered"] == 1 and counts.sum() == len(nb02.state_table())
    assert set(nb02.state_table("udp")["scan_type"]) == {"udp"}


def test_listener_is_open_then_closed_on_loopback():
    quiet = nb02.free_port()
    with nb02.Listener() as listener:
        result = portlab.scan("127.0.0.1", ports=[listener.port, quiet])
        states = {p.port: (str(p.state), p.reason) for p in result.hosts[0].ports}
        with socket.create_connection(("127.0.0.1", listener.port), timeout=3) as client:
            assert client.recv(10) == b"hello\n"
    assert states[listener.port] == ("open", "syn-ack")
    assert states[quiet] == ("closed", "conn-refused")
    assert listener.connections >= 1
    after = portlab.scan("127.0.0.1", ports=[listener.port]).hosts[0].ports[0]
    assert str(after.state) == "closed"


def test_refused_scan_opens_no_network_socket():
    message, opened = nb02.refused_scan("192.0.2.10")
    assert opened == 0
    assert "192.0.2.10" in message and "authorized" in message
    # The counter does count: a loopback scan opens at least one network socket.
    with nb02.SocketCounter() as counter:
        portlab.scan("127.0.0.1", ports=[nb02.free_port()])
    assert counter.count >= 1 and "AF_INET" in counter.families
    assert socket.socket.__init__ is not None and counter._original is socket.socket.__init__


@pytest.mark.parametrize("exercise_id", ["02-who-may-scan", "02-refused-packets", "02-predict-drop",
                                         "02-after-close", "03-predict-udp-drop", "03-syn-reply",
                                         "03-who-logs", "03-icmp3-to-syn"])
def test_exercise_solutions(exercise_id):
    ex = core.get(exercise_id)
    assert core.feedback(exercise_id, ex.solution) is None
    assert ex.explanation
    wrong = [c for c in ex.choices if core.feedback(exercise_id, c) is not None] or [1, "many"]
    assert all(core.feedback(exercise_id, c) for c in wrong)   # a hint, never silence
    if ex.kind == "predict":
        assert ex.reveal() == ex.solution


def test_each_notebook_has_enough_exercises():
    core.load_all()
    for nb in ("02", "03"):
        kinds = [ex.kind for ex in core.EXERCISES.values() if ex.notebook == nb]
        assert len(kinds) >= 3 and "predict" in kinds


# ---- change a value: the scope of a permission (02-scope-param) -------------------------------

def test_a_permission_covers_exactly_its_block_and_sends_nothing(monkeypatch):
    def no_sockets(*args, **kwargs):
        raise AssertionError("asking the guard must not open a socket")
    monkeypatch.setattr(socket, "socket", no_sockets)
    assert nb02.permission("203.0.113.10").allowed == ["www"]
    letter = nb02.permission("203.0.113.8/29")
    assert letter.allowed == ["www", "shop", "mail"]
    assert str(letter).splitlines()[0] == ("your permission: 203.0.113.8/29 = "
                                           "the 8 addresses 203.0.113.8 to 203.0.113.15")
    assert "vpn            203.0.113.17    refused, nothing sent" in str(letter)
    assert nb02.permission("203.0.113.0/24").allowed == ["www", "shop", "mail", "vpn", "backup"]
    assert nb02.permission("203.0.113.16/28").allowed == ["vpn"]
    assert str(nb02.permission("0.0.0.0/0")).startswith("your permission: 0.0.0.0/0 = the 4,294,967,296 addresses")


def test_a_running_lab_does_not_widen_a_permission(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path))
    (tmp_path / "lab1.json").write_text('{"networks": ["203.0.113.0/24"]}')
    assert nb02.permission("203.0.113.10").allowed == ["www"]


@pytest.mark.parametrize("bad, says", [("www", "expected one address or a block"), ("203.0.113.0/33", "expected"),
                                       (None, "expected"), ("2001:db8::/32", "give an IPv4 block")])
def test_permission_bad_input_is_one_clear_line(bad, says):
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match=r"^scope ") as raised:
        nb02.permission(bad)
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_the_scope_exercise_is_what_the_cell_shows_for_the_letter():
    ex = core.get("02-scope-param")
    assert ex.parameter == "scope" and 'Set `scope` to "203.0.113.8/29"' in ex.question and ex.kind == "number"
    assert ex.solution == len(nb02.permission("203.0.113.8/29").allowed)
    assert core.feedback(ex.id, "3") is None and core.feedback(ex.id, 3.0) is None
    assert "Did you set `scope`" in core.feedback(ex.id, len(nb02.permission("203.0.113.10").allowed))
    assert "not the whole company" in core.feedback(ex.id, len(nb02.COMPANY_HOSTS))
    assert "203.0.113.17" in core.feedback(ex.id, 4)
    assert "addresses the block holds" in core.feedback(ex.id, 8)
    assert "number of hosts" in core.feedback(ex.id, "three")
