"""The course notebooks as stored: clean pages for the learner, except the reference
outputs of the cells nbval checks (without which nbval would check nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from portlab.course.nbrefs import problems

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_checked_cells_store_outputs_and_every_checked_cell_has_its_reference(path):
    assert problems(path) == []


def test_the_course_has_all_eleven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == [f"{i:02d}" for i in range(11)]
