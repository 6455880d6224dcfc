"""Notebook 07's NAT demonstrations: real simulated walks, tables and scans; the live lab as root."""

from __future__ import annotations

import pytest
from netlab import netns_skip_reason

import portlab
from portlab.course.exercises import feedback, get
from portlab.course.lessons import nb07


def test_an_unsolicited_connection_dies_at_the_router():
    w = nb07.walk("home-nat", "scanner", nb07.NAS, 445)
    assert w.answer == "no answer"
    assert any("dropped (block_inbound)" in step for step in w.steps)
    assert "192.168.77.20:445/tcp" in str(w)


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


def test_mapping_behaviours_differ_as_rfc_4787_says():
    df = nb07.mapping_demo()
    seen = {m: list(g["the remote sees"]) for m, g in df.groupby("mapping")}
    assert seen["endpoint-independent"] == ["10.77.0.2:50000"] * 3
    assert seen["address-dependent"] == ["10.77.0.2:50000", "10.77.0.2:50000", "10.77.0.2:50001"]
    assert seen["address-and-port-dependent"] == ["10.77.0.2:50000", "10.77.0.2:50001", "10.77.0.2:50002"]


def test_filtering_behaviours_let_in_what_rfc_4787_says():
    df = nb07.filtering_demo()
    got = {f: [v.split()[0] for v in g["gets in"]] for f, g in df.groupby("filtering")}
    assert got["endpoint-independent"] == ["yes", "yes", "yes"]
    assert got["address-dependent"] == ["yes", "yes", "no"]
    assert got["address-and-port-dependent"] == ["yes", "no", "no"]


def test_hairpinning_reaches_the_nas_through_the_outside_address():
    demo = nb07.hairpin_demo()
    assert demo["on"].answer.startswith("SYN/ACK") and any("hairpin" in s for s in demo["on"].steps)
    assert demo["off"].answer.startswith("RST") and not any("DNAT" in s for s in demo["off"].steps)


@pytest.mark.parametrize("exercise_id, wrong", [("07-predict-nas", "open"), ("07-forward-count", 2),
                                                ("07-eim-same-port", "different"), ("07-apdm-filter", "yes")])
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


def test_live_lab_recordings_agree_with_the_simulator():
    assert nb07.recorded_outside("home-nat") == (103, [])
    probed, opened = nb07.recorded_outside("home-nat-forward")
    assert opened == [8080] and probed > 100
