"""The repository stands alone: nothing in it points at files outside it.

The project began from notes kept next to the repository.  What they said now lives in
docs/design.md (how portlab is built) and docs/syllabus.md (what the course teaches, and
where); these tests fail if a file points outside the repository again, if either page is
missing, or if a page names a module, a file, a notebook section or a time the repository
does not have.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DESIGN = ROOT / "docs" / "design.md"
SYLLABUS = ROOT / "docs" / "syllabus.md"

# Built from pieces so that this file does not match itself.
FORBIDDEN = [
    re.compile(re.escape("DESIGN" + ".md")),
    re.compile(re.escape("COURSE" + ".md")),
    re.compile(re.escape("..") + r"[/\\]" + "shared" + r"\b"),
    re.compile(re.escape("/work/" + "shared")),
    re.compile(re.escape("the project's " + "design notes"), re.I),
]


def repository_files() -> list[Path]:
    """Tracked files, and new ones not yet added that git would not ignore."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=ROOT, capture_output=True, check=True, timeout=60).stdout
    except (OSError, subprocess.CalledProcessError) as failure:
        pytest.skip(f"git cannot list the repository's files here: {failure}")
    paths = [ROOT / name for name in listed.decode().split("\0") if name]
    return [p for p in paths if p.is_file()]


def text_of(path: Path):
    data = path.read_bytes()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_file_points_outside_the_repository():
    files = repository_files()
    assert len(files) > 100, "git listed suspiciously few files"
    found = []
    for path in files:
        text = text_of(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if any(p.search(line) for p in FORBIDDEN):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, ("these lines point outside the repository; point at docs/design.md or "
                       "docs/syllabus.md instead:\n" + "\n".join(found))


def test_the_check_would_catch_an_outside_reference():
    samples = ["see .." + "/shared/" + "DESIGN" + ".md", "(" + "COURSE" + ".md)", "in the project's " + "design notes"]
    for sample in samples:
        assert any(p.search(sample) for p in FORBIDDEN), sample
    assert not any(p.search("see docs/design.md and docs/syllabus.md, on a shared machine") for p in FORBIDDEN)


@pytest.mark.parametrize("page", [DESIGN, SYLLABUS], ids=lambda p: p.name)
def test_the_page_exists(page):
    assert page.is_file(), f"{page.relative_to(ROOT)} is missing"
    assert len(page.read_text().split()) > 800, f"{page.relative_to(ROOT)} is too short to say what it must"


# -- what the pages name exists ----------------------------------------------------

CODE = re.compile(r"`([^`\n]+)`")
DOTTED = re.compile(r"portlab(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
TOP_DIRS = ("portlab/", "notebooks/", "data/", "docs/", "tests/", "benchmarks/", "classroom/")


def resolve_dotted(name: str) -> None:
    """Import the longest module prefix of *name*; the rest must be attributes of it."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[i:]:
            value = getattr(value, attribute)
        return
    raise ModuleNotFoundError(name)


def named_things(page: Path) -> tuple[set[str], set[str], set[str]]:
    """(dotted names, repository paths, notebook names) a page writes in backticks."""
    dotted, paths, notebooks = set(), set(), set()
    for code in CODE.findall(page.read_text()):
        if DOTTED.fullmatch(code):
            dotted.add(code)
        elif code.startswith(TOP_DIRS) and not re.search(r"[<>*]", code) and " " not in code:
            paths.add(code)
        elif re.fullmatch(r"\d\d-[a-z0-9-]+", code):
            notebooks.add(code)
    return dotted, paths, notebooks


@pytest.mark.parametrize("page", [DESIGN, SYLLABUS], ids=lambda p: p.name)
def test_every_module_file_and_notebook_the_page_names_exists(page):
    dotted, paths, notebooks = named_things(page)
    if page == DESIGN:
        assert len(dotted) > 40, "docs/design.md should name the package's modules"
    missing = []
    for name in sorted(dotted):
        try:
            resolve_dotted(name)
        except (ImportError, AttributeError) as why:
            missing.append(f"{name} ({why})")
    missing += [p for p in sorted(paths) if not (ROOT / p).exists()]
    missing += [n for n in sorted(notebooks) if not (ROOT / "notebooks" / f"{n}.ipynb").is_file()]
    assert not missing, f"{page.relative_to(ROOT)} names what the repository does not have: {missing}"


def test_design_names_every_module_of_the_package():
    text = DESIGN.read_text()
    named = set(DOTTED.findall(text))
    modules = [f"portlab.{p.stem}" for p in (ROOT / "portlab").glob("*.py") if not p.stem.startswith("__")]
    modules += [f"portlab.{p.parent.name}" for p in (ROOT / "portlab").glob("*/__init__.py")]
    absent = sorted(m for m in modules if m not in named)
    assert not absent, f"docs/design.md says nothing of {absent}"


# -- the syllabus agrees with the notebooks ------------------------------------------

NOTEBOOK_HEADING = re.compile(r"^### (\d\d) · (.+?) \((\d+) min\)$", re.M)
SECTION = re.compile(r"^- \*\*(.+?)\*\*", re.M)


def _plain(title: str) -> str:
    title = re.sub(r"^\d+\.\s+", "", title.strip())
    return re.sub(r"\s+", " ", title.replace("`", "")).lower()


def notebook_headings(number: str) -> set[str]:
    (path,) = sorted((ROOT / "notebooks").glob(f"{number}-*.ipynb"))
    headings = set()
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "markdown":
            for line in "".join(cell["source"]).splitlines():
                if line.startswith("#"):
                    headings.add(_plain(line.lstrip("#")))
    return headings


def syllabus_notebooks() -> list[tuple[str, str, int, list[str]]]:
    """(number, title, minutes, section titles) per notebook of docs/syllabus.md."""
    text = SYLLABUS.read_text()
    heads = list(NOTEBOOK_HEADING.finditer(text))
    out = []
    for i, head in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        sections = SECTION.findall(text, head.end(), end)
        out.append((head.group(1), head.group(2), int(head.group(3)), sections))
    return out


def test_the_syllabus_covers_every_notebook():
    from portlab.course.syllabus import NOTEBOOKS

    assert [n for n, *_ in syllabus_notebooks()] == [nb.number for nb in NOTEBOOKS]


@pytest.mark.parametrize("number", [f"{i:02d}" for i in range(11)])
def test_the_sections_the_syllabus_names_are_in_the_notebook(number):
    entry = next(e for e in syllabus_notebooks() if e[0] == number)
    _, title, _, sections = entry
    headings = notebook_headings(number)
    assert _plain(title) in {_plain(h.split("·", 1)[-1]) for h in headings}, f"{number}: title {title!r}"
    assert sections, f"{number}: the syllabus lists no sections"
    missing = [s for s in sections if _plain(s) not in headings]
    assert not missing, f"docs/syllabus.md names sections notebook {number} does not have: {missing}"


def test_the_times_agree_everywhere():
    from portlab.course.syllabus import NOTEBOOKS

    minutes = {nb.number: nb.minutes for nb in NOTEBOOKS}
    text = SYLLABUS.read_text()
    assert {n: m for n, _, m, _ in syllabus_notebooks()} == minutes, "docs/syllabus.md, notebook headings"
    table = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| `(\d\d)-[a-z0-9-]+` \|[^|]+\| (\d+) \|$", text, re.M)}
    assert table == minutes, "docs/syllabus.md, the table of notebooks"
    total = sum(minutes.values())
    assert f"In all {total} minutes, {total // 60} h {total % 60} min." in text
    readme = (ROOT / "README.md").read_text()
    in_readme = {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| `(\d\d)-[a-z0-9-]+` \|[^|]+\| (\d+) \|$",
                                                                   readme, re.M)}
    assert in_readme == minutes, "README.md's table of notebooks"
    disagree = {}
    for number, expected in minutes.items():
        (path,) = sorted((ROOT / "notebooks").glob(f"{number}-*.ipynb"))
        first = "".join(json.loads(path.read_text())["cells"][0]["source"])
        stated = re.search(r"\*\*Time:\*\* about (\d+) minutes", first)
        if stated and int(stated.group(1)) != expected:
            disagree[number] = int(stated.group(1))
    assert not disagree, f"notebook headers disagree with portlab.course.syllabus: {disagree}"
