"""Notebook 10's capstone: the requirement, the learner's rules, the audit (simulated and live)."""

from __future__ import annotations

import pytest
from netlab import netns_skip_reason

from portlab.course.exercises import feedback, get
from portlab.course.lessons import nb10
from portlab.errors import BadInput
from portlab.sim.network import load_scenario

ADMIN = "192.168.77.50"
WEB = "10.77.20.10"


def test_the_requirement_names_every_listening_service_of_the_scenario():
    scn = load_scenario("capstone")
    listening = {(m.name, p, proto) for m in (*scn.hosts, *scn.routers)
                 for proto in ("tcp", "udp") for p in getattr(m, proto)}
    assert {(n.machine, n.port, n.protocol) for n in nb10.REQUIREMENT} == listening
    table = nb10.requirement_table()
    assert len(table) == len(listening)
    assert table.set_index(["machine", "port"]).loc[("db", "5432/tcp"), "who must reach it"] == "web"


def test_as_shipped_the_internet_reaches_every_service():
    result = nb10.audit(None)
    assert not result.passed
    assert len(result.exposed()) == len(nb10.REQUIREMENT)
    assert nb10.exposed_from_internet()[:2] == ["web 80/tcp", "web 443/tcp"]


def test_the_solution_passes_and_the_internet_reaches_only_the_site():
    result = nb10.audit(nb10.SOLUTION)
    assert result.passed, result.report()
    assert [f.need.label for f in result.exposed()] == ["web 80/tcp", "web 443/tcp"]
    assert "PASS" in result.report()
    # Least privilege, not a wall: the admin still reaches db's SSH, web still reaches its database.
    found = {(f.need.label, f.place): f.state for f in result.findings}
    assert found[("db 22/tcp", "ws")] == "open" and found[("db 5432/tcp", "web")] == "open"
    assert found[("db 5432/tcp", "ws")] == "filtered"


def _without(rule_fragment: str) -> str:
    assert rule_fragment in nb10.SOLUTION
    return nb10.SOLUTION.replace(rule_fragment, "")


@pytest.mark.parametrize("rules, label, place, expected, found", [
    # Forgot HTTPS: the site breaks for everyone.
    (nb10.SOLUTION.replace('ports = "80,443"', 'ports = "80"'), "web 443/tcp", "internet", True, "filtered"),
    # SSH from the whole office instead of the admin workstation: db may now log in to web.
    (nb10.SOLUTION.replace('ports = "22,8080", source = "192.168.77.50"',
                           'ports = "22,8080", source = "192.168.77.0/24"'), "web 22/tcp", "db", False, "open"),
    # The database open to all.
    (nb10.SOLUTION.replace(', source = "10.77.20.10"', ''), "db 5432/tcp", "internet", False, "open"),
    # The router left alone: SNMP and its admin page face the Internet.
    (nb10.SOLUTION[:nb10.SOLUTION.index("[core]")], "core 161/udp", "internet", False, "open"),
    # Reject instead of drop is fine for blocking, but an accept-all policy on ws is not.
    (nb10.SOLUTION.replace('[ws]\npolicy = "drop"', '[ws]\npolicy = "accept"'), "ws 3389/tcp", "web", False, "open"),
])
def test_wrong_rule_sets_fail_and_say_port_place_expected_and_found(rules, label, place, expected, found):
    result = nb10.audit(rules)
    assert not result.passed
    bad = {(f.need.label, f.place): f for f in result.failures}
    f = bad[(label, place)]
    assert (f.expected, f.state) == (expected, found)
    line = f.explain()
    port = label.split()[1]
    assert port in line and f"from {place}" in line
    assert ("expected reachable" if expected else "expected blocked") in line and f"found {found}" in line
    assert " ".join(line.split()) in " ".join(result.report().split())


def test_reject_rules_block_as_well_as_drop():
    rules = nb10.SOLUTION.replace('[ws]\npolicy = "drop"',
                                  '[ws]\npolicy = "drop"\nrules = [ { action = "reject", protocol = "tcp" } ]')
    result = nb10.audit(rules)
    assert result.passed, result.report()
    assert {f.state for f in result.findings if f.need.machine == "ws" and f.need.protocol == "tcp"} == {"closed"}


def test_rules_come_as_toml_or_as_firewall_objects_and_errors_name_the_machine():
    fws = nb10.parse_rules(nb10.SOLUTION)
    assert set(fws) == {"web", "db", "ws", "core"} and fws["web"].policy == "drop"
    assert nb10.audit(fws).passed
    with pytest.raises(BadInput, match=r"\[mail\] is not a machine of capstone"):
        nb10.parse_rules('[mail]\npolicy = "drop"')
    with pytest.raises(BadInput, match=r"web.rules\[0\]"):
        nb10.parse_rules('[web]\nrules = [ { protocol = "tcp" } ]')
    with pytest.raises(BadInput, match="TOML syntax error"):
        nb10.parse_rules('[web\npolicy = "drop"')
    # A machine left out keeps its own firewall: web's reject of 23 is still there.
    scn = nb10.apply_rules('[db]\npolicy = "drop"')
    assert scn.machine("web").firewall.rules[0].ports is not None
    assert scn.machine("db").firewall.policy == "drop"


def test_exercises_check_the_audit():
    assert feedback("10-least-privilege", get("10-least-privilege").solution) is None
    hint = feedback("10-least-privilege", nb10.STARTER)
    assert hint and "checks fail" in hint and "expected" in hint
    assert "could not be read" in feedback("10-least-privilege", "[nope]\npolicy='drop'")
    assert get("10-predict-mysql").reveal() == "open"
    assert feedback("10-internet-needs", 13) and feedback("10-internet-needs", 2) is None


def test_chart_and_widget():
    chart = nb10.audit_chart(nb10.audit(nb10.SOLUTION))
    assert chart.png("dark")[:4] == b"\x89PNG" and "as the requirement says" in chart.text
    bad = nb10.audit_chart(nb10.audit(None))
    assert bad.data["db 5432/tcp"]["internet"] == {"found": "open", "expected": False, "ok": False}
    assert bad.data["db 5432/tcp"]["db"] is None and "30 cells differ" in bad.text
    box = nb10.rules_box()
    area, button, out = box.children
    area.value = nb10.SOLUTION
    button.click()
    assert "PASS" in out.value
    area.value = "[web"
    button.click()
    assert "could not be read" in out.value
    area.value = nb10.STARTER
    button.click()                                  # failures as a list that wraps between words
    assert "<pre" not in out.value and "word-break:normal" in out.value and out.value.count("<li>") == 30


@pytest.mark.netns
@pytest.mark.skipif(netns_skip_reason() is not None, reason=netns_skip_reason() or "")
def test_live_audit_agrees_with_the_simulator():
    for rules in (None, nb10.SOLUTION):
        live = nb10.live_audit(rules)
        sim = nb10.audit(rules)
        assert [(f.need.label, f.place, f.reachable) for f in live.findings] == \
               [(f.need.label, f.place, f.reachable) for f in sim.findings]
    assert live.passed and live.mode == "live lab"


def test_the_simulated_scan_agrees_with_the_live_lab_recording():
    import portlab
    targets = ["10.77.20.10", "192.168.77.20", "192.168.77.50", "10.77.0.254"]
    tcp = portlab.scan(targets, "1-10000", "syn", scenario="capstone", keep_trace=False)
    udp = portlab.scan(targets, "137,161", "udp", scenario="capstone", keep_trace=False)
    same = nb10.compare_with_recording(tcp, udp)
    assert same["same"] and len(same["recorded"]) == len(nb10.REQUIREMENT)
    # With the least-privilege rules the simulator no longer matches the (as shipped) recording.
    fixed = portlab.scan(targets, "1-10000", "syn", scenario=nb10.apply_rules(nb10.SOLUTION), keep_trace=False)
    assert not nb10.compare_with_recording(fixed)["same"]


# ---- the report: once, short before any rule, wrapped between words ------------------------------

def test_before_any_rule_the_report_is_a_short_summary():
    shipped = nb10.audit(None)
    lines = shipped.report().splitlines()
    assert lines[0] == "FAIL (sim): 30 of 42 checks differ from the requirement:"   # notebook 10's checked line
    assert len(lines) <= 5 and "30 EXPOSED" in lines[1] and "No rules of yours yet" in shipped.report()
    assert all(len(line) <= nb10.WIDTH for line in lines)
    shown = shipped._repr_html_()
    assert shown.count("<li>") == 30 and "<details>" in shown        # the list stays one click away


def test_the_report_wraps_at_word_boundaries_and_keeps_every_word():
    result = nb10.audit(nb10.STARTER)
    assert result.rules_given and len(result.failures) == 30
    text = result.report()
    assert all(len(line) <= nb10.WIDTH for line in text.splitlines()), max(map(len, text.splitlines()))
    words = text.split()
    for f in result.failures:           # each failure's words, whole and in order: none cut in two
        said = f.explain().split()
        assert any(words[i:i + len(said)] == said for i in range(len(words))), f.explain()
    shown = result._repr_html_()
    assert "word-break:normal" in shown and shown.count("<li>") == 30 and "<pre" not in shown


def test_the_live_cell_says_agreement_in_one_line_instead_of_the_report_again():
    sim = nb10.audit(nb10.STARTER)
    line = nb10.agreement(sim, sim)
    assert "\n" not in line and "agree on all 42 checks" in line and line.startswith("FAIL (sim): 30 of 42")
    flipped = nb10.Audit(tuple(nb10.Finding(f.need, f.place, f.address, "filtered", "no-response")
                               if (f.need.label, f.place) == ("web 80/tcp", "internet") else f
                               for f in sim.findings), "live lab", True)
    assert "differ on 1 checks: web 80/tcp from internet: live blocked" in nb10.agreement(flipped, sim)


# ---- change a value: how wide is a source? (10-admin-source-param) -----------------------------

def _verdicts(admin_source):
    lines = nb10.ssh_source_audit(admin_source).splitlines()
    return {line.split()[1]: line.split()[-1] for line in lines[1:]}


def test_one_address_is_least_privilege_a_network_lets_in_its_neighbours():
    assert _verdicts(ADMIN) == {"internet": "ok", "db": "ok", "ws": "ok"}
    assert _verdicts("192.168.77.0/24") == {"internet": "ok", "db": "EXPOSED", "ws": "ok"}
    assert _verdicts("0.0.0.0/0") == {"internet": "EXPOSED", "db": "EXPOSED", "ws": "ok"}
    assert _verdicts("10.77.0.0/16") == {"internet": "EXPOSED", "db": "ok", "ws": "MISSING"}
    head = nb10.ssh_source_audit(ADMIN).splitlines()[0]
    assert head == "web 22/tcp (SSH), accepted only from 192.168.77.50; must reach it: ws"


@pytest.mark.parametrize("bad", ["office", "192.168.77.0/33", 5, None])
def test_ssh_source_audit_bad_source_is_one_clear_line(bad):
    with pytest.raises(BadInput, match=r"^admin_source .*expected an IPv4 address or network") as err:
        nb10.ssh_source_audit(bad)
    assert "\n" not in str(err.value)


def test_the_admin_source_exercise_is_what_the_cell_shows_for_the_office_network():
    ex = get("10-admin-source-param")
    assert ex.parameter == "admin_source" and "`admin_source`" in ex.question and ex.solution in ex.choices
    exposed = [place for place, verdict in _verdicts("192.168.77.0/24").items() if verdict == "EXPOSED"]
    assert exposed == [ex.solution]
    assert feedback(ex.id, " DB ") is None
    assert "its line says ok" in feedback(ex.id, "ws")
    assert "Did you set `admin_source`" in feedback(ex.id, "nobody")
    assert "0.0.0.0/0" in feedback(ex.id, "internet")
