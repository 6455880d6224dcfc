"""The course's explaining pictures (portlab.course.charts.pictures): what they draw is
true (the NAT picture against the simulator, the firewall places against each other),
and they read well in both themes: every label legible on what is behind it, no label
on top of another, none cut by a box edge."""

from __future__ import annotations

import html
import io
import itertools

import matplotlib.colors
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from matplotlib.text import Text

from portlab.course import figures
from portlab.course.charts import pictures
from portlab.course.theme import DARK, LIGHT, contrast
from portlab.errors import BadInput
from portlab.sim.kernel import SILENCE
from portlab.sim.network import SimNetwork, load_scenario

PNG = b"\x89PNG\r\n\x1a\n"


def _drawn(fig):
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def _labels(fig) -> list[Text]:
    """The texts a reader sees (tick labels of the hidden axes are not drawn)."""
    ticks = {id(t) for ax in fig.axes for t in (*ax.get_xticklabels(), *ax.get_yticklabels())}
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in ticks]


def _layout_problems(fig) -> list[str]:
    """Labels on top of each other, labels a box edge runs through, labels off the figure."""
    renderer = _drawn(fig)
    texts = [(t.get_text(), t.get_window_extent(renderer).shrunk(0.97, 0.9)) for t in _labels(fig)]
    boxes = [p.get_window_extent(renderer) for p in fig.findobj(lambda o: isinstance(o, (FancyBboxPatch, Rectangle)))
             if p.axes is not None and p is not p.axes.patch]
    problems = []
    for (a, ba), (b, bb) in itertools.combinations(texts, 2):
        if ba.overlaps(bb):
            problems.append(f"{a!r} overlaps {b!r}")
    for text, tb in texts:
        for bb in boxes:
            inside = bb.x0 <= tb.x0 and tb.x1 <= bb.x1 and bb.y0 <= tb.y0 and tb.y1 <= bb.y1
            if tb.overlaps(bb) and not inside:
                problems.append(f"{text!r} is cut by a box edge")
        if not (fig.bbox.x0 <= tb.x0 and tb.x1 <= fig.bbox.x1 and fig.bbox.y0 <= tb.y0 and tb.y1 <= fig.bbox.y1):
            problems.append(f"{text!r} runs off the figure")
    return problems


def _contrast_problems(fig, background: str) -> list[str]:
    problems = []
    for text in _labels(fig):
        colour = matplotlib.colors.to_hex(text.get_color())
        gid = text.get_gid() or ""
        behind = gid[3:] if gid.startswith("on:") else background
        if contrast(colour, behind) < 4.5:
            problems.append(f"{text.get_text()!r}: {colour} on {behind}")
    return problems


def _check_both_themes(chart, tmp_path, name: str):
    assert chart.text and chart.title and chart.data
    for theme in (LIGHT, DARK):
        path = tmp_path / f"{name}-{theme.name}.png"
        chart.save(str(path), theme.name)
        assert path.read_bytes()[:8] == PNG and path.stat().st_size > 5000
        fig = chart.figure(theme.name)
        assert _contrast_problems(fig, theme.background) == []
        assert _layout_problems(fig) == []
        width, _height = fig.get_size_inches()
        assert width <= 10.0          # shown at ~900 px without shrinking the text away
    page = chart._repr_html_()
    assert "Text description" in page and f"alt='{html.escape(chart.text, quote=True)}'" in page
    return chart.figure("dark")


def _gids(fig, prefix: str) -> list[str]:
    return sorted(o.get_gid() for o in fig.findobj(lambda o: (getattr(o, "get_gid", lambda: None)() or "")
                                                   .startswith(prefix)))


# ---- (a) the building ---------------------------------------------------------------------

def test_building_has_two_separate_rows_of_doors_and_a_knock(tmp_path):
    chart = pictures.port_building()
    doors = {(d["protocol"], d["port"]): d for d in chart.data["doors"]}
    # the same number, two different doors: one with a program, one without
    assert doors[("tcp", 53)]["program"] is None and doors[("udp", 53)]["program"] == "DNS server"
    assert doors[("tcp", 22)]["iana"] == "ssh" and doors[("udp", 123)]["iana"] == "ntp"
    fig = _check_both_themes(chart, tmp_path, "building")
    drawn = _gids(fig, "door:")
    assert len(drawn) == len(doors)
    assert "door:tcp:53:nobody" in drawn and "door:udp:53:listening" in drawn
    knocked = [p for p in fig.findobj(FancyBboxPatch) if p.get_gid() == "door:tcp:443:listening"][0]
    assert knocked.get_linewidth() > max(p.get_linewidth() for p in fig.findobj(FancyBboxPatch)
                                         if (p.get_gid() or "").startswith("door:") and p is not knocked)
    assert _gids(fig, "knock") == ["knock"]
    for words in ("192.0.2.10", "TCP door 443", "nobody", "two separate rows", "65536"):
        assert words in chart.text


def test_building_refuses_what_it_cannot_draw():
    with pytest.raises(BadInput, match="not drawn"):
        pictures.port_building(knock=(8080, "tcp"))
    with pytest.raises(BadInput, match="0-65535"):
        pictures.port_building(tcp={70000: "x"}, knock=(70000, "tcp"))
    with pytest.raises(BadInput, match="IP addresses"):
        pictures.port_building(address="building")
    with pytest.raises(BadInput, match="at most 6"):
        pictures.port_building(tcp={p: "x" for p in range(1, 8)}, knock=(1, "tcp"))


# ---- (b) NAT and the firewall ---------------------------------------------------------------

def test_nat_picture_says_what_the_simulator_does(tmp_path):
    chart = pictures.nat_topology()
    data = chart.data
    scenario = load_scenario("home-nat")
    assert (data["outside"], data["inside"], data["scanner"]) == ("10.77.0.2", "192.168.77.1", "10.77.0.1")
    assert {h["name"]: h["address"] for h in data["hosts"]} == {
        h.name: str(h.address) for h in scenario.hosts}
    a, b = data["probes"]
    # A: the router's own address, a port with no row: it never gets past the router.
    assert (a["stopped_by"], a["row"]) == ("nat", False)
    # B: an inside address: only the forward rule stops it ...
    assert b["stopped_by"] == "firewall" and b["reached"] is None
    assert b["without_rule"]["reached"] == "nas"
    # ... which the shipped scenario without the router's firewall shows too.
    bare = SimNetwork(load_scenario("home-nat-nofirewall"))
    answer = bare.send("scanner", "192.168.77.20", 445, "tcp")
    assert answer.kind != SILENCE and answer.responder == "192.168.77.20"
    fenced = SimNetwork(scenario).send("scanner", "192.168.77.20", 445, "tcp")
    assert fenced.kind == SILENCE
    # C: the answer to the laptop's connection goes in through its row.
    assert data["reply"]["inside"] == "192.168.77.10:50000" and data["reply"]["how"] == "mapping"
    fig = _check_both_themes(chart, tmp_path, "nat")
    assert _gids(fig, "stop:") == ["stop:A", "stop:A", "stop:B", "stop:B"]   # two strokes each
    rows = sorted(t.get_text() for t in fig.findobj(Text) if t.get_gid() == "row")
    for row in data["rows"]:
        assert row["outside"] in rows
    assert "only the firewall's forward rule stops it" in chart.text and "NAT alone" in chart.text


def test_nat_picture_without_the_firewall_lets_b_in(tmp_path):
    chart = pictures.nat_topology("home-nat-nofirewall")
    a, b = chart.data["probes"]
    assert chart.data["forward_rule"] is None
    assert a["stopped_by"] == "nat" and a["reached"] in (None, "router")   # still never inside
    assert b["stopped_by"] is None and b["reached"] == "nas"
    fig = _check_both_themes(chart, tmp_path, "nat-bare")
    assert _gids(fig, "stop:") == ["stop:A", "stop:A"]
    assert _gids(fig, "probe:B") == ["probe:B-in"]
    assert "no firewall rule to stop it" in chart.text


def test_nat_picture_bad_input():
    with pytest.raises(BadInput, match="not inside"):
        pictures.nat_topology(inside_host="scanner")
    with pytest.raises(BadInput, match="NAT routers"):
        pictures.nat_data("web-server")
    with pytest.raises(BadInput, match="no connections"):
        pictures.nat_data(connections=())


# ---- (c) where the firewalls sit -------------------------------------------------------------

def _extent(fig, gid_prefix: str):
    renderer = _drawn(fig)
    found = [p for p in fig.findobj(lambda o: isinstance(o, (FancyBboxPatch, Rectangle)))
             if (p.get_gid() or "").startswith(gid_prefix)]
    assert len(found) == 1, (gid_prefix, [p.get_gid() for p in found])
    return found[0].get_window_extent(renderer)


def _contains(outer, inner) -> bool:
    return outer.x0 <= inner.x0 and inner.x1 <= outer.x1 and outer.y0 <= inner.y0 and inner.y1 <= outer.y1


def test_firewall_places_put_each_filter_where_it_belongs(tmp_path):
    chart = pictures.firewall_places()
    assert [d["kind"] for d in chart.data] == ["host", "aws", "azure"]
    assert [len(d["checks"]) for d in chart.data] == [1, 2, 3]
    fig = _check_both_themes(chart, tmp_path, "places")
    # AWS: the security group is in the instance but outside its operating system.
    sg = _extent(fig, "filter:aws:① security group")
    assert _contains(_extent(fig, "container:EC2 instance"), sg)
    aws_os = [p for p in fig.findobj(Rectangle) if p.get_gid() == "container:its OS"]
    renderer = _drawn(fig)
    assert not any(_contains(p.get_window_extent(renderer), sg) for p in aws_os)
    # Azure: one NSG on the subnet (outside the VM), one on the NIC (in the VM), subnet's met first.
    subnet_nsg = _extent(fig, "filter:azure:① NSG on the subnet")
    nic_nsg = _extent(fig, "filter:azure:② NSG on the NIC")
    vm = _extent(fig, "container:VM")
    assert _contains(vm, nic_nsg) and not _contains(vm, subnet_nsg)
    assert subnet_nsg.y0 > nic_nsg.y1            # a packet coming in meets the subnet's first
    # Every filter is drawn in the colour of "filtered" and says what it is in words.
    filters = [p for p in fig.findobj(FancyBboxPatch) if (p.get_gid() or "").startswith("filter:")]
    assert len(filters) == 6
    assert {matplotlib.colors.to_hex(p.get_facecolor()) for p in filters} == {pictures.FILTER.lower()}
    assert "Both must allow" in chart.text or "both apply" in chart.text
    assert "outside its operating system" in chart.text


def test_firewall_places_one_kind_and_bad_kinds(tmp_path):
    host = pictures.firewall_places(("host",))
    assert [d["kind"] for d in host.data] == ["host"]
    fig = _check_both_themes(host, tmp_path, "host")
    assert len([p for p in fig.findobj(FancyArrowPatch) if p.get_gid() == "packet"]) == 3
    assert "input chain" in " ".join(t.get_text() for t in _labels(fig))
    with pytest.raises(BadInput, match="expected one of host, aws, azure"):
        pictures.firewall_places(("gcp",))
    with pytest.raises(BadInput, match="no kind"):
        pictures.firewall_places(())


def test_make_figures_renders_the_pictures(tmp_path):
    written, failed = figures.render(tmp_path, ["pictures"], out=io.StringIO())
    assert failed == []
    names = {p.name for p in written}
    for picture in ("port-building", "nat-topology", "nat-topology-nofirewall", "firewall-places"):
        assert {f"pictures-{picture}-light.png", f"pictures-{picture}-dark.png"} <= names
    assert "pictures" in figures.chart_modules()
