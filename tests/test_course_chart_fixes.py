"""Two charts a learner met in Chromium: the three-scans grid cut service names, and notebook
01's dark legend swatch for "listed as unassigned" nearly vanished into the page."""

from __future__ import annotations

import matplotlib.colors
from matplotlib.backends.backend_agg import FigureCanvasAgg

from portlab.course.charts import registry as registry_charts
from portlab.course.charts.scans import three_ways
from portlab.course.theme import DARK, LIGHT, contrast


def test_three_scans_chart_shows_service_names_whole_and_apart():
    chart = three_ways("10.77.0.2")                       # notebook 03's ports of single-host
    assert chart.data.services[9000] == "cslistener"
    for theme in ("light", "dark"):
        fig = chart.figure(theme)
        FigureCanvasAgg(fig).draw()
        ax = fig.axes[0]
        ticks = ax.get_xticklabels()
        labels = {int(t.get_text().split("\n")[0]): t.get_text() for t in ticks}
        for port, name in chart.data.services.items():
            shown = labels[port].split("\n", 1)[1].replace("\n", "")
            assert shown == name and "…" not in labels[port], (port, labels[port])
        # whole, and still inside their own column: no two labels overlap
        boxes = sorted((t.get_window_extent() for t in ticks), key=lambda b: b.x0)
        assert all(a.x1 <= b.x0 for a, b in zip(boxes, boxes[1:]))


def _opaque(face, background: str) -> str:
    """A fill as the eye sees it: its colour over the page, by its alpha."""
    r, g, b, a = matplotlib.colors.to_rgba(face)
    bg = matplotlib.colors.to_rgb(background)
    return matplotlib.colors.to_hex(tuple(a * c + (1 - a) * d for c, d in zip((r, g, b), bg)))


def _legend(theme: str) -> dict:
    fig = registry_charts.registry_space("tcp").figure(theme)
    legend = fig.legends[0]
    return {t.get_text(): h for h, t in zip(legend.legend_handles, legend.get_texts())}


def test_unassigned_swatch_reads_on_the_dark_page():
    unassigned = registry_charts.STATUS_LABELS["unassigned"]
    drawn = _legend("dark")[unassigned]                   # the swatch notebook 01's chart draws
    face = _opaque(drawn.get_facecolor(), DARK.background)
    edge = _opaque(drawn.get_edgecolor(), DARK.background)
    assert contrast(face, DARK.background) >= 3.0, contrast(face, DARK.background)
    assert contrast(edge, DARK.background) >= 3.0, contrast(edge, DARK.background)
    # still apart from the solid "assigned" swatch
    assigned = _opaque(_legend("dark")[registry_charts.STATUS_LABELS["assigned"]].get_facecolor(), DARK.background)
    assert contrast(assigned, face) >= 1.5
    # the bars' unassigned parts, in the range colours, read on the dark page as well
    for key in ("system", "user"):
        tint = matplotlib.colors.to_hex(registry_charts.tinted(registry_charts.RANGE_COLOURS[key], DARK))
        assert contrast(tint, DARK.background) >= 3.0, key
    # on the light page its outline carries it
    outline = _opaque(_legend("light")[unassigned].get_edgecolor(), LIGHT.background)
    assert contrast(outline, LIGHT.background) >= 3.0
