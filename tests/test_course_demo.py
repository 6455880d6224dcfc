"""The instructor's dashboard without a browser: its parts follow the scenario and host chosen,
and a firewall rule toggled in its Firewall tab is what the three scans see next."""

from portlab.course.widgets.demo import Dashboard, default_ports, hosts_of, three_scans


def test_default_ports_are_the_hosts_services_its_rule_ports_and_one_closed_port():
    ports = default_ports("web-server", "10.77.0.10")
    assert {22, 80, 443, 3306} <= set(ports)
    assert 81 in ports                      # nothing listens there: the closed example
    assert ports == sorted(ports) and len(ports) <= 24


def test_hosts_with_a_firewall_come_first():
    assert hosts_of("web-server")[0] == ("web (10.77.0.10)", "10.77.0.10")


def test_three_scans_follow_the_measured_table_for_single_host():
    results = three_scans("single-host", "10.77.0.2", "22,9000")
    states = {kind: {p.port: p.state.value for p in r.hosts[0].ports} for kind, r in results.items()}
    assert states["connect"][22] == states["syn"][22] == "open"
    assert states["syn"][9000] == "filtered" and states["udp"][9000] == "open|filtered"   # 9000: drop


def test_switching_scenario_rebuilds_every_tab_and_a_toggled_rule_reaches_the_scans():
    d = Dashboard("single-host")
    assert d.nat is None and d.stepper is not None and "10.77.0.2" in d.chart.value
    d.scenario.value = "home-nat-forward"
    assert d.nat is not None and d.target.value.startswith("192.168.77.")
    d.scenario.value = "web-server"
    assert d.target.value == "10.77.0.10" and d.editor.host == "web"
    open_80 = {p.port: p.state.value for p in d.results["syn"].hosts[0].ports}[80]
    assert open_80 == "open"
    d.editor.rows[0].fields["action"].value = "drop"      # "web for everyone" now drops
    d.editor.apply_button.click()
    assert {p.port: p.state.value for p in d.results["syn"].hosts[0].ports}[80] == "filtered"
    assert "web-server" in d.about.value
