"""The static course: ``python -m portlab.course.site OUTDIR`` executes every notebook on the
simulator and writes a page each, plus an index in course order.

The whole course is built once (it runs every notebook: slow).  Every page must be
there, every figure an embedded image with alt text, every chart with its two
themes' images, every relative link must resolve inside the site, and nothing may
be loaded from elsewhere.
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import unquote, urlsplit

import nbformat
import pytest

from portlab.course import site


class Page(HTMLParser):
    def __init__(self, text: str):
        super().__init__()
        self.images, self.links, self.scripts, self.charts = [], [], [], 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a)
        elif tag == "a" and a.get("href"):
            self.links.append(a["href"])
        elif tag == "script" and a.get("src"):
            self.scripts.append(a["src"])
        if "portlab-chart" in (a.get("class") or "").split():
            self.charts += 1


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    pages = site.build(out, log=lambda _line: None)
    return out, pages


@pytest.mark.slow
def test_every_notebook_has_a_page_and_the_index_lists_them_in_course_order(built):
    out, pages = built
    expected = [p.stem + ".html" for p in site.course_notebooks()]
    assert [p["file"] for p in pages] == expected
    for name in expected:
        assert (out / name).stat().st_size > 10_000, name
    index = Page((out / "index.html").read_text())
    assert index.links == expected


@pytest.mark.slow
def test_figures_are_embedded_with_alt_text_and_charts_carry_both_themes(built):
    out, pages = built
    for page in pages:
        parsed = Page((out / page["file"]).read_text())
        assert parsed.images, f"{page['file']}: no figure"
        assert parsed.charts >= 1, f"{page['file']}: no course chart"
        for img in parsed.images:
            assert img.get("src", "").startswith("data:image/"), f"{page['file']}: image not embedded"
            assert (img.get("alt") or "").strip(), f"{page['file']}: an image without alt text"
        light = sum("pl-light" in (i.get("class") or "") for i in parsed.images)
        dark = sum("pl-dark" in (i.get("class") or "") for i in parsed.images)
        assert light == dark == parsed.charts, page["file"]


@pytest.mark.slow
def test_links_resolve_inside_the_site_and_nothing_loads_from_elsewhere(built):
    out, pages = built
    for page in [{"file": "index.html"}, *pages]:
        parsed = Page((out / page["file"]).read_text())
        assert parsed.scripts == [], f"{page['file']} loads {parsed.scripts}"
        for href in parsed.links:
            parts = urlsplit(href)
            if parts.scheme or href.startswith("#"):
                continue
            assert not parts.path.endswith(".ipynb"), f"{page['file']}: link to a notebook left: {href}"
            assert (out / unquote(parts.path)).is_file(), f"{page['file']}: broken link {href}"


def test_links_between_notebooks_are_rewritten_and_others_left_alone():
    text = ('<a href="03-scan-types.ipynb">next</a> <a href="./10-capstone.ipynb#audit">x</a> '
            '<a href="https://example.org/03-scan-types.ipynb">y</a> <a href="data.ipynb">z</a>')
    assert site.rewrite_links(text) == (
        '<a href="03-scan-types.html">next</a> <a href="10-capstone.html#audit">x</a> '
        '<a href="https://example.org/03-scan-types.ipynb">y</a> <a href="data.ipynb">z</a>')


def test_widgets_become_a_note_and_charts_stay():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={site.WIDGET_MIME: {"model_id": "abc"}, "text/plain": "VBox()"}),
        nbformat.v4.new_output("display_data", data={"text/html": "<div class='portlab-chart'></div>"}),
    ]
    nb.cells = [cell]
    assert site.replace_widgets(nb) == 1
    assert cell.outputs[0]["data"] == {"text/html": site.WIDGET_NOTE}
    assert "portlab-chart" in cell.outputs[1]["data"]["text/html"]


def test_the_kernel_runs_as_a_learner(tmp_path):
    """Where the build runs as root, the kernel drops every capability (LIVE cells skip)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os\nfrom portlab.course.machine import machine\n"
        "print(machine().allows('live-lab'), os.environ.get('PORTLAB_PROGRESS'))")]
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    done = site.execute(path, tmp_path / "work", timeout=120)
    assert done.cells[0].outputs[0]["text"].split() == ["False", "off"]
