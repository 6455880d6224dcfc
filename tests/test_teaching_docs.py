"""The teacher's plans, times and rubric (docs/teaching/) agree with the course.

One source for a notebook's time: portlab/course/syllabus.py (the course map that notebook 00
draws, the progress summary and the guide use it). Everything else that states a time must say
the same: the README's table, notebook 00's course map, each notebook's **Time:** line, the
instructor notes, the guide's total, and the plans, whose tables must also add up (a 2-hour
class, a 1-hour demonstration, five 90-minute weeks) and whose sections must exist in the
notebooks they name. The capstone rubric's numbers are recomputed with notebook 10's audit.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from portlab.course import syllabus

ROOT = Path(__file__).resolve().parents[1]
TEACHING = ROOT / "docs" / "teaching"
PLANS = TEACHING / "plans.md"
RUBRIC = TEACHING / "capstone-rubric.md"
NOTEBOOKS = ROOT / "notebooks"
MINUTES = {nb.number: nb.minutes for nb in syllabus.NOTEBOOKS}


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _markdown_cells(nb: syllabus.Notebook) -> list[str]:
    cells = json.loads(_read(NOTEBOOKS / nb.filename))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "markdown"]


def _sections(text: str, level: str) -> dict[str, str]:
    """Heading text -> body, for headings of exactly this level ('##' or '###')."""
    parts = re.split(rf"^({level} .*)$", text, flags=re.M)
    out = {}
    for head, body in zip(parts[1::2], parts[2::2]):
        out[head[len(level) + 1:].strip()] = re.split(r"^#{1,%d} " % len(level), body, flags=re.M)[0]
    return out


def _rows(body: str) -> list[tuple[int, int, int]]:
    """(start, end, minutes) of each '| H:MM–H:MM | N |' row, in minutes from the start."""
    rows = []
    for h1, m1, h2, m2, n in re.findall(r"^\| (\d+):(\d\d)–(\d+):(\d\d) \| (\d+) \|", body, re.M):
        rows.append((int(h1) * 60 + int(m1), int(h2) * 60 + int(m2), int(n)))
    return rows


def _check_timeline(rows: list[tuple[int, int, int]], total: int, where: str) -> None:
    assert rows, f"{where}: no '| H:MM–H:MM | N |' rows"
    assert rows[0][0] == 0, f"{where}: starts at minute {rows[0][0]}"
    for (start, end, n), nxt in zip(rows, rows[1:] + [None]):
        assert end - start == n, f"{where}: the row from minute {start} says {n} min but spans {end - start}"
        if nxt:
            assert nxt[0] == end, f"{where}: a gap or overlap at minute {end}"
    assert rows[-1][1] == total and sum(r[2] for r in rows) == total, f"{where}: adds up to {rows[-1][1]}, not {total}"


# ---- the one source, and everything that repeats it ---------------------------------------------

def test_the_readme_table_agrees_with_the_syllabus():
    rows = dict(re.findall(r"^\| `(\d\d)-[\w-]+` \|.*\| (\d+) \|\s*$", _read(ROOT / "README.md"), re.M))
    assert {k: int(v) for k, v in rows.items()} == MINUTES


def test_notebook_00s_course_map_agrees_with_the_syllabus():
    text = "\n".join(_markdown_cells(syllabus.notebook("00")))
    rows = dict(re.findall(r"^\| \[(\d\d) · [^]]+\]\([\w-]+\.ipynb\) \|.*\| (\d+) min \|\s*$", text, re.M))
    assert {k: int(v) for k, v in rows.items()} == MINUTES


@pytest.mark.parametrize("nb", syllabus.NOTEBOOKS, ids=lambda nb: nb.number)
def test_each_notebooks_header_states_the_syllabus_time(nb):
    first = _markdown_cells(nb)[0]
    said = re.search(r"\*\*Time:\*\* about (\d+) minutes", first)
    if not said:
        pytest.skip(f"notebook {nb.number} states no '**Time:** about N minutes' in its first cell")
    assert int(said.group(1)) == nb.minutes, f"notebook {nb.number} says {said.group(1)} min, the syllabus {nb.minutes}"


@pytest.mark.parametrize("nb", syllabus.NOTEBOOKS, ids=lambda nb: nb.number)
def test_each_notes_time_is_the_syllabus_time(nb):
    note = _read(ROOT / "docs" / "instructor-notes" / f"{nb.slug}.md")
    said = re.search(r"\*\*Time:\*\*\D*?(\d+) minutes", note)
    assert said, f"{nb.slug}.md: no '**Time:** ... N minutes'"
    assert int(said.group(1)) == nb.minutes


def test_the_guides_total_is_the_syllabus_total():
    total = syllabus.total_minutes()
    assert f"In all {total // 60} h {total % 60} min" in _read(ROOT / "docs" / "instructor.md")


def test_every_time_a_teaching_page_gives_a_notebook_is_the_syllabus_time():
    """'05 · Firewalls (50 min)' anywhere in docs/teaching/ names the notebook's own time and title."""
    seen = 0
    for page in sorted(TEACHING.glob("*.md")):
        for number, title, minutes in re.findall(r"\b(\d\d) · ([^()\n|]+?) \((\d+) min\)", _read(page)):
            nb = syllabus.notebook(number)
            assert title.strip() == nb.title, f"{page.name}: {number} is '{nb.title}', not '{title}'"
            assert int(minutes) == nb.minutes, f"{page.name}: {number} takes {nb.minutes} min, not {minutes}"
            seen += 1
    assert seen >= 5


# ---- the plans add up ------------------------------------------------------------------------------

def test_the_two_hour_class_fills_two_hours():
    body = _sections(_read(PLANS), "##")["A 2-hour class"]
    _check_timeline(_rows(body), 120, "the 2-hour class")
    for cut in re.findall(r"\*\*(\d+):(\d\d)\*\*", body):
        assert 0 < int(cut[0]) * 60 + int(cut[1]) < 120
    assert "**Cut points**" in body and "**What to skip when running late**" in body


def test_the_one_hour_demonstration_fills_an_hour_and_has_fallbacks():
    body = _sections(_read(PLANS), "##")["A 1-hour demonstration"]
    rows = _rows(body)
    _check_timeline(rows, 60, "the 1-hour demonstration")
    lab_rows = [line for line in body.splitlines() if re.match(r"\| \d:\d\d–", line) and "lab up" in line]
    assert lab_rows, "the demonstration shows no live lab"
    for line in lab_rows:
        fallback = line.rstrip(" |").rsplit("|", 1)[-1]
        assert "--scenario" in fallback or "portlab show" in fallback, f"no fallback for: {line[:60]}"


def test_every_week_is_ninety_minutes():
    weeks = {h: b for h, b in _sections(_read(PLANS), "###").items() if h.startswith("Week ")}
    assert len(weeks) == 5
    for head, body in weeks.items():
        _check_timeline(_rows(body), 90, head)


def test_the_five_weeks_cover_every_notebook_once():
    """Class minutes plus homework minutes give each notebook its course-map time, and the homework
    the weeks set adds up to the table's 'at home' column."""
    body = _sections(_read(PLANS), "##")["The course in five weeks"]
    rows = re.findall(r"^\| (\d\d) · ([^|]+?) \| (\d+) \| (\d+) \| (\d+) \|", body, re.M)
    assert [r[0] for r in rows] == list(MINUTES)
    for number, title, course_map, in_class, at_home in rows:
        nb = syllabus.notebook(number)
        assert title == nb.title
        assert int(course_map) == nb.minutes, f"{number}: the course map says {nb.minutes}"
        assert int(in_class) + int(at_home) == nb.minutes, f"{number}: {in_class} + {at_home} != {nb.minutes}"
    total = re.search(r"^\| all \| (\d+) \| (\d+) \| (\d+) \|", body, re.M)
    assert total, "no 'all' row"
    assert int(total.group(1)) == syllabus.total_minutes()
    assert int(total.group(2)) == sum(int(r[3]) for r in rows)
    assert int(total.group(3)) == sum(int(r[4]) for r in rows)
    homework = [int(n) for n in re.findall(r"\*\*Homework \((\d+) min\):\*\*", body)]
    assert len(homework) == 4 and sum(homework) == int(total.group(3))
    words = " ".join(body.split())
    assert f"The whole course is {syllabus.total_minutes()} minutes" in words
    assert f"about {total.group(2)} of those happen in class" in words and f"{total.group(3)} are homework" in words


def test_every_section_a_plan_names_exists_in_its_notebook():
    """'03 §5' or '04 §3–6' or '03 §4 and §6–8': each of those sections is a '## N.' heading of the notebook."""
    text = _read(PLANS) + _read(TEACHING / "checklist.md")
    found = 0
    for number, refs in re.findall(r"\b(\d\d)(?:'s)? ((?:§\d+(?:–\d+)?(?:,? and |, )?)+)", text):
        headings = {int(n) for c in _markdown_cells(syllabus.notebook(number))
                    for n in re.findall(r"^## (\d+)\.", c, re.M)}
        for lo, hi in re.findall(r"§(\d+)(?:–(\d+))?", refs):
            for section in range(int(lo), int(hi or lo) + 1):
                assert section in headings, f"notebook {number} has no section {section} (plans name it)"
                found += 1
    assert found >= 30


# ---- the capstone rubric ---------------------------------------------------------------------------

def test_the_rubrics_numbers_are_the_audits():
    from portlab.course.lessons import nb10
    text = " ".join(_read(RUBRIC).split())
    shipped = nb10.audit()
    total, failing = len(shipped.findings), len(shipped.failures)
    assert f"fails {failing} of the {total} checks" in text
    assert f"passes all {total}" in text and f"all {total} checks as required" in text
    assert f"Names all {len(shipped.exposed())} services the Internet reaches" in text
    assert nb10.audit(nb10.SOLUTION).passed
    no_core = nb10.audit(nb10.SOLUTION.split("[core]")[0])
    assert f"left as shipped: the audit then fails {len(no_core.failures)} checks" in text
    office = nb10.audit(nb10.SOLUTION.replace('source = "192.168.77.50"', 'source = "192.168.77.0/24"'))
    assert {f.place for f in office.failures} == {"db"}
    assert f"the audit then fails {len(office.failures)} checks, all from `db`" in text


def test_the_rubric_follows_notebook_10s_sections():
    headings = {int(n): t for c in _markdown_cells(syllabus.notebook("10"))
                for n, t in re.findall(r"^## (\d+)\. (.+)$", c, re.M)}
    text = _read(RUBRIC)
    criteria = re.findall(r"^\| \*\*\d\. [^*]+\*\* \(([^)]*)\)", text, re.M)
    assert len(criteria) == 6
    for said in criteria:
        for section in re.findall(r"section (\d+)", said):
            assert int(section) in headings, f"notebook 10 has no section {section}"
    levels = re.search(r"^\| criterion \| 4 \| 3 \| 2 \| 1 \|$", text, re.M)
    assert levels, "the rubric's table has four levels"
    for machine in ("web", "db", "ws", "core"):
        assert f"`{machine}`" in text
