"""Notebook 06's helpers (portlab.course.lessons.nb06) and exercises, on real simulated scans and recordings."""

from __future__ import annotations

import pytest

from portlab.course.exercises import core
from portlab.course.lessons import nb06
from portlab.errors import BadInput


@pytest.fixture(scope="module")
def three():
    return {style: nb06.with_style(style) for style in nb06.STYLES}


def test_the_three_texts_build_the_three_styles(three):
    for style, scenario in three.items():
        assert scenario.machine("vm").firewall.style == style
    nsg = three["azure-nsg"].machine("vm").firewall
    assert [r.priority for r in nsg.rules][-3:] == [65000, 65001, 65500]      # Azure's defaults appended
    assert three["aws-sg"].machine("vm").firewall.policy == "drop"
    with pytest.raises(BadInput, match="expected 'aws-sg'"):
        nb06.with_style("aws-sg", nb06.THREE_WAYS["nftables"])


def test_they_agree_from_outside_and_the_vnet_default_is_the_difference(three):
    frame = nb06.agreement(three)
    outside = frame.drop(index="VNet neighbour 10.77.10.9", level="from")
    assert outside["agree"].all()
    assert frame.loc[("Internet 10.77.0.1", 443), "nftables"] == "open"
    assert frame.loc[("Internet 10.77.0.1", 22), "aws-sg"] == "filtered"
    assert frame.loc[("admin 10.77.0.70", 22), "azure-nsg"] == "open"
    inside = frame.xs("VNet neighbour 10.77.10.9", level="from")
    assert list(inside.index[~inside["agree"]]) == [22, 3389, 8080, 8443]
    assert set(inside["azure-nsg"]) == {"open"}
    assert nb06.which_rule(three["azure-nsg"], "10.77.10.9", 3389) == "AllowVnetInBound"
    fixed = dict(three, **{"azure-nsg": nb06.with_style("azure-nsg", extra=[nb06.DENY_VNET])})
    assert nb06.agreement(fixed)["agree"].all()


def test_agreement_chart(three):
    chart = nb06.agreement_chart(nb06.agreement(three))
    assert "3389/tcp from VNet neighbour 10.77.10.9  \u2260 differ: nftables filtered; aws-sg filtered; azure-nsg open" \
        in chart.text
    assert "443/tcp from Internet 10.77.0.1: nftables open" in chart.text
    assert chart.png("dark")[:4] == b"\x89PNG"


def test_nsg_rules_in_reading_order_with_defaults():
    rules = nb06.nsg_rules()
    assert list(rules["priority"]) == sorted(rules["priority"])
    assert list(rules[rules["default"]]["name"]) == ["AllowVnetInBound", "AllowAzureLoadBalancerInBound",
                                                     "DenyAllInBound"]
    assert rules.set_index("name").loc["DenyAppPorts", "action"] == "deny"
    with pytest.raises(BadInput, match="no Azure NSG"):
        nb06.nsg_rules("cloud-sg")


def test_which_rule_finds_the_shadowing_deny():
    table = nb06.decisions("cloud-nsg")
    assert table.loc[8443, "Internet 10.77.0.1"] == "DenyAppPorts"
    assert table.loc[22, "admin 10.77.0.70"] == "AllowSSHFromAdmins"
    assert table.loc[22, "Internet 10.77.0.1"] == "DenyAllInBound"
    assert nb06.which_rule("cloud-sg", "10.77.0.1", 5432, host="vm") == "policy"


def test_fix_check_explains_failures():
    from portlab.course.widgets.firewall_editor import rules_of
    _, _, shipped = rules_of("cloud-nsg", "vm")
    failures = nb06.fix_failures(shipped)
    assert len(failures) == 2 and all("8443/tcp" in f and "DenyAppPorts" in f for f in failures)
    without_deny = [r for r in shipped if r["name"] != "DenyAppPorts"]
    failures = nb06.fix_failures(without_deny)
    assert failures and all("VNet neighbour" in f and "AllowVnetInBound" in f for f in failures)
    narrowed = [dict(r, ports="8000-8442,8444-8999") if r["name"] == "DenyAppPorts" else r for r in shipped]
    assert nb06.fix_failures(narrowed) == []
    assert nb06.fix_failures(nb06.fixed_rules()) == []


def test_the_editor_is_an_answer():
    from portlab.course.widgets.firewall_editor import firewall_editor
    editor = firewall_editor("cloud-nsg", "vm")
    assert "DenyAppPorts" in core.feedback("06-nsg-fix", editor)
    [row] = [r for r in editor.rows if r.fields["name"].value == "AllowAppTLS"]
    row.fields["priority"].value = 150
    assert core.feedback("06-nsg-fix", editor) is None
    row.fields["priority"].value = 200                   # clashes with DenyAppPorts: the reader says so
    assert "already used" in core.feedback("06-nsg-fix", editor)


def test_recordings_agree_with_the_simulator():
    for name in ("cloud-sg", "cloud-nsg"):
        frame = nb06.recorded_vs_sim(name)
        assert (frame["agree"] == frame["ports"]).all(), frame
        assert (frame["ports"] > 50).all()
    assert "443" in set(nb06.recorded_vs_sim("cloud-sg")["open (live)"])


@pytest.mark.parametrize("exercise_id, wrong", [("06-predict-sg", "closed"), ("06-which-rule", "AllowAppTLS"),
                                                ("06-vnet-default", "DenyAllInBound"),
                                                ("06-nsg-fix", [{"priority": 100}])])
def test_solutions_pass_and_wrong_answers_get_hints(exercise_id, wrong):
    ex = core.get(exercise_id)
    assert core.feedback(exercise_id, ex.solution) is None
    hint = core.feedback(exercise_id, wrong)
    assert hint and len(hint) > 20


def test_predict_reveal_runs_the_scan():
    assert core.get("06-predict-sg").reveal() == "filtered"


def test_notebook_asks_before_it_shows():
    import json
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks" / "06-cloud-firewalls.ipynb").read_text())
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert "show_mode(" in next(s for c, s in zip(nb["cells"], sources) if c["cell_type"] == "code")
    # Only the cells nbval checks keep a (reference) output.
    assert all(not c.get("outputs") for c in nb["cells"]
               if c["cell_type"] == "code" and "nbval-check-output" not in c["metadata"].get("tags", []))

    def at(text):
        return next(i for i, s in enumerate(sources) if text in s)
    assert at('ask("06-predict-sg")') < at('reachability("cloud-sg"')
    assert at('ask("06-which-rule")') < at('decisions("cloud-nsg")') < at('firewall_evaluation("cloud-nsg"')
    assert at('ask("06-vnet-default")') < at("DENY_VNET")
    assert sum('ask("06-' in s or 'check("06-' in s for s in sources) >= 4
    assert "07-nat-and-port-forwarding.ipynb" in next(s for s in reversed(sources) if "## Summary" in s)


# ---- change a value: a deny and its number (06-priority-param) ----------------------------------

def _deny_66(priority):
    return {"priority": priority, "name": "DenyCompromisedAdmin", "action": "deny", "protocol": "*",
            "ports": "*", "source": "10.77.0.66"}


def test_a_deny_of_one_address_beats_only_the_allows_with_higher_numbers():
    at150 = nb06.seen_from(nb06.with_inbound([_deny_66(150)]), "10.77.0.66")
    assert at150["state"].to_dict() == {22: "open", 443: "open", 3389: "filtered", 8080: "filtered",
                                        8443: "filtered"}
    assert at150.loc[22, "decided by"] == "110 AllowSSHFromAdmins"
    # read after both allows, the deny decides only ports that were shut anyway
    assert nb06.seen_from("cloud-nsg", "10.77.0.66")["state"].equals(at150["state"])
    at105 = nb06.seen_from(nb06.with_inbound([_deny_66(105)]), "10.77.0.66")
    assert list(at105.index[at105["state"] == "open"]) == [443]
    assert at105.loc[22, "decided by"] == "105 DenyCompromisedAdmin"
    assert at105.loc[443, "decided by"] == "100 AllowHTTPS"
    # another admin is not touched by it
    assert nb06.seen_from(nb06.with_inbound([_deny_66(105)]), "10.77.0.70").loc[22, "state"] == "open"


@pytest.mark.parametrize("priority, match", [(100, r"^priority 100 is taken by AllowHTTPS: .*once per direction"),
                                             (99, "from 100 to 4096"), (4097, "from 100 to 4096"),
                                             ("105", "from 100 to 4096"), (True, "from 100 to 4096")])
def test_with_inbound_bad_priority_is_one_clear_line(priority, match):
    with pytest.raises(BadInput, match=match) as caught:
        nb06.with_inbound([_deny_66(priority)])
    assert "\n" not in str(caught.value)


def test_the_priority_exercise_is_what_the_cell_shows_at_105():
    ex = core.get("06-priority-param")
    assert ex.parameter == "priority" and "`priority`" in ex.question and ex.solution in ex.choices
    at105 = nb06.seen_from(nb06.with_inbound([_deny_66(105)]), "10.77.0.66")
    assert ex.solution == " and ".join(str(p) for p in at105.index[at105["state"] == "open"]) + " only"
    assert core.feedback(ex.id, "443") is None
    assert "150" in core.feedback(ex.id, "22 and 443")
    assert "443's row" in core.feedback(ex.id, "none")
    assert "110" in core.feedback(ex.id, "22 only")
