"""The teacher's answer key, generated from the exercise definitions.

    python -m portlab.course.answerkey build/answer-key.md [NN ...]     (make answer-key)

Writes one Markdown page: a table of every exercise and its answer, then, notebook
by notebook, each exercise's question, choices, answer, why, the hints a learner
gets on wrong tries, and where the notebook asks it.  Everything comes from the
registry the notebooks' checks use (``portlab.course.exercises``) and from the
notebooks themselves, so the key cannot drift from the course: regenerate it, never
edit it.  With notebook numbers, only those notebooks.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Iterable, Optional

from . import syllabus
from .exercises import load_all
from .exercises.core import Exercise

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"

KIND_WORDS = {
    "choice": "choose one",
    "number": "a number",
    "text": "a text or a structure",
    "predict": "predict a port state, then scan",
}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped."""
    return _one_line(text).replace("|", "\\|")


def _code(text: str) -> str:
    """An inline code span that survives backticks inside it."""
    text = _one_line(text)
    fence = "``" if "`" in text else "`"
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def short_answer(ex: Exercise) -> str:
    """The answer in one line, for the overview table."""
    sol = ex.solution
    if isinstance(sol, str) and "\n" not in sol:
        return _code(sol)
    if isinstance(sol, (int, float)) and not isinstance(sol, bool):
        return _code(repr(sol))
    if isinstance(sol, str):
        return f"rules ({len(sol.strip().splitlines())} lines, below)"
    if isinstance(sol, dict) and "rules" in sol:
        return f"policy {_code(sol.get('policy', '?'))} and {len(sol['rules'])} rules (below)"
    if isinstance(sol, list):
        return f"{len(sol)} rules (below)"
    return _code(repr(sol))


def _rules_table(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        for name in row:
            if name not in columns:
                columns.append(name)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    return lines


def solution_block(ex: Exercise) -> list[str]:
    """The full answer, as Markdown lines."""
    sol = ex.solution
    if isinstance(sol, str) and "\n" in sol:
        lang = "toml" if re.search(r"^\[\w+\]", sol, re.M) else ""
        return [f"**Answer** (one that passes the check):", "", f"```{lang}", sol.strip("\n"), "```"]
    if isinstance(sol, dict) and isinstance(sol.get("rules"), list):
        extra = {k: v for k, v in sol.items() if k != "rules"}
        head = ", ".join(f"{k} {_code(v)}" for k, v in extra.items())
        return [f"**Answer** (one that passes the check): {head}; the rules, read from the top:", "",
                *_rules_table(sol["rules"])]
    if isinstance(sol, list) and sol and all(isinstance(r, dict) for r in sol):
        return ["**Answer** (one that passes the check), the rules in order:", "", *_rules_table(sol)]
    return [f"**Answer:** {short_answer(ex)}"]


def where_asked(registry: dict[str, Exercise]) -> dict[str, list[str]]:
    """Exercise id -> where its notebook asks it: 'section heading (widget|code cell)'."""
    found: dict[str, list[str]] = {}
    ids = "|".join(re.escape(i) for i in sorted(registry, key=len, reverse=True))
    pattern = re.compile(rf"""["']({ids})["']""")
    for nb in syllabus.NOTEBOOKS:
        path = NOTEBOOKS / nb.filename
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError):
            continue
        section = "the introduction"
        for cell in cells:
            source = "".join(cell.get("source", ""))
            if cell.get("cell_type") == "markdown":
                heads = re.findall(r"^##\s+(.+?)\s*$", source, re.M)
                if heads:
                    section = heads[-1].strip()
                continue
            for ex_id in dict.fromkeys(pattern.findall(source)):
                form = "widget" if re.search(rf"""\bask\(\s*["']{re.escape(ex_id)}""", source) else "code cell"
                found.setdefault(ex_id, []).append(f"{section} ({form})")
    return found


def exercise_section(ex: Exercise, asked: list[str]) -> list[str]:
    lines = [f"### {ex.id}", ""]
    lines.append(f"*{KIND_WORDS.get(ex.kind, ex.kind)}*; asked in: "
                 + ("; ".join(_one_line(a) for a in asked) if asked else "not found in the notebook"))
    lines += ["", f"**Question:** {_one_line(ex.question)}", ""]
    if ex.choices:
        lines += ["**Choices:** " + " · ".join(_code(c) for c in ex.choices), ""]
    lines += [*solution_block(ex), ""]
    if ex.explanation:
        lines += [f"**Why:** {_one_line(ex.explanation)}", ""]
    if ex.reveal is not None:
        lines += ["After the prediction, the widget's **Scan** button runs the scan on the simulator "
                  "and shows the state it finds.", ""]
    if ex.hints:
        lines += ["**Hints** (a wrong answer first gets the check's own hint about that answer; "
                  "each further wrong try adds the next of these):", ""]
        lines += [f"{i}. {_one_line(h)}" for i, h in enumerate(ex.hints, start=1)]
        lines.append("")
    return lines


def answer_key(notebooks: Optional[Iterable[str]] = None) -> str:
    """The whole page, for the given notebook numbers ("3" or "03") or for the course."""
    wanted = [syllabus.notebook(n).number for n in notebooks] if notebooks else list(syllabus.BY_NUMBER)
    registry = load_all()
    asked = where_asked(registry)
    chosen = [ex for ex in registry.values() if ex.notebook in wanted]
    out = [
        "# Answer key",
        "",
        "For teachers. Generated from the exercise definitions (`portlab/course/exercises/nbNN.py`) by "
        "`python -m portlab.course.answerkey` (`make answer-key`): regenerate it after any change to the "
        "course, never edit it by hand. Every answer below passes its own check. Where an exercise accepts "
        "more than one answer (the firewall exercises), the one shown is one of them; the check explains "
        "what is wrong with any other.",
        "",
        f"{len(chosen)} exercises in {len(wanted)} notebook{'s' if len(wanted) != 1 else ''}.",
        "",
        "| exercise | kind | answer |",
        "|---|---|---|",
    ]
    out += [f"| [{ex.id}](#{ex.id}) | {ex.kind} | {_cell(short_answer(ex))} |" for ex in chosen]
    out.append("")
    for number in wanted:
        nb = syllabus.BY_NUMBER[number]
        exs = [ex for ex in chosen if ex.notebook == number]
        out += [f"## {nb.number} · {nb.title}", "",
                f"`notebooks/{nb.filename}`, {nb.minutes} minutes for a learner alone; "
                f"{len(exs)} exercise{'s' if len(exs) != 1 else ''}.", ""]
        for ex in exs:
            out += exercise_section(ex, asked.get(ex.id, []))
    return "\n".join(out).rstrip() + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0
    if not args or not args[0].endswith(".md"):
        print("answerkey: give the file to write, ending in .md (e.g. build/answer-key.md), then "
              "notebook numbers if you want only some", file=sys.stderr)
        return 2
    out, numbers = Path(args[0]), args[1:]
    try:
        text = answer_key(numbers or None)
    except ValueError as err:
        print(f"answerkey: {err}", file=sys.stderr)
        return 2
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"answerkey: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 1
    count = text.count("\n### ")
    print(f"{out}: {count} exercises")
    return 0


if __name__ == "__main__":
    sys.exit(main())
