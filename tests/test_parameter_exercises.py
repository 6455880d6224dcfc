"""Every notebook has at least one exercise the learner answers by changing a value in a
code cell and running it again (issue: the learner's page).  The exercise names that
variable (``parameter=``); the notebook assigns it in a cell marked "change", before
the exercise is asked, and the question tells the learner which value to change."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portlab.course.exercises import core

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _code_cells(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_each_notebook_has_an_exercise_that_changes_a_parameter(path):
    number = path.name[:2]
    exercises = [ex for ex in core.load_all().values() if ex.notebook == number and ex.parameter]
    assert exercises, f"{path.name}: no exercise with parameter= (change a value, see the result)"
    cells = _code_cells(path)
    for ex in exercises:
        assigns = [i for i, cell in enumerate(cells)
                   if re.search(rf"^\s*{re.escape(ex.parameter)}\s*=.*#.*\bchange", cell, re.M | re.I)]
        asked = [i for i, cell in enumerate(cells) if f'"{ex.id}"' in cell]
        assert assigns, f"{ex.id}: no cell assigns {ex.parameter} with a 'change' comment"
        assert asked and min(assigns) < min(asked), f"{ex.id}: the parameter cell must come before the exercise"
        assert ex.parameter in ex.question, f"{ex.id}: the question should name `{ex.parameter}`"
