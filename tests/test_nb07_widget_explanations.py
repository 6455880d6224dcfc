"""Notebook 07's NAT explorer and before/after chart explain a result with the right
reason (issue 22, section 3): each test drives the real widget (controls set, buttons
clicked) on the simulator and reads what a learner reads."""

from __future__ import annotations

import html as html_mod
import re

from portlab.course.charts import nat as natcharts
from portlab.course.widgets.nat_explorer import nat_explorer


def _laptop_opens_443(explorer) -> None:
    explorer.host.value, explorer.peer.value, explorer.port.value, explorer.sport.value = \
        "laptop", "203.0.113.10", 443, 50000
    explorer.protocol.value = "tcp"
    explorer.open_button.click()
    assert [r["outside"] for r in explorer.rows] == ["10.77.0.2:50000"]


def _text(html: str) -> str:    # what the learner reads: no tags, entities decoded
    return html_mod.unescape(re.sub(r"<[^>]+>", "", html))


def test_connecting_to_a_mapped_port_names_the_filtering_rule_not_a_missing_mapping():
    explorer = nat_explorer("home-nat")
    assert explorer.filtering.value == "address-and-port-dependent"
    _laptop_opens_443(explorer)
    explorer.outside_port.value = 50000
    explorer.outside_button.click()
    said = _text(explorer.message.value)
    assert "<b>filtered</b>" in explorer.message.value
    assert "no forward and no mapping" not in said and "no port forward and no mapping" not in said
    assert "has a NAT mapping: laptop 192.168.77.10:50000 opened it to 203.0.113.10:443" in said
    assert "address-and-port-dependent filtering" in said and "10.77.0.1:40001" in said
    assert "it is dropped by the router's own firewall (its input chain)" in said
    # A port nothing holds still says so, and says that the router itself decides.
    explorer.outside_port.value = 8081
    explorer.outside_button.click()
    said = _text(explorer.message.value)
    assert "no port forward and no mapping for it" in said and "for the router itself" in said
    # NAT alone (no firewall on the router): the same refusal by the filter ends in the router's reset.
    bare = nat_explorer("home-nat-nofirewall")
    _laptop_opens_443(bare)
    bare.outside_port.value = 50000
    bare.outside_button.click()
    said = _text(bare.message.value)
    assert "<b>closed</b>" in bare.message.value and "address-and-port-dependent filtering" in said
    assert "nothing listens on that port of the router, so it answers with a reset" in said


def test_the_title_names_the_router_once():
    explorer = nat_explorer("home-nat")
    title = _text(explorer.children[0].value)
    assert "router router" not in title
    assert title.startswith("The NAT router: outside address 10.77.0.2")


def test_a_mapped_port_in_the_scan_is_labelled_as_a_mapping():
    explorer = nat_explorer("home-nat")
    _laptop_opens_443(explorer)
    explorer.filtering.value = "endpoint-independent"          # anyone may use the mapping
    rows = explorer.run_scan()
    assert {r["port"]: r["state"] for r in rows}[50000] == "closed"   # the laptop's own RST
    line = next(d for d in explorer.scan.value.split("<div>") if "tcp 50000 closed (reset)" in d)
    assert "NAT mapping: laptop 192.168.77.10:50000 opened it to 203.0.113.10:443" in _text(line)
    assert "laptop's own answer" in _text(line)
    # Under Linux's filtering the mapped port looks like every other: the scan says why.
    explorer.filtering.value = "address-and-port-dependent"
    explorer.run_scan()
    assert "tcp 50000 is a NAT mapping" in _text(explorer.scan.value)
    assert "does not let the scanner in" in _text(explorer.scan.value)


def test_the_scan_says_how_many_ports_and_why_that_many():
    explorer = nat_explorer("home-nat")
    _laptop_opens_443(explorer)
    rows = explorer.run_scan()
    assert len(rows) == 1026
    assert "1026 ports (1-1024, the forward's 8080, 1 port mappings hold (50000))" in _text(explorer.scan.value)


def test_before_after_chart_counts_the_other_ports_right():
    chart = natcharts.nat_before_after("home-nat", "home-nat-forward")
    data = chart.data
    # 1-1024 and the forward's 8080: 1025 ports, 8080 shown, so 1024 others.
    assert data["scanned"] == 1025 and len(data["rows"]) == 1
    assert data["others"]["count"] == 1024
    assert "The other 1024 of the 1025 ports scanned" in chart.text and "(1025 ports)" in chart.title
