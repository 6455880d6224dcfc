"""The course notebooks as stored: clean pages for the learner (no outputs, no counts),
and with the tests, in tests/notebook-references/, the reference output of every cell
nbval checks (without which nbval would check nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portlab.course.nbrefs import problems

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_clean_and_every_checked_cell_has_its_reference(path):
    assert problems(path) == []


def test_the_course_has_all_eleven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(11)]


def test_nbval_is_handed_the_references():
    import nbformat
    import nbval.plugin
    path = NOTEBOOKS[2]
    nb = nbval.plugin.nbformat.read(str(path), as_version=4)   # as nbval reads it (the root conftest.py)
    checked = [c for c in nb.cells if c.cell_type == "code" and "nbval-check-output" in c.metadata.get("tags", [])]
    assert checked and all(c.outputs and c.execution_count for c in checked)
    assert not any(c.outputs for c in nbformat.read(str(path), as_version=4).cells if c.cell_type == "code")


def test_a_learners_file_browser_shows_the_course_only():
    """`make lab` opens JupyterLab on notebooks/: test plumbing must not be there."""
    folder = NOTEBOOKS[0].parent
    shown = sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and p.name != "__pycache__")
    assert shown == sorted([p.name for p in NOTEBOOKS] + ["demo"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_test_harness_text_in_what_a_learner_reads(path):
    """nbval's markers live in the cells' tags; no cell's source shows them, and no cell
    rewrites its own output for the tests' sake (tests/nbval-sanitize.cfg does that)."""
    import nbformat
    nb = nbformat.read(str(path), as_version=4)
    for i, cell in enumerate(nb.cells):
        text = "".join(cell.source)
        assert "NBVAL" not in text, f"{path.name} cell {i}"
        assert '"PORT")' not in text and "_PORT\")" not in text, f"{path.name} cell {i}"
