"""Every exercise's solution, for teachers: ``python -m portlab.course.exercises.solutions [NN ...]``.

Prints, notebook by notebook, each exercise's question, its solution and why,
and the hints a learner sees on wrong tries.  The learners' notebooks never
print these; a teacher hands this out or reads from it after a session.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Iterable, Optional

from .. import syllabus
from .core import Exercise, load_all

WIDTH = 100


def _wrap(text: str, indent: str) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=indent, subsequent_indent=" " * len(indent))


def exercise_text(ex: Exercise) -> str:
    lines = [f"[{ex.id}] ({ex.kind})", _wrap(ex.question, "  Q: ")]
    if ex.choices:
        lines.append(_wrap(" | ".join(ex.choices), "  choices: "))
    lines.append(_wrap(repr(ex.solution), "  solution: "))
    if ex.explanation:
        lines.append(_wrap(ex.explanation, "  why: "))
    if ex.reveal is not None:
        lines.append("  (predict, then scan: the widget's Scan button runs the simulated scan afterwards)")
    for i, hint in enumerate(ex.hints, start=2):
        lines.append(_wrap(hint, f"  hint from try {i}: "))
    return "\n".join(lines)


def solutions_text(notebooks: Optional[Iterable[str]] = None) -> str:
    """The printout for the given notebook numbers ("3" or "03"), or for the whole course."""
    wanted = [syllabus.notebook(n).number for n in notebooks] if notebooks else list(syllabus.BY_NUMBER)
    registry = load_all()
    parts = []
    for number in wanted:
        nb = syllabus.BY_NUMBER[number]
        exs = [ex for ex in registry.values() if ex.notebook == number]   # in the notebook's order
        head = f"== {nb.number} · {nb.title} ({nb.filename}): {len(exs)} exercise{'s' if len(exs) != 1 else ''}"
        parts.append("\n\n".join([head] + [exercise_text(ex) for ex in exs]))
    return "\n\n".join(parts) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__.strip())
        return 0
    try:
        sys.stdout.write(solutions_text(args or None))
    except ValueError as err:
        print(f"solutions: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
