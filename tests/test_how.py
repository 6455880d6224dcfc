"""Helpers the learner can open: every lesson helper a notebook calls is shown, with its
docstring and its code, in that notebook's "How this notebook's helpers work" folds."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portlab.course import how as how_module
from portlab.course.how import first_sentence, how
from portlab.course.lessons import nb02, nb07

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb"))


def _code(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_lesson_helper_a_notebook_calls_has_its_fold(path):
    code = _code(path)
    called = {f"{m}.{f}" for cell in code if "how(" not in cell for m, f in re.findall(r"\b(nb\d\d)\.(\w+)\(", cell)}
    if not called:
        pytest.skip(f"{path.name} calls no lesson helper")
    folds = [cell for cell in code if "how(" in cell]
    assert len(folds) == 1, f"{path.name}: one how(...) cell, near the end"
    namespace: dict = {}
    exec(folds[0].rsplit("\n", 1)[0], namespace)          # the import line(s)
    import importlib
    for module in {name.split(".")[0] for name in called}:
        namespace[module] = importlib.import_module(f"portlab.course.lessons.{module}")
    shown = eval(folds[0].rsplit("\n", 1)[1], namespace)   # the how(...) call, as the notebook makes it
    assert called <= set(shown.names), f"{path.name}: no fold for {sorted(called - set(shown.names))}"


def test_a_fold_is_closed_and_holds_the_docstring_and_the_code():
    page = how(nb07.walk)._repr_html_()
    assert page.count("<details") == 1 and "<details open" not in page
    assert "How <code>nb07.walk</code> works: One first packet" in page
    assert "def walk(" in page and "portlab/course/lessons/nb07.py" in page


def test_a_module_gives_its_own_helpers_in_source_order_and_no_records():
    names = how(nb07).names
    assert names.index("nb07.walk") < names.index("nb07.apart") < names.index("nb07.hairpin_demo")
    assert "nb07.Walk" not in names                  # a dataclass record, not a helper
    assert not any(n.startswith("nb07.load_scenario") for n in names)   # imported, not nb07's own
    assert "nb02.Listener" in how(nb02).names


def test_the_plain_text_form_is_one_line_per_helper():
    text = repr(how(nb07.walk, nb07.summary))
    assert text.splitlines()[1:] == [f"- nb07.walk: {first_sentence(nb07.walk.__doc__)}",
                                     f"- nb07.summary: {first_sentence(nb07.summary.__doc__)}"]


def test_the_first_sentence_is_not_cut_at_an_abbreviation():
    assert first_sentence("The error a fetch ends in (e.g. the certificate check failing), or None.\n\nMore.") == \
        "The error a fetch ends in (e.g. the certificate check failing), or None."
    assert first_sentence("See :func:`walk`. Then more.") == "See walk."


@pytest.mark.parametrize("bad", [(), (42,), ("nb07",)])
def test_bad_input_is_one_clear_error(bad):
    with pytest.raises(TypeError, match=r"how\(\)"):
        how_module.how(*bad)


def test_restructuredtext_marks_do_not_reach_the_learner():
    assert first_sentence("One packet from *sender* to *port*.") == "One packet from sender to port."
    page = how(nb07.summary)._repr_html_()
    assert "`" not in page[page.find("<summary>"):page.find("</summary>")]
