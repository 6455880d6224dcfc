"""The instructor's guide (docs/instructor.md), its per-notebook notes and the teaching pages
(docs/teaching/: plans, checklist, rubric) stay true to the course.

A teacher reads the guide in front of a class, so what it claims must hold: a section and a
linked note for every notebook, every exercise named somewhere a teacher looks, the LIVE cells
it announces are the ones the notebook has, and every command it or a teaching page prints is
one the CLI accepts. It speaks to teachers only: nothing about the test suite or CI.
Nothing here scans: commands are parsed, never run.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from portlab import scenario as scenarios
from portlab.cli import build_parser
from portlab.course import syllabus
from portlab.course.exercises import load_all
from portlab.portspec import parse_ports

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "instructor.md"
NOTES = ROOT / "docs" / "instructor-notes"
TEACHING = ROOT / "docs" / "teaching"
NOTEBOOKS = ROOT / "notebooks"


def _guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _note_path(nb: syllabus.Notebook) -> Path:
    return NOTES / f"{nb.slug}.md"


def _sections(text: str) -> dict[str, tuple[str, str]]:
    """Notebook number -> (heading title, body) for the guide's '### NN · Title' sections."""
    found = {}
    parts = re.split(r"^(###? .*)$", text, flags=re.M)
    for head, body in zip(parts[1::2], parts[2::2]):
        m = re.match(r"### (\d\d) · (.+)$", head)
        if m:
            found[m.group(1)] = (m.group(2).strip(), body)
    return found


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(text: str) -> set[str]:
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def _live_cells(nb: syllabus.Notebook) -> int:
    cells = json.loads((NOTEBOOKS / nb.filename).read_text(encoding="utf-8"))["cells"]
    return sum(1 for c in cells if c["cell_type"] == "code" and 'live("live-lab"' in "".join(c["source"]))


@pytest.mark.parametrize("nb", syllabus.NOTEBOOKS, ids=lambda nb: nb.number)
def test_every_notebook_has_a_section_with_its_time(nb):
    sections = _sections(_guide())
    assert nb.number in sections, f"no '### {nb.number} · {nb.title}' section in docs/instructor.md"
    title, body = sections[nb.number]
    assert title == nb.title
    # The time a teacher plans with is the syllabus's (the course map and notebook 00 use it too).
    assert f"**Time:** {nb.minutes} min" in body
    for label in ("**Learner does:**", "**Demonstrate:**", "**Exercises:**", "**LIVE cells:**",
                  "**Common mistakes:**"):
        assert label in body, f"section {nb.number} lacks {label}"


@pytest.mark.parametrize("nb", syllabus.NOTEBOOKS, ids=lambda nb: nb.number)
def test_every_notebook_has_a_note_linked_both_ways(nb):
    note = _note_path(nb)
    assert note.is_file(), f"missing {note.relative_to(ROOT)}"
    _, body = _sections(_guide())[nb.number]
    assert f"](instructor-notes/{note.name})" in body, f"section {nb.number} does not link {note.name}"
    text = note.read_text(encoding="utf-8")
    assert text.startswith(f"# {nb.number} · "), f"{note.name}: first line should be '# {nb.number} · ...'"
    back = re.search(r"\]\(\.\./instructor\.md#([\w-]+)\)", text)
    assert back, f"{note.name} does not link back to the guide"
    heading = f"{nb.number} · {_sections(_guide())[nb.number][0]}"
    assert back.group(1) == _slug(heading), f"{note.name} links to #{back.group(1)}, the section is #{_slug(heading)}"


def test_relative_links_resolve():
    """Every relative link of the guide, the notes and the teaching pages names a file that exists,
    and an anchor it has."""
    pages = [GUIDE, *sorted(NOTES.glob("*.md")), *sorted(TEACHING.glob("*.md")), ROOT / "docs" / "developing.md"]
    checked = 0
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue  # an outside address: not ours to check offline
            path, _, anchor = target.partition("#")
            dest = (page.parent / path).resolve() if path else page
            assert dest.is_file(), f"{page.name}: link to missing {target}"
            if anchor and dest.suffix == ".md":
                assert anchor in _anchors(dest.read_text(encoding="utf-8")), f"{page.name}: no #{anchor} in {dest.name}"
            checked += 1
    assert checked >= 2 * len(syllabus.NOTEBOOKS)


def test_every_exercise_is_named_in_the_guide_or_its_note():
    guide = _guide()
    registry = load_all()
    assert registry, "no exercises registered"
    missing = []
    for ex_id, ex in registry.items():
        note = _note_path(syllabus.notebook(ex.notebook))
        note_text = note.read_text(encoding="utf-8") if note.is_file() else ""
        if f"`{ex_id}`" not in guide and f"`{ex_id}`" not in note_text:
            missing.append(ex_id)
    assert not missing, f"exercises a teacher cannot find in docs/: {missing}"


def test_no_unknown_exercise_ids():
    """An id the guide names that no longer exists would send a teacher looking for nothing."""
    known = set(load_all())
    text = _guide() + "".join(p.read_text(encoding="utf-8") for p in NOTES.glob("*.md"))
    named = set(re.findall(r"`(\d\d-[a-z0-9-]+)`", text)) - {nb.slug for nb in syllabus.NOTEBOOKS}
    assert named and named <= known, f"unknown exercise ids: {sorted(named - known)}"


@pytest.mark.parametrize("nb", syllabus.NOTEBOOKS, ids=lambda nb: nb.number)
def test_live_cells_announced_are_the_notebooks(nb):
    """'LIVE cells: none' or 'LIVE cells: N' in the section, and the overview table's column, match the notebook."""
    count = _live_cells(nb)
    _, body = _sections(_guide())[nb.number]
    said = re.search(r"\*\*LIVE cells:\*\* (none|\d+)", body)
    assert said, f"section {nb.number}: no '**LIVE cells:** none|N' line"
    assert said.group(1) == (str(count) if count else "none"), f"notebook {nb.number} has {count} LIVE cells"
    row = re.search(rf"^\| {nb.number} \| `{re.escape(nb.slug)}` \| (\d+) min \|.*?\| (none|\d+) \|", _guide(), re.M)
    assert row, f"overview table: no row for {nb.slug}"
    assert int(row.group(1)) == nb.minutes
    assert row.group(2) == (str(count) if count else "none")


# ---- commands ---------------------------------------------------------------------------------

PORTLAB = re.compile(r"^(?:sudo\s+)?(?:\.venv/bin/)?portlab\s+(.*)$")
SOLUTIONS = re.compile(r"^(?:\.venv/bin/)?python3?\s+-m\s+portlab\.course\.exercises\.solutions\b(.*)$")


def _fenced_blocks(text: str, lang: str = "") -> list[str]:
    """Bodies of ``` blocks (indented ones inside lists too), optionally only those of one language."""
    blocks = []
    for m in re.finditer(r"^([ \t]*)```(\w*)\n(.*?)^\1```", text, flags=re.M | re.S):
        if not lang or m.group(2) == lang:
            blocks.append("\n".join(line[len(m.group(1)):] for line in m.group(3).splitlines()))
    return blocks


def _commands(text: str, *, fenced_only: bool) -> list[str]:
    """Shell commands: each line of fenced blocks, and (unless fenced_only) each inline code span."""
    pieces = [line for block in _fenced_blocks(text) for line in block.splitlines()]
    if not fenced_only:
        pieces += re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))
    out = []
    for piece in pieces:
        for part in re.split(r"\s*(?:;|&&|\|)\s*", piece):
            part = part.strip()
            if part:
                out.append(part)
    return out


def _check_portlab(words: list[str]) -> None:
    """Parse as the CLI would, then the values argparse leaves as text: ports and scenario names."""
    try:
        args = build_parser().parse_args(words)
    except SystemExit as stop:  # argparse's way to reject; 0 would be --help, which runs nothing
        raise AssertionError(f"portlab {' '.join(words)}: the CLI rejects it (exit {stop.code})") from None
    shipped = scenarios.shipped()
    if getattr(args, "ports", None):
        parse_ports(args.ports, "udp" if getattr(args, "scan_type", "") in ("udp", "-sU") else "tcp")
    for name in (getattr(args, "scenario", None),) + ((words[2],) if words[:2] == ["lab", "up"] else ()):
        if name and not Path(name).suffix:
            assert name in shipped, f"portlab {' '.join(words)}: no shipped scenario {name!r}"


def _all_commands() -> list[tuple[str, str]]:
    found = [("instructor.md", c) for c in _commands(_guide(), fenced_only=True)]
    found += [("instructor.md inline", c) for c in _commands(_guide(), fenced_only=False)]
    for page in [*sorted(NOTES.glob("*.md")), *sorted(TEACHING.glob("*.md"))]:
        found += [(page.name, c) for c in _commands(page.read_text(encoding="utf-8"), fenced_only=False)]
    return found


def test_every_portlab_command_parses():
    seen = 0
    for where, command in _all_commands():
        command = re.sub(r"\s+#.*$", "", command)  # a trailing shell comment
        m = PORTLAB.match(command)
        if m:
            _check_portlab(shlex.split(m.group(1)))
            seen += 1
            continue
        m = SOLUTIONS.match(command)
        if m:
            for number in shlex.split(m.group(1)):
                syllabus.notebook(number)  # ValueError names the bad number
            seen += 1
    # The guide's own fenced blocks hold the lab walk-through: at least that many must have been found.
    assert seen >= 15, f"only {seen} commands found: did the guide's format change?"


def test_the_guide_shows_the_lab_walk_through():
    """up, status, a connect and a SYN scan, down: the demonstration a teacher copies line by line."""
    fenced = [re.sub(r"\s+#.*$", "", c) for c in _commands(_guide(), fenced_only=True)]
    words = [shlex.split(PORTLAB.match(c).group(1)) for c in fenced if PORTLAB.match(c)]
    assert ["lab", "up", "web-server"] in words
    assert ["lab", "status"] in words and ["lab", "down"] in words
    scans = [w for w in words if w[0] == "scan" and "--scenario" not in w and w[1] != "127.0.0.1"]
    assert any("-s" in w and w[w.index("-s") + 1] == "syn" for w in scans)
    assert any("-s" not in w for w in scans)


def test_a_wrong_command_is_caught():
    """The checker itself can fail: a misspelt option, a bad port list and an unknown scenario."""
    with pytest.raises(AssertionError, match="rejects"):
        _check_portlab(["scan", "127.0.0.1", "--portz", "22"])
    with pytest.raises(Exception, match="70000"):
        _check_portlab(["scan", "127.0.0.1", "-p", "70000"])
    with pytest.raises(AssertionError, match="no shipped scenario"):
        _check_portlab(["lab", "up", "no-such-scenario"])
    with pytest.raises(AssertionError, match="no shipped scenario"):
        _check_portlab(["scan", "10.77.0.2", "--scenario", "single-hots"])


def test_python_examples_build_their_widgets():
    """The guide's python blocks (scan panel, packet stepper) run as written, in simulated mode."""
    blocks = _fenced_blocks(_guide(), "python")
    assert len(blocks) >= 2
    for block in blocks:
        namespace: dict = {}
        exec(compile(block, "docs/instructor.md", "exec"), namespace)  # noqa: S102 - our own doc


def test_the_jupyterhub_section_has_its_heading():
    """Another part of the docs links to this heading; it must exist exactly once."""
    assert re.findall(r"^## Running a class on JupyterHub$", _guide(), flags=re.M) == ["## Running a class on JupyterHub"]


def test_the_teaching_pages_commands_parse():
    """The plans and the checklist print scans, labs and recordings a teacher types in class."""
    seen = 0
    for page in sorted(TEACHING.glob("*.md")):
        for command in _commands(page.read_text(encoding="utf-8"), fenced_only=False):
            m = PORTLAB.match(re.sub(r"\s+#.*$", "", command))
            if m:
                words = shlex.split(m.group(1))
                _check_portlab(words)
                if words[0] == "show":
                    assert (ROOT / words[-1]).is_file(), f"{page.name}: no recording {words[-1]}"
                seen += 1
    assert seen >= 15, f"only {seen} portlab commands found in docs/teaching/"


def test_the_guide_speaks_to_teachers_only():
    """How the course is tested belongs in docs/developing.md, not in a teacher's guide."""
    text = _guide()
    for word in ("pytest", "tests/", "make test", "CI", "test suite", "the hub test"):
        assert not re.search(rf"(?<![\w/]){re.escape(word)}(?!\w)", text), f"docs/instructor.md mentions {word!r}"
    assert (ROOT / "docs" / "developing.md").is_file()


def test_the_guide_says_what_loopback_scans_do_on_a_shared_machine():
    """The wide live scans run in the learner's own namespace; the CLI leaves other users' ports alone."""
    text = " ".join(_guide().split())
    assert "private network namespace of the learner's own" in text
    for number in ("04", "08", "09"):
        assert f"{number}" in text.split("private network namespace")[0][-400:], f"notebook {number} not named"
    assert "does not probe loopback ports that other users listen on" in text
    assert "a loopback scan reaches every listener on the host" not in text


def test_the_guide_points_at_the_rule_and_security():
    text = _guide()
    assert "SECURITY.md" in text and (ROOT / "SECURITY.md").is_file()
    assert "--allow-target" in text and "exit status 3" in text
