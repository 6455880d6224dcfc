"""The firewall and NAT part of the teaching layer: charts built from real simulated
results, widgets driven through their controls, checked for what a learner sees."""

from __future__ import annotations

import re

import matplotlib.colors
import pytest
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.text import Text

from portlab import scan
from portlab.course.charts import firewall as fwcharts
from portlab.course.charts import nat as natcharts
from portlab.course.theme import DARK, LIGHT, contrast
from portlab.course.widgets.firewall_editor import apply_rules, edited_scenario, firewall_editor, rules_of
from portlab.course.widgets.nat_explorer import NatLab, findings, nat_explorer
from portlab.errors import BadInput
from portlab.sim.experiments import nat_table_after

PNG = b"\x89PNG\r\n\x1a\n"


def _decided_index(sim_decision: str):
    """The rule index the simulator's packet walk names: "drop (rules[3] name)" -> 3, "(policy)" -> None."""
    found = re.search(r"\((rules\[(\d+)\]|policy)", sim_decision)
    assert found, sim_decision
    return int(found.group(2)) if found.group(2) is not None else None


def _text_contrast_problems(fig, background: str) -> list[str]:
    """Texts whose colour does not reach 4.5:1 against what is behind them: the fill named
    in the text's gid ("on:#rrggbb"), else the page background."""
    problems = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip():
            continue
        colour = matplotlib.colors.to_hex(text.get_color())
        gid = text.get_gid() or ""
        behind = gid[3:] if gid.startswith("on:") else background
        ratio = contrast(colour, behind)
        if ratio < 4.5:
            problems.append(f"{text.get_text()!r}: {colour} on {behind} = {ratio:.2f}")
    return problems


def _render_both(chart, tmp_path, name):
    for theme in (LIGHT, DARK):
        path = tmp_path / f"{name}-{theme.name}.png"
        chart.save(str(path), theme.name)
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000
    fig = chart.figure("dark")
    fig.canvas.draw()          # lay out tick labels so that every text exists
    assert _text_contrast_problems(fig, DARK.background) == []
    return fig


# ---- firewall evaluation ---------------------------------------------------------------------

CASES = [("web-server", None), ("cloud-sg", None), ("cloud-nsg", None), ("single-host", None),
         ("capstone", "web"), ("home-nat", "router")]


@pytest.mark.parametrize("scenario,host", CASES)
def test_evaluation_names_the_rule_the_simulator_applied(scenario, host):
    rows = fwcharts.evaluation(scenario, host=host)
    assert rows
    for row in rows:
        assert row["reached"] and row["sim_decision"], row
        assert _decided_index(row["sim_decision"]) == row["rule_index"], row
        assert row["sim_decision"].startswith(row["verdict"]) or row["sim_decision"].startswith("reject")


@pytest.mark.parametrize("scenario,host", CASES)
def test_evaluation_states_are_what_a_real_simulated_scan_reports(scenario, host):
    rows = [r for r in fwcharts.evaluation(scenario, host=host) if r["sender"] == "scanner"]
    sc, machine = fwcharts.resolve(scenario, host)
    target = fwcharts.target_address(sc, machine)
    for scan_type in ("connect", "syn", "udp"):
        asked = [r for r in rows if r[scan_type] is not None and r["source"] == str(sc.scanner.address)]
        if not asked:
            continue
        result = scan(str(target), sorted({r["port"] for r in asked}), scan_type, scenario=sc, keep_trace=False)
        seen = {p.port: (str(p.state), p.reason) for p in result.hosts[0].ports}
        for row in asked:
            assert seen[row["port"]] == (row[scan_type], row[f"{scan_type}_reason"]), row


def test_source_matters_admin_reaches_ssh_and_the_scanner_does_not():
    rows = fwcharts.evaluation("web-server", [(22, "tcp", None), (22, "tcp", "10.77.0.5")])
    assert [r["sender"] for r in rows] == ["scanner", "admin"]
    assert [(r["rule_index"], r["connect"]) for r in rows] == [(None, "filtered"), (1, "open")]
    # an address nobody holds on the scenario's network: the scanner is moved there
    moved = fwcharts.evaluation("cloud-sg", [(22, "tcp", "10.77.0.70")])[0]
    assert (moved["rule_index"], moved["syn"], moved["sim_decision"].startswith("accept")) == (0, "open", True)


def test_azure_defaults_decide_what_no_written_rule_matches():
    rows = {(r["port"], r["source"]): r for r in fwcharts.evaluation(
        "cloud-nsg", [(22, "tcp", None), (8443, "tcp", None), (22, "tcp", "10.77.10.9")])}
    assert rows[(22, "10.77.0.1")]["priority"] == 65500 and rows[(22, "10.77.0.1")]["name"] == "DenyAllInBound"
    # deny at 200 hides the allow for 8443 at 300: first match by priority
    assert rows[(8443, "10.77.0.1")]["priority"] == 200 and rows[(8443, "10.77.0.1")]["syn"] == "filtered"
    assert rows[(22, "10.77.10.9")]["name"] == "AllowVnetInBound" and rows[(22, "10.77.10.9")]["syn"] == "open"


# docs/design.md's measured table: rule -> (connect, SYN, UDP) as (state, reason); single-host
# puts each rule on port 9000 + n, for TCP and for UDP.
DESIGN_TABLE = {
    9000: (("filtered", "no-response"), ("filtered", "no-response"), ("open|filtered", "no-response")),
    9001: (("closed", "conn-refused"), ("filtered", "port-unreach"), ("closed", "port-unreach")),
    9002: (("closed", "conn-refused"), ("closed", "reset"), None),
    9003: (("filtered", "host-unreach"), ("filtered", "host-unreach"), ("filtered", "host-unreach")),
    9004: (("filtered", "host-unreach"), ("filtered", "admin-prohibited"), ("filtered", "admin-prohibited")),
    9005: (("filtered", "net-unreach"), ("filtered", "net-unreach"), ("filtered", "net-unreach")),
    9006: (("filtered", "host-unreach"), ("filtered", "host-prohibited"), ("filtered", "host-prohibited")),
    9007: (("filtered", "net-unreach"), ("filtered", "net-prohibited"), ("filtered", "net-prohibited")),
    9008: (("filtered", "proto-unreach"), ("filtered", "proto-unreach"), ("filtered", "proto-unreach")),
}


def test_evaluation_reproduces_designs_measured_firewall_table():
    probes = [(p, "tcp") for p in DESIGN_TABLE] + [(p, "udp") for p, row in DESIGN_TABLE.items() if row[2]]
    rows = fwcharts.evaluation("single-host", probes)
    for row in rows:
        connect, syn, udp = DESIGN_TABLE[row["port"]]
        if row["protocol"] == "tcp":
            assert (row["connect"], row["connect_reason"]) == connect, row
            assert (row["syn"], row["syn_reason"]) == syn, row
        else:
            assert (row["udp"], row["udp_reason"]) == udp, row
        assert row["rule_index"] is not None     # every one of these ports has its own rule


@pytest.mark.parametrize("scenario", ["web-server", "single-host", "cloud-sg", "cloud-nsg"])
def test_chart_highlights_the_simulators_decision(scenario, tmp_path):
    chart = fwcharts.firewall_evaluation(scenario)
    fig = chart.figure("dark")   # the gallery test saves PNGs in both themes; here the content
    highlighted = {}
    for patch in fig.findobj(Rectangle):
        gid = patch.get_gid() or ""
        if gid.startswith("decision:"):
            _, column, index = gid.split(":")
            highlighted[int(column)] = None if index == "None" else int(index)
    assert len(highlighted) == len(chart.data)
    for column, row in enumerate(chart.data):
        assert highlighted[column] == _decided_index(row["sim_decision"])
    # one state cell per probe and scan type that can ask it
    states = [p for p in fig.findobj(Rectangle) if (p.get_gid() or "").startswith("state:")]
    assert len(states) == sum(r[s] is not None for r in chart.data for s in ("connect", "syn", "udp"))
    assert chart.text.startswith("Firewall of") and str(chart.data[0]["port"]) in chart.text


def test_evaluation_of_a_bare_host_and_bad_probes():
    from portlab.scenario import Firewall, Host, Rule
    host = Host("box", "192.168.77.10", "lan", tcp=[22, 80],
                firewall=Firewall(policy="drop", rules=(Rule("accept", "tcp", "80"),)))
    rows = fwcharts.evaluation(host, [80, "22/tcp"])
    assert [(r["port"], r["rule_index"], r["connect"]) for r in rows] == [(80, 0, "open"), (22, None, "filtered")]
    with pytest.raises(BadInput):
        fwcharts.evaluation("web-server", [(70000, "tcp")])
    with pytest.raises(BadInput):
        fwcharts.evaluation("web-server", [(22, "sctp")])


# ---- NAT charts ---------------------------------------------------------------------------------

def test_nat_diagram_has_one_row_per_mapping(tmp_path):
    table = nat_table_after("home-nat", [("laptop", "203.0.113.10", 443, "tcp", 50000),
                                         ("laptop", "198.51.100.7", 443, "tcp", 50000),   # same mapping (EIM)
                                         ("printer", "203.0.113.10", 443, "tcp", 50000),  # port taken: 50001
                                         ("nas", "203.0.113.53", 53, "udp", 41000)])
    chart = natcharts.nat_table(table)
    mappings = {(e.protocol, e.inside, e.outside) for e in table.entries()}
    assert len(table.entries()) == 4 and len(mappings) == 3 and len(chart.data) == 3
    assert [r["peers"] for r in chart.data][0] == ["203.0.113.10:443", "198.51.100.7:443"]
    assert chart.data[1]["outside"] == "10.77.0.2:50001" and chart.data[1]["inside_name"] == "printer"
    fig = _render_both(chart, tmp_path, "nat-table")
    rows_drawn = {p.get_gid() for p in fig.findobj(FancyBboxPatch) if (p.get_gid() or "").startswith("mapping:")}
    assert len(rows_drawn) == 3
    drawn = [t.get_text() for t in fig.findobj(Text)]
    assert "10.77.0.2:50001" in drawn and "printer 192.168.77.30:50000" in drawn
    empty = natcharts.nat_table(nat_table_after("home-nat", []))
    assert empty.data == [] and "empty" in empty.text
    _render_both(empty, tmp_path, "nat-empty")


def test_nat_before_after_shows_exactly_the_forward(tmp_path):
    chart = natcharts.nat_before_after("home-nat", "home-nat-forward")
    rows = chart.data["rows"]
    assert [(r["port"], r["before"], r["after"], r["leads_to"]) for r in rows] == \
        [(8080, "filtered", "open", "192.168.77.20:80")]
    assert chart.data["others"]["count"] > 1000 and chart.data["others"]["after"] == "filtered (no-response)"
    fig = _render_both(chart, tmp_path, "nat-before-after")
    cells = sorted(p.get_gid() for p in fig.findobj(Rectangle) if ":" in (p.get_gid() or ""))
    assert cells == ["after:8080:open", "before:8080:filtered"]
    # the same change given as a forward to add
    added = natcharts.before_after("home-nat", forwards=[("tcp", 2222, "192.168.77.10:22")], ports=[22, 2222])
    assert [(r["port"], r["after"]) for r in added["rows"]] == [(2222, "open")]


@pytest.mark.parametrize("module", [fwcharts, natcharts])
def test_galleries_render_in_both_themes(module, tmp_path):
    charts = module.gallery()
    assert len(charts) >= 2
    for name, chart in charts.items():
        assert chart.text and chart.title
        _render_both(chart, tmp_path, name)


# ---- the firewall editor ----------------------------------------------------------------------

def test_editor_apply_changes_states_and_names_the_deciding_rule():
    editor = firewall_editor("web-server", "web")
    assert [r["ports"] for r in editor.rules] == ["80,443", "22"]
    editor.rows[1].fields["source"].value = ""          # SSH for everyone
    editor.apply_button.click()
    assert editor.message.value == ""
    ssh = next(r for r in editor.diff if r["port"] == 22)
    assert (ssh["before"], ssh["after"], ssh["changed"]) == ("filtered", "open", True)
    assert ssh["rule_before"] == "policy" and ssh["rule"].startswith("#1 accept tcp 22")
    assert "filtered" in editor.result.value and "#1 accept tcp 22" in editor.result.value
    assert "1 of 4 port checks changed" in editor.result.value

    # a reject with tcp reset on 80, seen by a SYN scan
    row = editor.rows[0]
    row.fields["ports"].value = "80"
    row.fields["action"].value = "reject"
    assert row.fields["with"].layout.visibility == "visible"
    row.fields["with"].value = "tcp-reset"
    editor.scan_type.value = "syn"
    editor.apply_button.click()
    states = {r["port"]: (r["after"], r["after_reason"], r["rule"]) for r in editor.diff}
    assert states[80][:2] == ("closed", "reset") and states[80][2].startswith("#0 reject with tcp-reset")
    assert states[443][:2] == ("filtered", "no-response") and states[443][2] == "policy"


@pytest.mark.parametrize("field,value,expected", [
    ("ports", "70000", "web-server: hosts[0].firewall.rules[0].ports: port 70000 is out of range"),
    ("source", "10.77.0.5/24", "hosts[0].firewall.rules[0].source"),
    ("ports", "80-", "hosts[0].firewall.rules[0].ports"),
])
def test_editor_bad_rule_gives_the_readers_one_line(field, value, expected):
    editor = firewall_editor()
    editor.rows[0].fields[field].value = value
    editor.apply_button.click()                   # no exception reaches the learner
    assert expected in editor.message.value and "Not applied" in editor.message.value
    assert "Traceback" not in editor.message.value and "\n" not in editor.error
    assert editor.diff == []
    with pytest.raises(BadInput):
        editor.edited()


def test_editor_tcp_reset_needs_tcp_and_wrong_action_is_named():
    editor = firewall_editor()
    row = editor.rows[0]
    row.fields["action"].value = "reject"
    row.fields["protocol"].value = ""
    row.fields["with"].value = "tcp-reset"
    editor.apply_button.click()
    assert "rules[0].with: tcp-reset needs protocol" in editor.message.value
    editor.add_rule(action="allow")               # an Azure word in an nftables editor
    row.fields["protocol"].value = "tcp"
    editor.apply_button.click()
    assert "rules[2].action" in editor.message.value


def test_editor_rows_add_remove_move_and_policy_for_an_exercise_check():
    editor = firewall_editor()
    editor.add_button.click()
    assert len(editor.rows) == 3 and editor.rules[2] == {"action": "accept", "protocol": "tcp"}
    editor.rows[2].fields["ports"].value = "3306"
    editor.rows[2].fields["action"].value = "drop"
    editor.rows[2].up.click()
    assert [r["ports"] for r in editor.rules] == ["80,443", "3306", "22"]
    assert "rules[1]" in editor.rows[1].label.value
    editor.rows[0].remove.click()
    assert [r["ports"] for r in editor.rules] == ["3306", "22"]
    editor.rows[0].up.click()                     # already first: nothing moves
    assert [r["ports"] for r in editor.rules] == ["3306", "22"]
    editor.policy.value = "accept"
    scenario = editor.edited()
    fw = scenario.machine("web").firewall
    assert fw.policy == "accept" and [str(r.ports) for r in fw.rules] == ["3306", "22"]
    assert [str(r.ports) for r in fw.output] == ["4444,6667"]    # outbound rules stay
    # a rescan checks a stated policy: "only 443 open to the scanner"
    editor.set_rules([{"action": "accept", "protocol": "tcp", "ports": "443"}], policy="drop")
    rows = editor.apply()
    assert {r["port"]: r["after"] for r in rows} == {22: "filtered", 80: "filtered", 443: "open", 3306: "filtered"}


def test_editor_cloud_styles():
    nsg = firewall_editor("cloud-nsg", "vm")
    assert nsg.style == "azure-nsg" and [r["priority"] for r in nsg.rules] == [100, 110, 200, 300, 4000]
    assert nsg.policy.layout.display == "none"
    nsg.rows[3].fields["priority"].value = 150      # allow 8443 before the deny at 200
    nsg.apply_button.click()
    row = next(r for r in nsg.diff if r["port"] == 8443)
    assert (row["before"], row["after"]) == ("filtered", "open") and row["rule"].startswith("150 AllowAppTLS")
    nsg.rows[0].fields["priority"].value = 150       # two rules at 150
    nsg.apply_button.click()
    assert "priority 150 is already used" in nsg.message.value

    sg = firewall_editor("cloud-sg", "vm")
    assert sg.style == "aws-sg" and "action" not in sg.rules[0]
    sg.add_rule(protocol="tcp", ports="5432", source="10.77.0.0/24")
    sg.apply_button.click()
    row = next(r for r in sg.diff if r["port"] == 5432)
    assert (row["before"], row["after"]) == ("filtered", "open")

    # one policy three ways: web-server's rules as a security group and as an NSG
    style, policy, rules = rules_of("web-server", "web", "aws-sg")
    assert (style, policy, len(rules)) == ("aws-sg", "drop", 2)
    for style in ("aws-sg", "azure-nsg"):
        _, _, rules = rules_of("web-server", "web", style)
        rows = apply_rules("web-server", "web", rules, ("syn",), [80, 443], style=style)
        assert all(r["after"] == "open" for r in rows)
    assert edited_scenario("cloud-nsg", "vm", rules_of("cloud-nsg", "vm", "nftables")[2],
                           style="nftables").machine("vm").firewall.style == "nftables"



def _plain(html_text: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html_text).replace("&quot;", '"').split())


def test_editor_says_where_the_rescan_comes_from_and_rescans_from_the_admin():
    from portlab.course.lessons import nb05
    editor = firewall_editor(nb05.policy_start(), "web")
    assert editor.source.value == "10.77.0.1"               # the scenario's scanner first ...
    assert ("admin, 10.77.0.5", "10.77.0.5") in editor.source.options     # ... then every other machine
    solution = nb05.policy_solution()                       # a correct "SSH only from the admin" rule
    editor.set_rules(solution["rules"], solution["policy"])
    editor.apply_button.click()
    shown = _plain(editor.result.value)
    assert "Rescanned web (10.77.0.10) from the scanner, 10.77.0.1" in shown
    ssh = next(r for r in editor.diff if r["port"] == 22)
    assert (ssh["source"], ssh["after"], ssh["rule"]) == ("10.77.0.1", "filtered", "policy")
    # filtered from the scanner, and the table says why: the rule keeps 22 for the admin
    assert "lets in 10.77.0.5 only" in ssh["note"] and "working, not failing" in ssh["note"]
    assert "lets in 10.77.0.5 only" in shown
    assert 'Choose "admin, 10.77.0.5" under Rescan from' in shown
    # the app server the rules name is a place to rescan from as well
    assert ("10.77.0.20 (a source in the rules)", "10.77.0.20") in editor.source.options
    editor.source.value = "10.77.0.5"
    editor.apply_button.click()
    shown = _plain(editor.result.value)
    assert "from admin, 10.77.0.5" in shown
    states = {r["port"]: (r["after"], r["rule"], r["note"]) for r in editor.diff}
    assert states[22][0] == "open" and states[22][1].startswith("#1 accept tcp 22 from 10.77.0.5")
    assert states[22][2] == ""                              # nothing to explain: the admin gets in
    assert states[3306][0] == "filtered" and "lets in 10.77.0.20 only" in states[3306][2]
    editor.source.value = "10.77.0.20"
    editor.apply_button.click()
    assert {r["port"]: r["after"] for r in editor.diff}[3306] == "open"


def test_editor_rescans_the_capstone_from_the_admin_workstation():
    editor = firewall_editor("capstone", "web")
    assert [a for _, a in editor.source.options] == ["10.77.0.1", "192.168.77.20", "192.168.77.50"]
    editor.set_rules([{"action": "accept", "protocol": "tcp", "ports": "80,443"},
                      {"action": "accept", "protocol": "tcp", "ports": "22,8080", "source": "192.168.77.50"}],
                     policy="drop")
    editor.apply_button.click()
    outside = {r["port"]: r["after"] for r in editor.diff}
    editor.source.value = "192.168.77.50"
    editor.apply_button.click()
    inside = {r["port"]: r["after"] for r in editor.diff}
    assert (outside[22], inside[22], outside[8080], inside[8080]) == ("filtered", "open", "filtered", "open")
    assert outside[3306] == inside[3306] == "filtered"
    assert "from ws, 192.168.77.50" in _plain(editor.result.value)

# ---- the NAT explorer ------------------------------------------------------------------------------

def test_nat_explorer_table_grows_one_row_per_new_outside_mapping():
    explorer = nat_explorer("home-nat")
    assert explorer.rows == [] and "empty" in explorer.table.value
    explorer.host.value, explorer.peer.value, explorer.port.value, explorer.sport.value = \
        "laptop", "203.0.113.10", 443, 50000
    explorer.open_button.click()
    assert len(explorer.rows) == 1 and "10.77.0.2:50000" in explorer.table.value
    # same inside endpoint, another peer: endpoint-independent mapping reuses the mapping
    explorer.peer.value = "198.51.100.7"
    explorer.open_button.click()
    assert len(explorer.rows) == 1 and explorer.rows[0]["peers"] == ["203.0.113.10:443", "198.51.100.7:443"]
    # address-and-port-dependent mapping: that second connection needs its own outside port
    explorer.mapping.value = "address-and-port-dependent"
    assert [r["outside"] for r in explorer.rows] == ["10.77.0.2:50000", "10.77.0.2:50001"]
    explorer.host.value = "nas"
    explorer.open_button.click()
    assert len(explorer.rows) == 3 and "nas 192.168.77.20:50000" in explorer.table.value
    assert len(explorer.diagram.data) == 3
    explorer.peer.value = "not an address"
    explorer.open_button.click()
    assert "expected an IPv4 address" in explorer.message.value and len(explorer.rows) == 3
    explorer.clear_button.click()
    assert explorer.rows == []


def test_nat_explorer_forward_opens_exactly_the_forwarded_port():
    explorer = nat_explorer("home-nat")
    before = {r["port"]: r["state"] for r in explorer.run_scan()}
    assert set(before.values()) == {"filtered"}
    explorer.forward.value = True                   # the toggle rescans by itself
    after = {r["port"]: r["state"] for r in explorer.last_scan}
    changed = {p for p in after if after[p] != before[p]}
    assert changed == {8080} and after[8080] == "open"
    assert "port forward to 192.168.77.20:80" in explorer.scan.value
    explorer.forward.value = False
    assert {r["port"]: r["state"] for r in explorer.last_scan} == before


def test_nat_filtering_decides_whether_a_mapping_shows_to_an_outside_scan():
    lab = NatLab("home-nat")
    lab.open("laptop", "203.0.113.10", 443, "tcp", 50000)
    shown, common = findings(lab.outside_scan())
    assert shown == [] and common["state"] == "filtered"     # Linux: only 203.0.113.10:443 may answer
    lab.filtering = "endpoint-independent"                   # anyone may use the mapping
    shown, _ = findings(lab.outside_scan())
    assert [(r["port"], r["state"]) for r in shown] == [(50000, "closed")]   # the laptop's own RST
    with pytest.raises(BadInput):
        lab.open("router", "203.0.113.10", 443)
    with pytest.raises(BadInput):
        NatLab("web-server")


def test_nat_explorer_connection_from_outside_uses_the_forward_or_is_dropped():
    explorer = nat_explorer("home-nat")
    assert explorer.outside_port.value == 8080
    explorer.outside_button.click()
    assert "<b>filtered</b>" in explorer.message.value and "dropped" in explorer.message.value
    assert explorer.rows == [] and explorer.lab.connections == []      # turned away: left nothing
    explorer.forward.value = True
    explorer.outside_button.click()
    assert "<b>open</b>" in explorer.message.value and "192.168.77.20:80" in explorer.message.value
    [row] = explorer.rows
    assert (row["kind"], row["inside"], row["outside"], row["inside_name"]) == \
        ("forward", "192.168.77.20:80", "10.77.0.2:8080", "nas")
    assert "port forward" in explorer.table.value and "port forward" in explorer.diagram.text


def test_a_probe_stopped_on_the_way_is_not_credited_to_the_firewall(tmp_path):
    chart = fwcharts.firewall_evaluation("home-nat", [(80, "tcp", None), (445, "tcp", "192.168.77.10")],
                                         host="nas")
    outside, inside = chart.data
    assert (outside["reached"], outside["syn"]) == (False, "filtered")
    assert "forward_drop_new_from" in outside["stopped_by"] and "never reaches nas" in chart.text
    assert (inside["reached"], inside["sender"], inside["syn"]) == (True, "laptop", "open")
    fig = _render_both(chart, tmp_path, "nas")
    gids = sorted(p.get_gid() for p in fig.findobj(Rectangle) if (p.get_gid() or "").split(":")[0]
                  in ("decision", "unreached"))
    assert gids == ["decision:1:None", "unreached:0"]


def test_editing_a_routers_input_rules_keeps_its_forward_rule():
    """The editor rewrites [hosts.firewall]; the router's forward rule (what keeps the
    outside away from the inside, notebook 07) must not vanish with the edit."""
    from portlab.course.widgets.firewall_editor import firewall_table
    old = {"style": "nftables", "policy": "accept", "rules": [], "forward_drop_new_from": "internet"}
    new = firewall_table("nftables", [{"port": 80, "protocol": "tcp", "action": "accept"}], "drop", keep=old)
    assert new["forward_drop_new_from"] == "internet"
    assert new["policy"] == "drop" and len(new["rules"]) == 1
