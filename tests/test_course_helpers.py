"""The package parts notebook 01 leans on: chart counts, the lookup widget, exercise checks."""

from __future__ import annotations

import pytest

from portlab import registry
from portlab.course import exercises
from portlab.course.charts import registry as charts
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


@pytest.mark.parametrize("make", [charts.port_ranges, charts.assignments_per_range, charts.busiest_blocks,
                                  charts.registry_space])
def test_figures_render_to_png(make, tmp_path):
    fig = make()
    out = tmp_path / "fig.png"
    fig.savefig(out, dpi=50)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes and all(ax.get_title() for ax in fig.axes)


def test_lookup_widget_follows_the_text_box():
    from portlab.course.widgets.lookup import lookup_box

    box = lookup_box("443")
    (text, protocol), result = box.children[0].children, box.children[1]
    assert "https" in result.value
    text.value = "PostgreSQL"
    assert "5432" in result.value
    protocol.value = "udp"
    assert "tcp" not in result.value and "udp" in result.value
    text.value = "70000"
    assert "out of range" in result.value and "<table>" not in result.value
    text.value = "no-such-service"
    assert "No entries" in result.value
    text.value = "<b>"
    assert "<b>" not in result.value  # escaped, never injected


@pytest.mark.parametrize("ex, answer, ok", [
    ("01-range-of-5432", "user", True), ("01-range-of-5432", "Registered Ports", True),
    ("01-range-of-5432", USER, True), ("01-range-of-5432", "system", False), ("01-range-of-5432", None, False),
    ("01-imaps-port", 993, True), ("01-imaps-port", "993", True), ("01-imaps-port", 143, False),
    ("01-imaps-port", "nine", False), ("01-imaps-port", True, False)])
def test_exercise_check_prints_one_verdict_line(ex, answer, ok, capsys):
    assert exercises.is_correct(ex, answer) is ok
    assert exercises.check(ex, answer) is None  # a notebook cell shows the printed line only
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # never a silent pass or fail
    assert out.startswith(f"[{ex}] ") and (out.strip().endswith("correct") is ok)


def test_hints_point_the_right_way():
    assert "1023" in exercises.feedback("01-range-of-5432", "system")
    assert "no answer yet" in exercises.feedback("01-imaps-port", None)
    assert "plain IMAP" in exercises.feedback("01-imaps-port", 143)


def test_unknown_exercise_is_bad_input():
    with pytest.raises(BadInput, match="does not exist"):
        exercises.check("99-nope", 1)
    with pytest.raises(ValueError, match="twice"):
        exercises.exercise("01-imaps-port", "again")(lambda answer: None)
