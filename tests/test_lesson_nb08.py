"""Notebook 08's helpers against real things: HTTP/HTTPS servers on loopback with a
certificate made at run time, the ssh-2222 scenario, real sockets, a real child process."""

from __future__ import annotations

import socket
import ssl

import pytest

from portlab import privatenet
from portlab.course.exercises import core
from portlab.course.lessons import nb08
from portlab.portspec import parse_ports


@pytest.fixture(scope="module")
def lab():
    with nb08.RedirectLab(hsts_max_age=120) as running:
        yield running
    # after the block, both servers are gone: their ports refuse connections
    for port in (running.http_port, running.https_port):
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_http_redirects_permanently_to_https(lab):
    reply = nb08.fetch(lab.http_url)
    assert reply.status == 301
    assert reply.headers["Location"] == lab.https_url
    assert "Strict-Transport-Security" not in reply.headers


def test_https_needs_the_course_ca(lab):
    error = nb08.fetch_error(lab.https_url)                 # the system's CAs do not know ours
    assert error and "certificate" in error.lower()
    with pytest.raises(ssl.SSLCertVerificationError):
        nb08.fetch(lab.https_url)
    reply = nb08.fetch(lab.https_url, lab.client_context())
    assert reply.status == 200 and "Hello over HTTPS" in reply.body
    assert nb08.parse_hsts(reply.headers["Strict-Transport-Security"])["max_age"] == 120


def test_fetch_only_talks_to_loopback(lab):
    with pytest.raises(ValueError):
        nb08.fetch("http://example.org/")


def test_eavesdropper_reads_http_but_not_https(lab):
    with nb08.Eavesdropper(lab.http_port) as eve:
        assert nb08.fetch(lab.http_url, via=eve.listen_port).status == 301
    assert eve.readable("sent").startswith("GET / HTTP/1.1")
    assert "301 Moved Permanently" in eve.readable("received")
    with nb08.Eavesdropper(lab.https_port) as eve:
        assert nb08.fetch(lab.https_url, lab.client_context(), via=eve.listen_port).status == 200
    assert len(eve.sent) > 100 and b"GET" not in bytes(eve.sent) and b"User-Agent" not in bytes(eve.sent)
    assert b"Hello over HTTPS" not in bytes(eve.received)
    assert bytes(eve.sent)[:1] == b"\x16"                     # a TLS handshake record


def test_browser_follows_the_redirect_then_upgrades_by_itself(lab):
    now = [1000.0]
    browser = nb08.Browser(lab.client_context(), clock=lambda: now[0])
    first = browser.visit(lab.http_url)
    assert first[0].startswith("301") and first[1].startswith("200") and "HSTS" in first[2]
    assert browser.knows("localhost")
    second = browser.visit(lab.http_url)
    assert second[0].startswith("307 Internal Redirect") and second[1] == f"200 OK: {lab.https_url}"
    now[0] += 121                                            # max-age over: plain HTTP again
    assert not browser.knows("localhost")
    assert browser.visit(lab.http_url)[0].startswith("301")


def test_parse_hsts():
    assert nb08.parse_hsts("max-age=31536000; includeSubDomains; preload") == {
        "max_age": 31536000, "include_subdomains": True, "preload": True}


def test_common_ports_miss_2222_a_full_scan_finds_it():
    table = nb08.common_vs_full().set_index("ports_probed")
    assert table.loc[100, "found_2222"] == False            # noqa: E712 (numpy bool)
    assert table.loc[65535, "found_2222"] == True           # noqa: E712
    assert table.loc[65535, "open_ports"] == "80, 443, 2222"
    assert table.loc[65535, "simulated_s"] > table.loc[100, "simulated_s"]


NO_PRIVATE_NET = privatenet.why_not()


@pytest.mark.skipif(NO_PRIVATE_NET is not None, reason=f"no private network namespace here: {NO_PRIVATE_NET}")
def test_hidden_service_live_runs_in_a_private_loopback():
    # A listener on this machine's loopback is none of the private loopback's business.
    with socket.socket() as outside:
        outside.bind(("127.0.0.1", 0))
        outside.listen()
        found = nb08.hidden_service_live()
    assert found["private"] is True and found["where"].startswith("This ran in a private network namespace")
    assert found["found_common"] is False and found["found_full"] is True
    assert found["probed_full"] == 65535 and found["probed_common"] == 100
    assert found["port"] not in parse_ports("top100")
    assert nb08.port_free(found["port"]) is None             # the listener was closed (and was never here)


def test_hidden_service_without_a_private_loopback_runs_on_the_simulator(monkeypatch):
    monkeypatch.setenv("PORTLAB_PRIVATE_NET", "off")
    found = nb08.hidden_service_live()
    assert found["private"] is False and "ran the two scans on the simulator" in found["where"]
    assert found["where"].startswith("No private network namespace here (PORTLAB_PRIVATE_NET=off is set)")
    assert (found["found_common"], found["found_full"]) == (False, True)
    assert (found["probed_common"], found["probed_full"]) == (100, 65535)
    assert found["full_s"] > found["common_s"] > 0            # virtual seconds, a full range costs more


def test_bind_twice_gives_address_in_use():
    result = nb08.bind_twice()
    assert result["errno"] == "EADDRINUSE" and result["message"] == "Address already in use"


def test_find_and_stop_the_process_holding_a_port():
    with nb08.PortHolder() as holder:
        assert nb08.port_free(holder.port) == "EADDRINUSE"
        found = nb08.who_holds(holder.port)
        assert [f["pid"] for f in found] == [holder.pid]
        assert "python" in found[0]["program"] and f"pid={holder.pid}" in nb08.ss_line(found[0])
        assert "stopped" in nb08.stop_holder(holder.pid)
        assert not holder.running()
        assert nb08.port_free(holder.port) is None
        assert nb08.who_holds(holder.port) == []


def test_stop_holder_refuses_a_process_it_did_not_start():
    import os
    with pytest.raises(PermissionError):
        nb08.stop_holder(os.getppid())


def test_holder_is_stopped_when_the_block_fails():
    holder = nb08.PortHolder()
    with pytest.raises(RuntimeError):
        with holder:
            raise RuntimeError("boom")
    assert not holder.running()


def test_time_wait_and_so_reuseaddr():
    plain = nb08.time_wait_demo(server_reuseaddr=False)
    assert "TIME_WAIT" in plain["states"]
    assert plain["rebind"] == "EADDRINUSE" and plain["rebind_reuseaddr"] == "EADDRINUSE"
    careful = nb08.time_wait_demo(server_reuseaddr=True)
    assert "TIME_WAIT" in careful["states"]
    assert careful["rebind"] == "EADDRINUSE" and careful["rebind_reuseaddr"] is None


def test_exercises_solutions_pass_and_wrong_answers_get_hints():
    for ex_id in ("08-predict-port-22", "08-hsts-header", "08-reuseaddr", "08-full-range-ports"):
        assert core.feedback(ex_id, core.get(ex_id).solution) is None
    assert core.get("08-predict-port-22").reveal() == "closed"
    assert "moved" in core.feedback("08-predict-port-22", "open")
    assert core.feedback("08-hsts-header", "strict-transport-security:") is None
    assert "mechanism" in core.feedback("08-hsts-header", "HSTS")
    assert "old server" in core.feedback("08-reuseaddr", core.get("08-reuseaddr").choices[0])
    assert "-p0-" in core.feedback("08-full-range-ports", 65536) and "port 0" in core.feedback("08-full-range-ports", 65536)
    assert "-p- leave out" in core.feedback("08-full-range-ports", 12)
    assert "-p- means 1-65535" in core.get("08-full-range-ports").hints[1]


def test_common_and_full_returns_the_full_result_for_a_port_map():
    table, full = nb08.common_and_full()
    assert full.open_ports("10.77.0.10") == [80, 443, 2222]
    assert sum(full.counts().values()) == table["ports_probed"].iloc[-1] == 65535


# ---- change a value: the server's max-age (08-hsts-max-age-param) -----------------------------

def test_max_age_zero_keeps_the_second_visit_in_plain_text():
    remembered = nb08.hsts_visits(300)
    assert nb08.plain_requests(remembered.first) == 1 and nb08.plain_requests(remembered.second) == 0
    assert remembered.second[0].startswith("307 Internal Redirect (HSTS)")
    forgotten = nb08.hsts_visits(0)
    assert forgotten.second[0].startswith("301 Moved Permanently: http://localhost:")
    assert nb08.plain_requests(forgotten.first) == nb08.plain_requests(forgotten.second) == 1
    assert "max-age=0" in forgotten.first[2]
    assert str(forgotten).splitlines()[-1] == "requests sent in plain text: first visit 1, second visit 1"


def test_max_age_zero_makes_the_browser_forget_a_known_host():
    # RFC 6797 6.1.1: max-age=0 means the host is no longer a Known HSTS Host.
    with nb08.RedirectLab(hsts_max_age=300) as keeps, nb08.RedirectLab(hsts_max_age=0) as drops:
        browser = nb08.Browser(keeps.client_context())
        browser.visit(keeps.https_url)
        assert browser.knows("localhost")
        browser.context = drops.client_context()
        browser.visit(drops.https_url)
        assert not browser.knows("localhost")


@pytest.mark.parametrize("bad", [-1, "300", 1.5, True, None])
def test_hsts_visits_bad_max_age_is_one_clear_line(bad):
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match=r"^max-age .*expected a whole number of seconds") as err:
        nb08.hsts_visits(bad)
    assert "\n" not in str(err.value)


def test_the_max_age_exercise_is_what_the_cell_shows_with_zero():
    ex = core.get("08-hsts-max-age-param")
    assert ex.parameter == "hsts_max_age" and "`hsts_max_age`" in ex.question
    assert ex.solution == nb08.plain_requests(nb08.hsts_visits(0).second)
    assert core.feedback(ex.id, "1") is None
    assert "max-age=300" in core.feedback(ex.id, 0)
    assert "second visit only" in core.feedback(ex.id, 2)
    assert core.feedback(ex.id, "one").startswith("answer with a whole number")
