"""Notebook 05's helpers (portlab.course.lessons.nb05) and exercises, on real simulated scans."""

from __future__ import annotations

import pytest

from portlab.course.exercises import core
from portlab.course.lessons import nb05
from portlab.errors import BadInput

# docs/design.md's measured table (nmap 7.93 against Linux), the rows the notebook reproduces by a scan.
DESIGN_TABLE = {
    "drop": ("filtered (no-response)", "filtered (no-response)", "open|filtered (no-response)"),
    "reject (port-unreachable, the default)": ("closed (conn-refused)", "filtered (port-unreach)",
                                               "closed (port-unreach)"),
    "reject with tcp-reset": ("closed (conn-refused)", "closed (reset)", "–"),
    "reject with host-unreachable": ("filtered (host-unreach)",) * 3,
    "reject with admin-prohibited": ("filtered (host-unreach)", "filtered (admin-prohibited)",
                                     "filtered (admin-prohibited)"),
    "reject with net-unreachable": ("filtered (net-unreach)",) * 3,
    "reject with host-prohibited": ("filtered (host-unreach)", "filtered (host-prohibited)",
                                    "filtered (host-prohibited)"),
    "reject with net-prohibited": ("filtered (net-unreach)", "filtered (net-prohibited)",
                                   "filtered (net-prohibited)"),
    "reject with prot-unreachable": ("filtered (proto-unreach)",) * 3,
    "no rule, service listening": ("open (syn-ack)", "open (syn-ack)", "open (udp-response)"),
    "no rule, nothing listening": ("closed (conn-refused)", "closed (reset)", "closed (port-unreach)"),
}


@pytest.fixture(scope="module")
def table():
    return nb05.sim_action_table()


def test_the_scan_reproduces_design_md_row_by_row(table):
    assert list(table.columns) == ["connect", "syn", "udp"]
    assert list(table.index) == list(DESIGN_TABLE)
    for label, row in DESIGN_TABLE.items():
        assert tuple(table.loc[label]) == row, label


def test_action_ports_come_from_the_scenario():
    rows = {label: (tcp, udp) for label, tcp, udp in nb05.action_ports()}
    assert rows["drop"] == (9000, 9000)
    assert rows["reject with tcp-reset"] == (9002, None)      # tcp-reset exists for TCP only
    assert rows[nb05.LISTENING] == (80, 53) and rows[nb05.NOTHING] == (81, 54)


def test_compare_tables_finds_a_difference(table):
    assert nb05.compare_tables(table, table).empty
    live = table.copy()
    live.loc["drop", "udp"] = "closed (port-unreach)"
    diff = nb05.compare_tables(table, live)
    assert diff.to_dict("records") == [{"rule on the target": "drop", "scan": "udp",
                                        "simulator": "open|filtered (no-response)",
                                        "live lab": "closed (port-unreach)"}]


def test_action_chart_colours_cells_by_state(table):
    chart = nb05.action_chart(table)
    assert "reject with tcp-reset: connect closed (conn-refused); syn closed (reset)" in chart.text
    for theme in ("light", "dark"):
        assert chart.png(theme)[:8] == b"\x89PNG\r\n\x1a\n"
    ax = chart.figure().axes[0]
    from portlab.course.theme import STATE_COLOURS
    import matplotlib.colors as mc
    fills = {mc.to_hex(p.get_facecolor()) for p in ax.patches}
    assert {STATE_COLOURS[s].lower() for s in ("open", "closed", "filtered", "open|filtered")} <= fills


def test_ssh_only_from_the_admin():
    frame = nb05.reachability("web-server", "10.77.0.10", [22, 80, 443, 3306],
                              {"outsider": "10.77.0.1", "admin": "admin"})
    assert frame.loc[22].to_dict() == {"outsider": "filtered", "admin": "open"}
    assert frame.loc[443].to_dict() == {"outsider": "open", "admin": "open"}
    assert frame.loc[3306].to_dict() == {"outsider": "filtered", "admin": "filtered"}


def test_move_scanner_replaces_the_host_it_stands_for_and_finds_a_gateway():
    s = nb05.move_scanner("web-server", "admin")
    assert str(s.scanner.address) == "10.77.0.5" and "admin" not in [h.name for h in s.hosts]
    nsg = nb05.move_scanner("cloud-nsg", "10.77.10.9")            # inside the VNet, behind the router
    assert nsg.scanner.network == "vnet" and str(nsg.scanner.gateway) == "10.77.10.1"
    with pytest.raises(BadInput, match="not on any network"):
        nb05.move_scanner("web-server", "192.168.1.1")


def test_deciding_rule_names_the_rule():
    assert nb05.deciding_rule("web-server", "web", "10.77.0.5", 22) == "accept (rules[1] ssh for the admin only)"
    assert nb05.deciding_rule("web-server", "web", "10.77.0.1", 22) == "drop (policy)"
    assert "known C&C" in nb05.deciding_rule("web-server", "web", "203.0.113.66", 4444, direction="out")


def test_outbound_rules_stop_the_cc_ports_only():
    frame = nb05.outbound_table(nb05.with_internet("web-server"), "web",
                                [("203.0.113.66", 4444), ("203.0.113.66", 443), ("198.51.100.7", 443)])
    assert list(frame["outcome"]) == ["dropped", "allowed", "allowed"]
    assert frame.loc[0, "waits (s)"] == 127.0 and "known C&C" in frame.loc[0, "decided by"]
    # Without the uplink there is no route out at all: the rules would not be what stops it.
    assert nb05.outbound_table("web-server", "web", [("203.0.113.66", 443)]).loc[0, "errno"] == "ENETUNREACH"


def test_stateful_firewall_lets_the_reply_in_stateless_does_not():
    s = nb05.with_host("web-server", "updates", "10.77.0.20", tcp=[443])
    frame = nb05.stateful_comparison(s, "web", "10.77.0.20", 443)
    assert list(frame["got back in"]) == [True, False]
    assert frame.loc[1, "the reply met"] == "drop (policy)"
    _, net = nb05.connect_out(s, "web", "10.77.0.20", 443)
    flows = nb05.flows_frame(net, "web")
    assert flows.to_dict("records") == [{"protocol": "tcp", "original direction": "10.77.0.10:41000 > 10.77.0.20:443",
                                         "state": "ESTABLISHED", "expires in (s)": 432000.0}]


def test_with_firewall_changes_only_what_is_given():
    s = nb05.with_firewall("web-server", "web", policy="accept")
    fw = s.machine("web").firewall
    assert fw.policy == "accept" and len(fw.rules) == 2 and fw.output[0].name == "known C&C server"
    assert nb05.scenario("web-server").machine("web").firewall.policy == "drop"   # the shipped one is untouched
    with pytest.raises(BadInput, match="needs an action"):
        nb05.as_rule({"protocol": "tcp"})


def test_policy_check_explains_each_failing_port():
    assert nb05.policy_failures(nb05.policy_solution()) == []
    everything_open = [{"action": "accept", "protocol": "tcp", "ports": "22,80,443,3306"}]
    failures = nb05.policy_failures(everything_open)
    assert any(f.startswith("22/tcp from outsider 10.77.0.1 is open but must be filtered") for f in failures)
    assert any("8080/tcp" in f and "closed (reset)" in f and "default-deny" in f for f in failures)
    rejecting = {"policy": "drop", "rules": [*nb05.policy_solution()["rules"],
                                             {"action": "reject", "protocol": "tcp", "ports": "8080"}]}
    [only] = nb05.policy_failures(rejecting)[:1]
    assert "8080/tcp from outsider" in only and "must be filtered" in only


@pytest.mark.parametrize("exercise_id", ["05-predict-reject", "05-reset-looks-closed", "05-cc-on-443",
                                         "05-web-policy"])
def test_solutions_pass_and_wrong_answers_get_hints(exercise_id):
    ex = core.get(exercise_id)
    assert core.feedback(exercise_id, ex.solution) is None
    wrong = {"05-predict-reject": "filtered", "05-reset-looks-closed": "port-unreachable",
             "05-cc-on-443": "dropped", "05-web-policy": [{"action": "accept"}]}[exercise_id]
    hint = core.feedback(exercise_id, wrong)
    assert hint and len(hint) > 20


def test_predict_reveal_runs_the_scan():
    assert core.get("05-predict-reject").reveal() == "closed"
    assert core.get("05-cc-on-443").solution == "allowed"


def _netns_skip():
    from netlab import netns_skip_reason
    return netns_skip_reason()


@pytest.mark.netns
@pytest.mark.skipif(_netns_skip() is not None, reason=_netns_skip() or "")
def test_live_lab_shows_the_same_table(table):
    live, seconds = nb05.live_action_table()
    assert nb05.compare_tables(table, live).empty, nb05.compare_tables(table, live)
    assert seconds > 0


def test_the_firewall_editor_is_an_answer():
    from portlab.course.widgets.firewall_editor import firewall_editor

    editor = firewall_editor(nb05.policy_start(), "web")
    assert editor.policy.value == "accept" and len(editor.rows) == 1
    hint = core.feedback("05-web-policy", editor)
    assert hint and "policy (accept) lets it in" in hint
    solution = nb05.policy_solution()
    editor.set_rules(solution["rules"], policy=solution["policy"])
    assert core.feedback("05-web-policy", editor) is None
    editor.rows[1].fields["ports"].value = "70000"          # a typo in the editor: the reader's one line
    assert "70000" in core.feedback("05-web-policy", editor)


def _notebook_sources(name):
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks" / name).read_text())
    return nb, ["".join(c["source"]) for c in nb["cells"]]


def test_notebook_asks_before_it_shows():
    nb, sources = _notebook_sources("05-firewalls.ipynb")
    first_code = next(s for c, s in zip(nb["cells"], sources) if c["cell_type"] == "code")
    assert "show_mode(" in first_code
    # Only the cells nbval checks keep a (reference) output.
    assert all(not c.get("outputs") for c in nb["cells"]
               if c["cell_type"] == "code" and "nbval-check-output" not in c["metadata"].get("tags", []))

    def at(text):
        return next(i for i, s in enumerate(sources) if text in s)
    assert at('ask("05-predict-reject")') < at("sim_action_table(")
    assert at('ask("05-cc-on-443")') < at('("203.0.113.66", 443)')
    assert at('check("05-web-policy"') > at("firewall_editor(")
    assert sum('ask("05-' in s or 'check("05-' in s for s in sources) >= 4
    assert "06-cloud-firewalls.ipynb" in next(s for s in reversed(sources) if "## Summary" in s)


# ---- change a value: where a new rule goes (05-place-param) -------------------------------------

ANYONE, ADMIN = "from 10.77.0.1 (anyone)", "from 10.77.0.5 (admin)"
NO_SSH = {"action": "drop", "protocol": "tcp", "ports": "22", "name": "no ssh for anyone"}


def _ssh_view(place):
    default_allow = nb05.with_firewall("web-server", "web", policy="accept")
    patched = nb05.with_rule_at(default_allow, "web", NO_SSH, place)
    return nb05.port_view(patched, "web", "10.77.0.10", 22, {ANYONE: "10.77.0.1", ADMIN: "10.77.0.5"})


def test_a_drop_at_the_bottom_shuts_the_others_out_and_at_the_top_the_admin_too():
    bottom = _ssh_view("bottom")
    assert bottom["state"].to_dict() == {ANYONE: "filtered", ADMIN: "open"}
    assert bottom.loc[ANYONE, "decided by"] == "drop (rules[2] no ssh for anyone)"
    assert bottom.loc[ADMIN, "decided by"] == "accept (rules[1] ssh for the admin only)"
    top = _ssh_view("top")
    assert top["state"].to_dict() == {ANYONE: "filtered", ADMIN: "filtered"}
    assert set(top["reason"]) == {"no-response"}
    assert set(top["decided by"]) == {"drop (rules[0] no ssh for anyone)"}
    # the shipped scenario is untouched
    assert [r.name for r in nb05.scenario("web-server").machine("web").firewall.rules] == \
        ["web for everyone", "ssh for the admin only"]


@pytest.mark.parametrize("bad", ["middle", "Top", None, 0])
def test_with_rule_at_bad_place_is_one_clear_line(bad):
    with pytest.raises(BadInput, match=r'^place .*: expected "top" or "bottom"$'):
        nb05.with_rule_at("web-server", "web", NO_SSH, bad)


def test_the_place_exercise_is_what_the_cell_shows_at_the_top():
    ex = core.get("05-place-param")
    assert ex.parameter == "place" and "`place`" in ex.question and ex.solution in ex.choices
    assert _ssh_view("top").loc[ADMIN, "state"] == ex.solution
    assert core.feedback(ex.id, "Filtered") is None
    assert "bottom" in core.feedback(ex.id, "open")
    assert "reset" in core.feedback(ex.id, "closed")
    assert "UDP" in core.feedback(ex.id, "open|filtered")
