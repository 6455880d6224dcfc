"""Notebook 09's demonstrations: real loopback services and scans, the simulated ssh-2222 scan."""

from __future__ import annotations

import socket

import pytest

import portlab
from portlab import privatenet
from portlab.course.exercises import feedback, get
from portlab.course.lessons import nb09
from portlab.errors import BadInput
from portlab.sim.network import load_scenario


def _refused(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_banner_service_greets_like_ssh_and_closes_on_exit():
    with nb09.BannerService() as service:
        assert service.address == ("127.0.0.1", service.port) and service.port > 0
        banner = nb09.grab_banner(service.port)
        assert banner == nb09.SSH_BANNER and nb09.identify(banner) == "SSH"
        assert nb09.first_line(banner) == "SSH-2.0-OpenSSH_9.6 portlab-toy"
    assert service.closed and _refused(service.port)


def test_closed_even_when_the_block_fails():
    with pytest.raises(RuntimeError):
        with nb09.ToyAdminConsole() as console:
            raise RuntimeError("a cell that fails")
    assert console.closed and _refused(console.port)


def test_identify_names_protocols_from_their_first_bytes():
    assert nb09.identify(b"* OK [CAPABILITY IMAP4rev1] ready\r\n") == "IMAP"
    assert nb09.identify(b"220 mail.example ESMTP\r\n") == "SMTP or FTP"
    assert nb09.identify(b"220 (vsFTPd 3.0.5)\r\n") == "SMTP or FTP"          # FTP greets with 220 too
    assert nb09.identify(b"220-mail.example ESMTP\r\n220 ready\r\n") == "SMTP or FTP"   # a greeting of lines
    assert nb09.identify(b"+OK POP3 ready\r\n") == "POP3"
    assert nb09.identify(nb09.FTP_BANNER) == "SMTP or FTP"
    assert nb09.identify(b"").startswith("silent")


NO_PRIVATE_NET = privatenet.why_not()


@pytest.mark.skipif(NO_PRIVATE_NET is not None, reason=f"no private network namespace here: {NO_PRIVATE_NET}")
def test_the_hunt_scans_every_port_of_a_private_loopback_and_reads_only_its_own_banners():
    with nb09.BannerService() as outside:          # on this machine's loopback: not the hunt's business
        hunt = nb09.loopback_hunt()
    assert hunt["private"] is True and hunt["scanned"] == 65535
    assert hunt["found"] and hunt["ssh"] == [hunt["port"]] and outside.port not in hunt["banners"]
    assert hunt["open"] == sorted([hunt["port"], *(p for p, _ in nb09.HUNT_COMPANIONS)])
    assert hunt["banners"] == {hunt["port"]: nb09.SSH_BANNER, 21: nb09.FTP_BANNER, 80: b""}
    assert hunt["closed"] is True


def test_without_a_private_loopback_the_hunt_scans_only_its_own_port(monkeypatch):
    monkeypatch.setenv("PORTLAB_PRIVATE_NET", "off")
    hunt = nb09.loopback_hunt()
    assert hunt["private"] is False and hunt["scanned"] == 1 and hunt["open"] == [hunt["port"]]
    assert hunt["banners"] == {hunt["port"]: nb09.SSH_BANNER} and hunt["closed"] and _refused(hunt["port"])
    assert "scanned only the port of the service this notebook started" in hunt["where"]


def test_grab_banners_gives_empty_bytes_for_refused_ports():
    with nb09.BannerService() as service:
        port = service.port
        got = nb09.grab_banners([port])
        assert got[port] == nb09.SSH_BANNER
    assert nb09.grab_banners([port]) == {port: b""}
    with pytest.raises(ValueError):
        nb09.grab_banner(22, host="10.0.0.1")


def test_the_weak_console_falls_to_default_credentials():
    with nb09.ToyAdminConsole() as console:
        tries = nb09.try_defaults(console.port)
        assert tries[-1].success and (tries[-1].user, tries[-1].password) == ("admin", "admin")
        assert nb09.SECRET in tries[-1].answer
        assert all(not t.success and t.answer == "access denied" for t in tries[:-1])


def test_the_fixed_console_refuses_and_locks_but_the_scan_sees_the_same():
    with nb09.ToyAdminConsole() as weak, nb09.ToyAdminConsole(fixed=True) as fixed:
        assert nb09.scan_view(weak.port) == nb09.scan_view(fixed.port) == ("open", "syn-ack")
        tries = nb09.try_defaults(fixed.port)
        assert not any(t.success for t in tries)
        assert tries[-1].answer.startswith("locked")
        # Locked means locked: even the right password no longer works.
        assert nb09.try_login(fixed.port, "admin", fixed.password).startswith("locked")
    with nb09.ToyAdminConsole(fixed=True) as fixed:
        assert nb09.try_login(fixed.port, "admin", "admin") == "access denied"   # no default account
        assert nb09.try_login(fixed.port, "admin", fixed.password).startswith("welcome")


def test_ssh_on_2222_is_found_by_a_full_range_simulated_scan():
    result = portlab.scan("10.77.0.10", "-", "syn", scenario="ssh-2222", keep_trace=False)
    open_ports = [p.port for p in result.hosts[0].ports if p.state.value == "open"]
    assert open_ports == [80, 443, 2222]
    top = portlab.scan("10.77.0.10", "top100", "syn", scenario="ssh-2222", keep_trace=False)
    assert 2222 not in [p.port for p in top.hosts[0].ports]


def test_developer_day_uses_mostly_other_ports_and_the_chart_says_so():
    table = nb09.dev_day_table()
    assert {"22/tcp", "53/udp", "5432/tcp", "3306/tcp", "6379/tcp"} <= set(table["port"])
    assert (table["is it 80 or 443?"] == "no").sum() == 7
    chart = nb09.dev_day_chart()
    assert "7 of the 8 tasks" in chart.text and chart.png()[:4] == b"\x89PNG"


def test_the_troubleshooting_story_times_out_on_5432():
    result = nb09.app_to_database()
    assert result.outcome == "dropped" and result.port == 5432 and result.destination == "192.168.77.20"
    # As shipped (no firewall on db) the same connection works.
    assert nb09.app_to_database("capstone").allowed


@pytest.mark.parametrize("exercise_id", ["09-predict-2222", "09-banner-port", "09-scan-tells", "09-which-service"])
def test_exercises_pass_their_solutions_and_hint_wrong_answers(exercise_id):
    ex = get(exercise_id)
    assert feedback(exercise_id, ex.solution) is None
    wrong = {"09-predict-2222": "filtered", "09-banner-port": 993, "09-scan-tells": "closed",
             "09-which-service": "mysql"}[exercise_id]
    assert feedback(exercise_id, wrong)
    if ex.reveal is not None:
        assert ex.reveal() == ex.solution


# ---- change a value: which fault (09-fault-param) ---------------------------------------------

def test_each_fault_makes_the_application_log_its_own_error():
    dropped = nb09.database_fault("firewall")
    assert dropped.log.startswith("connect ETIMEDOUT 192.168.77.20:5432 (no answer")
    assert dropped.attempt.trace[-1] == "db input: drop (policy)"
    stopped = nb09.database_fault("stopped")
    assert stopped.log == "connect ECONNREFUSED 192.168.77.20:5432 (at once)"
    assert "db: nothing listening on tcp/5432" in stopped.attempt.trace
    assert "answer: RST from 192.168.77.20" in stopped.attempt.trace
    assert nb09.database_fault("none").log == "connected to 192.168.77.20:5432"
    # the shipped scenario is untouched by "stopped": PostgreSQL still listens there
    assert 5432 in load_scenario("capstone").machine("db").tcp


@pytest.mark.parametrize("bad", ["Stopped", "", None, 3])
def test_database_fault_bad_input_is_one_clear_line(bad):
    with pytest.raises(BadInput, match=r"^fault .*expected one of 'firewall', 'stopped', 'none'"):
        nb09.database_fault(bad)


def test_the_fault_exercise_is_what_the_cell_shows_when_stopped():
    ex = get("09-fault-param")
    assert ex.parameter == "fault" and "`fault`" in ex.question and ex.solution in ex.choices
    assert f"connect {ex.solution} " in nb09.database_fault("stopped").log
    assert feedback(ex.id, "econnrefused") is None
    assert "Did you set `fault`" in feedback(ex.id, "ETIMEDOUT")
    assert "fault = \"none\"" in feedback(ex.id, "no error: it connects")
    assert "reachable" in feedback(ex.id, "EHOSTUNREACH")
