"""The package parts notebook 01 leans on: chart counts and looks, the lookup widget, exercise checks."""

from __future__ import annotations

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.text import Text

from portlab import registry
from portlab.course import exercises
from portlab.course.charts import registry as charts, sockets
from portlab.course.exercises.core import question_text
from portlab.course.theme import DARK, LIGHT, Chart, contrast, text_on
from portlab.errors import BadInput
from portlab.ranges import RANGES, USER


def test_assigned_per_range_agrees_with_service_name():
    counts = charts.assigned_per_range()
    for rng in RANGES:
        for proto in ("tcp", "udp"):
            named = sum(1 for p in range(rng.lo, rng.hi + 1) if registry.service_name(p, proto))
            assert counts[rng.key][proto] == named
    assert counts["dynamic"] == {"tcp": 0, "udp": 0}


def test_blocks_and_shares_add_up():
    blocks = charts.assigned_per_block("tcp", 1000)
    assert len(blocks) == 66 and sum(blocks) == sum(charts.assigned_per_range()[r.key]["tcp"] for r in RANGES)
    share = charts.status_share("udp", USER)
    assert sum(share.values()) == USER.size
    top = charts.busiest(1000, 3)
    assert [b["tcp"] + b["udp"] for b in top] == sorted((b["tcp"] + b["udp"] for b in top), reverse=True)


GALLERY = {**charts.gallery(), **sockets.gallery()}


def _drawn(chart: Chart, theme: str):
    fig = chart.figure(theme)
    FigureCanvasAgg(fig).draw()
    return fig


def _texts(fig) -> list[Text]:
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


@pytest.mark.parametrize("name", sorted(GALLERY))
def test_gallery_charts_render_in_both_themes_with_alt_text(name):
    chart = GALLERY[name]
    assert isinstance(chart, Chart) and len(chart.text) > 80 and chart.data
    for theme in ("light", "dark"):
        png = chart.png(theme, dpi=50)
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    page = chart._repr_html_()
    assert page.count("<img") == 2 and "alt='" in page and "Text description" in page
    fig = _drawn(chart, "light")
    assert fig.axes and all(ax.get_title() for ax in fig.axes)
    # Transparent: no white rectangle on JupyterLab's dark page.
    assert fig.get_facecolor()[3] == 0 and all(ax.get_facecolor()[3] == 0 for ax in fig.axes)


@pytest.mark.parametrize("name", sorted(GALLERY))
def test_dark_theme_text_reads_on_the_dark_page(name):
    # Every label drawn in a theme colour has WCAG contrast >= 4.5 against the dark page;
    # labels inside bars are black or white, chosen for the bar's fill.
    fills = set(charts.RANGE_COLOURS.values()) | {charts.EPHEMERAL_COLOUR, sockets.CHOSEN_COLOUR}
    inside = {text_on(f) for f in fills}
    for text in _texts(_drawn(GALLERY[name], "dark")):
        colour = to_hex(text.get_color())
        if colour in inside and contrast(colour, DARK.background) < 4.5:
            assert any(contrast(colour, fill) >= 4.5 for fill in fills), text.get_text()
        else:
            assert contrast(colour, DARK.background) >= 4.5, (text.get_text(), colour)


def test_no_tiny_labels():
    for name, chart in GALLERY.items():
        for theme in ("light", "dark"):
            sizes = [t.get_fontsize() for t in _texts(_drawn(chart, theme))]
            assert min(sizes) >= 9, (name, theme, min(sizes))


def test_one_colour_one_meaning():
    # Ranges and the OS's ephemeral range each have their own colour, and registry
    # statuses and protocols get patterns, not colours: no colour means two things.
    colours = [*charts.RANGE_COLOURS.values(), charts.EPHEMERAL_COLOUR]
    assert len(set(colours)) == len(colours)
    from portlab.course import theme
    others = {c.upper() for table in (theme.STATE_COLOURS, theme.SCAN_COLOURS, theme.PACKET_COLOURS,
                                      theme.VERDICT_COLOURS) for c in table.values()}
    assert not {c.upper() for c in colours} & others
    for fill in colours:  # labels inside the bars stay readable in both themes
        assert contrast(fill, text_on(fill)) >= 4.5
        assert contrast(fill, DARK.background) >= 3 and contrast(fill, LIGHT.background) >= 1.4


def test_text_equivalents_carry_the_numbers():
    counts = charts.assigned_per_range()
    assert str(counts["user"]["tcp"]) in GALLERY["assignments-per-range"].text
    assert "32768-60999" in GALLERY["port-ranges"].text and "ephemeral ports" in GALLERY["port-ranges"].text
    assert "no line for the port at all" in GALLERY["registry-space-tcp"].text


def test_the_connection_picture_is_drawn_from_real_sockets():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        listening = server.getsockname()[1]
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            conn, peer = server.accept()
            conn.close()
            chart = sockets.connection(client, ephemeral=(32768, 60999))
    data = chart.data
    assert data["tuple"] == ("tcp", "127.0.0.1", peer[1], "127.0.0.1", listening)
    assert data["client_port_in_ephemeral_range"] == (32768 <= peer[1] <= 60999)
    assert f"source port {peer[1]}" in chart.text and "32768-60999" in chart.text
    labels = {t.get_text() for t in _texts(_drawn(chart, "dark"))}
    assert str(peer[1]) in labels and {"source port", "destination port", "client", "server"} <= labels


def _lookup():
    from portlab.course.widgets.lookup import lookup_box

    box = lookup_box("443")
    (text, protocol), result = box.children[0].children, box.children[1]
    return text, protocol, result


def test_lookup_widget_starts_on_any_protocol_with_rows_shown():
    text, protocol, result = _lookup()
    # The menu shows a choice from the start (value None selected nothing in ipywidgets 8).
    assert protocol.value == "any" and protocol.label == "any" and protocol.index == 0
    assert text.value == "443"
    assert "https" in result.value and "tcp" in result.value and "udp" in result.value
    assert "padding:" in result.value  # columns never run together, with or without a style sheet


def test_lookup_widget_follows_the_text_box():
    text, protocol, result = _lookup()
    text.value = "PostgreSQL"
    assert "5432" in result.value
    protocol.value = "udp"
    assert ">tcp<" not in result.value and ">udp<" in result.value
    protocol.value = "any"
    text.value = "70000"
    assert "out of range" in result.value and "<table" not in result.value
    text.value = "no-such-service"
    assert "No entries" in result.value
    text.value = "<b>"
    assert "<b>" not in result.value.replace("<b>Not a port", "")  # escaped, never injected


def test_lookup_widget_says_the_dynamic_range_has_no_rows():
    text, protocol, result = _lookup()
    text.value = "49000-"                       # rows up to 49151, then a line for the rest
    assert ">49151<" in result.value and ">49152<" not in result.value
    shown = " ".join(result.value.split())
    assert "49152-65535 is the dynamic range" in shown and "IANA never assigns" in shown
    assert "no rows for ports 49152-65535" in shown
    text.value = "50000"                        # no row at all: still said why
    assert "No entries for 50000" in result.value and "no rows for port 50000" in result.value
    for below in ("443", "40000-49151", "ssh", "49151"):
        text.value = below
        assert "dynamic range" not in result.value, below


def test_lookup_widget_explains_name_only_rows():
    text, protocol, result = _lookup()
    text.value = "ssh"
    assert ">name only<" in result.value and "register a service name without a port" in result.value
    text.value = "22-25"
    assert "name only" not in result.value


@pytest.mark.parametrize("ex, answer, ok", [
    ("01-range-of-5432", "user", True), ("01-range-of-5432", "Registered Ports", True),
    ("01-range-of-5432", USER, True), ("01-range-of-5432", "system", False), ("01-range-of-5432", None, False),
    ("01-imaps-port", 993, True), ("01-imaps-port", "993", True), ("01-imaps-port", 143, False),
    ("01-imaps-port", "nine", False), ("01-imaps-port", True, False)])
def test_exercise_check_prints_the_question_and_one_verdict_line(ex, answer, ok, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PORTLAB_PROGRESS", str(tmp_path / "progress.json"))
    assert exercises.is_correct(ex, answer) is ok
    assert exercises.check(ex, answer) is None  # a notebook cell shows the printed lines only
    out = capsys.readouterr().out
    assert out.count("\n") == 2  # the question, then the verdict: never a silent pass or fail
    question, verdict = out.splitlines()
    assert question == f"[{ex}] {question_text(exercises.get(ex))}" and exercises.get(ex).question in question
    assert verdict.startswith("correct. " if ok else "not yet: ")


def test_hints_point_the_right_way():
    assert "1023" in exercises.feedback("01-range-of-5432", "system")
    assert "no answer yet" in exercises.feedback("01-imaps-port", None)
    assert "plain IMAP" in exercises.feedback("01-imaps-port", 143)


def test_exercise_solutions_pass_their_own_checks():
    from portlab.course.exercises.core import load_all

    mine = [e for e in load_all().values() if e.notebook == "01"]
    assert {e.id for e in mine} == {"01-range-of-5432", "01-imaps-port", "01-clients-param"}
    for ex in mine:
        assert exercises.is_correct(ex.id, ex.solution), ex.id


def test_the_exercise_answer_is_not_in_the_notebook_above_it():
    # Exercise 2 asks for imaps's port; the curated table (which lists 993) comes after it.
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks" / "01-ports-and-ranges.ipynb").read_text())
    sources = ["".join(c["source"]) for c in nb["cells"]]
    asked = next(i for i, s in enumerate(sources) if "01-imaps-port" in s)
    tabled = next(i for i, s in enumerate(sources) if "COMMON_PORTS" in s)
    assert asked < tabled
    assert not any("993" in s for s in sources[:asked])


def test_unknown_exercise_is_bad_input():
    with pytest.raises(BadInput, match="does not exist"):
        exercises.check("99-nope", 1)
    with pytest.raises(ValueError, match="twice"):
        exercises.exercise("01-imaps-port", "again")(lambda answer: None)
