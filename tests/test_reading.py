"""Further reading (portlab.course.reading): every notebook has a list, every entry is a
named source with an address and a reason, and a notebook's reading cell is the list."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from portlab.course import reading
from portlab.course.syllabus import NOTEBOOKS
from portlab.errors import BadInput

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
HEADING = "## Further reading"


def test_every_notebook_has_at_least_three_named_sources():
    assert sorted(reading.READING) == [nb.number for nb in NOTEBOOKS] == [f"{n:02d}" for n in range(11)]
    for number, sources in reading.READING.items():
        assert len(sources) >= 3, number
        assert len({s.url for s in sources}) == len(sources), f"{number}: a source twice"
        for s in sources:
            assert s.title.strip() and s.why.strip(), (number, s)
            url = urlparse(s.url)
            assert url.scheme == "https" and url.netloc and " " not in s.url, (number, s.url)
            assert not s.why.endswith("."), (number, s.why)          # markdown() adds the full stop
            assert "\n" not in s.why and len(s.why) < 200, (number, s.why)


def test_sources_are_named_precisely():
    for number, sources in reading.READING.items():
        for s in sources:
            rfc = re.match(r"RFC (\d+)", s.title)
            if rfc:
                # "RFC n: Title" or "RFC n, section x: Title", and the link goes to that RFC and section
                assert re.fullmatch(r"RFC \d+(, section [\d.]+)?: \S.*", s.title), s.title
                assert f"/rfc{rfc.group(1)}" in s.url, (s.title, s.url)
                section = re.search(r"section ([\d.]+)", s.title)
                assert (section and s.url.endswith(f"#section-{section.group(1)}")) or \
                    (not section and "#" not in s.url), (s.title, s.url)
            if "nmap.org" in s.url and "Reference Guide:" in s.title:
                assert re.search(r'Reference Guide: "[A-Z][^"]+"', s.title), s.title
            if "docs.aws.amazon.com" in s.url or "learn.microsoft.com" in s.url:
                assert re.search(r'"[^"]+"', s.title), s.title      # the page's own title, quoted
            if "docs.kernel.org" in s.url:
                assert re.search(r"(ip-sysctl|nf_conntrack-sysctl)", s.title), s.title
    titles = " | ".join(s.title for sources in reading.READING.values() for s in sources)
    for must in ("Port Scanning Techniques", "Timing and Performance", "Security group rules",
                 "Default security groups for your VPCs", "Network security groups", "Virtual network service tags",
                 "ip-sysctl", "nf_conntrack-sysctl", "RFC 6797", "RFC 6335, section 6", "RFC 4787", "OWASP"):
        assert must in titles, must


def test_markdown_lists_every_source_as_a_link():
    text = reading.markdown("07")
    assert text.startswith(HEADING + "\n\n") and text.endswith("\n")
    items = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(items) == len(reading.reading(7))
    for line, source in zip(items, reading.reading("07-nat-and-port-forwarding.ipynb")):
        assert line == f"- [{source.title}]({source.url}): {source.why}."
    assert reading.markdown(7) == reading.markdown("7") == reading.markdown("07-nat-and-port-forwarding")


@pytest.mark.parametrize("bad", ["11", "x", "", "99-nothing", -1, "07-firewalls"])
def test_unknown_notebook_is_one_clear_line(bad):
    with pytest.raises(BadInput, match=r"expected one of 00, 01, .*10\)$") as info:
        reading.reading(bad)
    assert "\n" not in str(info.value)


def test_a_notebooks_reading_cell_is_the_list():
    """Every notebook ends its lesson with a further reading cell, and the cell says exactly
    what the list says."""
    for nb in NOTEBOOKS:
        cells = json.loads((NOTEBOOK_DIR / nb.filename).read_text())["cells"]
        found = [c for c in cells if c["cell_type"] == "markdown" and "".join(c["source"]).startswith(HEADING)]
        assert len(found) == 1, nb.number
        for cell in found:
            assert "".join(cell["source"]).rstrip("\n") == reading.markdown(nb.number).rstrip("\n"), nb.number
