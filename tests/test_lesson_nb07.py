"""Notebook 07's NAT demonstrations: real simulated walks, tables and scans; the live lab as root."""

from __future__ import annotations

import pytest
from netlab import netns_skip_reason

import portlab
from portlab.course.exercises import feedback, get
from portlab.course.lessons import nb07


def test_an_unsolicited_connection_dies_at_the_routers_firewall_rule_not_in_nat():
    w = nb07.walk("home-nat", "scanner", nb07.NAS, 445)
    assert w.answer == "no answer"
    assert w.steps[-1] == ('router forward: new connection from internet dropped by the firewall rule '
                           'forward_drop_new_from = "internet" (ct state new drop)')
    assert not any("block_inbound" in step for step in w.steps)
    assert "192.168.77.20:445/tcp" in str(w)


def test_nat_alone_lets_the_inside_in_and_the_router_answers_for_itself():
    inside = nb07.walk(nb07.NAT_ONLY, "scanner", nb07.NAS, 445)
    assert inside.answer == "SYN/ACK from 192.168.77.20"
    outside = nb07.walk(nb07.NAT_ONLY, "scanner", nb07.ROUTER_OUTSIDE, 445)
    assert outside.answer == "RST from 10.77.0.2"
    assert any("no port forward and no mapping for tcp 445" in step for step in outside.steps)


def test_apart_shows_each_job_on_its_own():
    df = nb07.apart()
    got = {r["probe"]: (r["NAT alone"], r["answered by"], r["NAT + firewall"], r["stopped by"])
           for r in df.to_dict("records")}
    assert got == {
        "10.77.0.2:445": ("closed", "router (nothing listens)", "filtered", "router's input chain: drop (policy)"),
        "10.77.0.2:80": ("open", "router (its service)", "filtered", "router's input chain: drop (policy)"),
        "192.168.77.20:445": ("open", "nas (its service)", "filtered",
                              'router\'s forward rule forward_drop_new_from = "internet"'),
    }


def test_timeouts_are_linux_conntrack_defaults_above_rfc_5382_and_below_rfc_4787_for_udp():
    rows = {r["Linux sysctl"]: r["seconds"] for r in nb07.timeouts().to_dict("records")}
    assert rows == {"nf_conntrack_udp_timeout": 30, "nf_conntrack_udp_timeout_stream": 120,
                    "nf_conntrack_tcp_timeout_established": 432000}
    assert rows["nf_conntrack_tcp_timeout_established"] > 7440 and rows["nf_conntrack_udp_timeout"] < 120


def test_the_table_fills_one_row_per_connection_and_preserves_ports_until_they_clash():
    steps = nb07.table_steps()
    assert [len(s) for s in steps] == [1, 2, 3, 4]
    last = steps[-1]
    assert list(last["inside"]) == ["192.168.77.10:50000", "192.168.77.10:50000", "192.168.77.20:41000",
                                    "192.168.77.30:50000"]
    # The laptop keeps its port 50000 outside for both sites (one mapping, two sessions);
    # the printer asks for 50000 too and gets the next free port.
    assert list(last["outside"]) == ["10.77.0.2:50000", "10.77.0.2:50000", "10.77.0.2:41000", "10.77.0.2:50001"]
    assert list(last["protocol"]) == ["tcp", "tcp", "udp", "tcp"]


def test_outside_scans_before_and_after_the_forward():
    before = nb07.outside_scan("home-nat")
    after = nb07.outside_scan("home-nat-forward")
    assert nb07.summary(before) == "10.77.0.2, 1025 ports: nothing open; 1025 filtered"
    assert nb07.summary(after) == "10.77.0.2, 1025 ports: 8080 open; 1024 filtered"
    assert nb07.summary(nb07.outside_scan(nb07.NAT_ONLY)) == "10.77.0.2, 1025 ports: 80 open; 1024 closed"


def test_mapping_behaviours_differ_as_rfc_4787_says():
    df = nb07.mapping_demo()
    seen = {m: list(g["the remote sees"]) for m, g in df.groupby("mapping")}
    assert seen["endpoint-independent"] == ["10.77.0.2:50000"] * 3
    assert seen["address-dependent"] == ["10.77.0.2:50000", "10.77.0.2:50000", "10.77.0.2:50001"]
    assert seen["address-and-port-dependent"] == ["10.77.0.2:50000", "10.77.0.2:50001", "10.77.0.2:50002"]


def test_filtering_behaviours_let_in_what_rfc_4787_says():
    df = nb07.filtering_demo()
    got = {f: [v.split(":")[0] for v in g["gets in"]] for f, g in df.groupby("filtering")}
    assert got["endpoint-independent"] == ["yes", "yes", "yes"]
    assert got["address-dependent"] == ["yes", "yes", "no"]
    assert got["address-and-port-dependent"] == ["yes", "no", "no"]


def test_hairpinning_reaches_the_nas_through_the_outside_address():
    demo = nb07.hairpin_demo()
    assert demo["on"].answer.startswith("SYN/ACK") and any("hairpin" in s for s in demo["on"].steps)
    assert demo["off"].answer.startswith("RST") and not any("DNAT" in s for s in demo["off"].steps)


@pytest.mark.parametrize("exercise_id, wrong", [("07-predict-nas", "open"), ("07-forward-count", 2),
                                                ("07-eim-same-port", "different"), ("07-apdf-filter", "yes")])
def test_exercises(exercise_id, wrong):
    ex = get(exercise_id)
    assert feedback(exercise_id, ex.solution) is None
    assert feedback(exercise_id, wrong)
    if ex.reveal is not None:
        assert ex.reveal() == ex.solution


def test_forward_count_matches_a_full_range_scan():
    result = portlab.scan(nb07.ROUTER_OUTSIDE, "-", "syn", scenario="home-nat-forward", keep_trace=False)
    assert [p.port for p in result.hosts[0].ports if p.state.value == "open"] == [8080]
    assert get("07-forward-count").solution == 1


@pytest.mark.netns
@pytest.mark.skipif(netns_skip_reason() is not None, reason=netns_skip_reason() or "")
def test_live_lab_shows_only_8080_open():
    result = nb07.live_forward_scan()
    assert nb07.summary(result) == "10.77.0.2, 1025 ports: 8080 open; 1024 filtered"


@pytest.mark.netns
@pytest.mark.skipif(netns_skip_reason() is not None, reason=netns_skip_reason() or "")
def test_live_lab_agrees_nat_alone_lets_in_and_the_firewall_rule_stops():
    """The live lab (real Linux NAT and nftables) against the simulator's apart()."""
    live = nb07.live_apart()
    sim = {s: {r["probe"]: r[col] for r in nb07.apart("connect").to_dict("records")}
           for s, col in ((nb07.NAT_ONLY, "NAT alone"), ("home-nat", "NAT + firewall"))}
    assert live == sim
    assert live[nb07.NAT_ONLY] == {"10.77.0.2:445": "closed", "10.77.0.2:80": "open", "192.168.77.20:445": "open"}
    assert set(live["home-nat"].values()) == {"filtered"}


def test_live_lab_recordings_agree_with_the_simulator():
    assert nb07.recorded_outside("home-nat") == (103, [])
    probed, opened = nb07.recorded_outside("home-nat-forward")
    assert opened == [8080] and probed > 100
    probed, opened = nb07.recorded_outside(nb07.NAT_ONLY)
    assert opened == [80] and probed == 103


# ---- change a value: the table forgets (07-wait-param) ----------------------------------------

def test_a_late_answer_gets_in_while_its_row_lives_and_is_dropped_after():
    early = nb07.late_answer(10)
    assert early.expires == 32 and len(early.rows) == 4 and any(r.startswith("udp 192.168.77.20:41000") for r in early.rows)
    assert early.fate == "translated back to 192.168.77.20:41000, it reaches the NAS."
    late = nb07.late_answer(60)
    assert len(late.rows) == 3 and not any(r.startswith("udp") for r in late.rows)   # the TCP rows live 5 days
    assert late.fate.endswith("the router drops it (router's input chain: drop (policy)).")
    assert "no row for udp 41000" in late.fate
    # just before and just after the 30 s of nf_conntrack_udp_timeout
    assert "reaches the NAS" in nb07.late_answer(29).fate and "no row" in nb07.late_answer(31).fate


def test_without_the_firewall_the_router_answers_the_late_answer_itself():
    fate = nb07.late_answer(60, nb07.NAT_ONLY).fate
    assert fate.endswith("the router answers it (ICMP 3/3 port-unreachable from 10.77.0.2).")


def test_the_late_answer_prints_short_lines():
    text = str(nb07.late_answer(60))
    assert "at 62 s" in text and "forgotten at 32 s" in text
    assert max(len(line) for line in text.splitlines()) <= 96


@pytest.mark.parametrize("bad", [-1, "10", True, None, float("nan")])
def test_late_answer_bad_wait_is_one_clear_line(bad):
    from portlab.errors import BadInput
    with pytest.raises(BadInput, match=r"^wait .*expected a number of seconds") as err:
        nb07.late_answer(bad)
    assert "\n" not in str(err.value)


def test_the_wait_exercise_is_what_the_cell_shows_at_60_seconds():
    ex = get("07-wait-param")
    assert ex.parameter == "wait" and "`wait`" in ex.question and ex.solution in ex.choices
    assert ex.solution in nb07.late_answer(60).fate                 # read off the cell, not made up
    assert feedback("07-wait-param", ex.solution) is None
    assert "`wait` at 10" in feedback("07-wait-param", "it reaches the NAS")
    assert "home-nat-nofirewall" in feedback("07-wait-param", "the router answers with an ICMP error")
    assert feedback("07-wait-param", "maybe").startswith("answer with one of")
