"""Checked exercises: the registry of questions, their checks, hints and solutions.

A learner answers in a notebook either by code (``check("03-syn-reply", answer)``
prints ``[id] correct`` or ``[id] not yet: <hint>``, never nothing) or in the
exercise widget (:mod:`portlab.course.widgets.exercise`).  Both call the same
pure function, :func:`feedback`, so tests check exercises without a browser.

Checks live here, in the package, so the answers are not in the notebook's
source.  Each notebook's exercises are in their own module
(``portlab.course.exercises.nb03`` and so on), registered with :func:`exercise`;
:func:`load_all` imports every one of them.

An exercise may give, beside its checker:

* ``kind``: how the widget asks (``"choice"`` with ``choices``, ``"number"``,
  ``"text"``, or ``"predict"`` for "predict the state, then scan");
* ``hints``: general hints that get more specific with each wrong try (the
  checker's own hint, aimed at the wrong answer given, comes first);
* ``solution``: an answer that passes the check, shown only when asked for on
  purpose (a test checks that every solution passes its own check), and
  ``explanation``: why it is the answer;
* ``reveal``: for ``"predict"`` exercises, a function that runs the scan (in the
  simulator) and returns what it found, shown after the learner has predicted.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from ...errors import BadInput

# A checker returns None for a correct answer, or the hint to print.
Checker = Callable[[object], Optional[str]]

KINDS = ("text", "number", "choice", "predict")


@dataclass(frozen=True)
class Exercise:
    id: str
    question: str
    checker: Checker
    kind: str = "text"
    choices: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()
    solution: object = None
    explanation: str = ""
    reveal: Optional[Callable[[], object]] = None

    @property
    def notebook(self) -> str:
        """The notebook number the id starts with ("03")."""
        return self.id.split("-", 1)[0]


EXERCISES: dict[str, Exercise] = {}
NO_ANSWER_HINT = "no answer yet. Put your answer into `answer` (instead of None) and run the cell again."


def exercise(exercise_id: str, question: str, *, kind: str = "text", choices: Sequence[str] = (),
             hints: Sequence[str] = (), solution: object = None,
             explanation: str = "", reveal: Optional[Callable[[], object]] = None) -> Callable[[Checker], Checker]:
    """Decorator that registers a checker under ``exercise_id``."""
    if kind not in KINDS:
        raise ValueError(f"exercise {exercise_id!r}: kind {kind!r} is not one of {', '.join(KINDS)}")
    if kind == "choice" and not choices:
        raise ValueError(f"exercise {exercise_id!r}: a choice exercise needs choices")
    if kind == "predict" and reveal is None:
        raise ValueError(f"exercise {exercise_id!r}: a predict exercise needs reveal (the scan that shows the truth)")

    def register(checker: Checker) -> Checker:
        if exercise_id in EXERCISES:
            raise ValueError(f"exercise id {exercise_id!r} is registered twice")
        EXERCISES[exercise_id] = Exercise(exercise_id, question, checker, kind, tuple(choices), tuple(hints),
                                          solution, explanation, reveal)
        return checker

    return register


def load_all() -> dict[str, Exercise]:
    """Import every notebook's exercise module; return the whole registry."""
    from . import __path__ as here
    for info in pkgutil.iter_modules(here):
        if info.name.startswith("nb"):
            importlib.import_module(f"{__package__}.{info.name}")
    return EXERCISES


def get(exercise_id: str) -> Exercise:
    if exercise_id not in EXERCISES:
        load_all()
    try:
        return EXERCISES[exercise_id]
    except KeyError:
        raise BadInput(f"exercise {exercise_id!r} does not exist: expected one of "
                       f"{', '.join(sorted(EXERCISES))}") from None


def is_blank(answer: object) -> bool:
    return answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip())


def feedback(exercise_id: str, answer: object) -> Optional[str]:
    """``None`` when ``answer`` is correct, else the hint to show."""
    ex = get(exercise_id)
    if is_blank(answer):
        return NO_ANSWER_HINT
    return ex.checker(answer)


def is_correct(exercise_id: str, answer: object) -> bool:
    return feedback(exercise_id, answer) is None


def hint_for(exercise_id: str, answer: object, wrong_tries: int) -> Optional[str]:
    """The hint after ``wrong_tries`` wrong tries (1 for the first): the checker's
    own hint, then the exercise's general hints one more each try."""
    hint = feedback(exercise_id, answer)
    if hint is None:
        return None
    extra = get(exercise_id).hints[:max(0, wrong_tries - 1)]
    return " ".join([hint, *extra])


def check(exercise_id: str, answer: object) -> None:
    """Print ``[id] correct`` or ``[id] not yet: <hint>``, and note the try in the learner's progress."""
    hint = feedback(exercise_id, answer)
    if not is_blank(answer):
        from . import progress
        progress.record(exercise_id, hint is None)
    line = f"[{exercise_id}] correct" if hint is None else f"[{exercise_id}] not yet: {hint}"
    shown = _in_notebook()
    if shown is None:
        print(line)
    else:
        # Printed text in JupyterLab wraps anywhere, even mid-word; HTML wraps between words.
        shown(_Verdict(line))


class _Verdict:
    """The verdict line, shown as HTML in a notebook (plain text elsewhere)."""

    def __init__(self, line: str):
        self.line = line

    def __repr__(self) -> str:
        return self.line

    def _repr_html_(self) -> str:
        import html
        return f"<div style='white-space:normal;word-break:normal'>{html.escape(self.line)}</div>"


def _in_notebook():
    """IPython's display() when running in a Jupyter kernel, else None."""
    import sys
    if "ipykernel" not in sys.modules:
        return None
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return None
    shell = get_ipython()
    return display if shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell" else None


def solution(exercise_id: str) -> str:
    """The solution and why, as text: for the learner who asks on purpose, and for instructors."""
    ex = get(exercise_id)
    text = f"[{exercise_id}] solution: {ex.solution!r}"
    return f"{text}. {ex.explanation}" if ex.explanation else text


def as_port(answer: object) -> Optional[int]:
    """A port number from an int or a string of digits; None for anything else (True included)."""
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    if isinstance(answer, str) and answer.strip().isdigit():
        return int(answer.strip())
    return None


#: nmap's six states, in its order: the choices of every "predict, then scan" exercise.
STATES: tuple[str, ...] = ("open", "closed", "filtered", "unfiltered", "open|filtered", "closed|filtered")


def simulated_state(target: str, port: int, scan_type: str = "connect", scenario: str = "single-host",
                    **scan_options) -> Callable[[], str]:
    """A ``reveal`` for a predict exercise: scan one port of a scenario on the simulator
    (nothing is sent) and return its state."""
    def reveal() -> str:
        import portlab
        result = portlab.scan(target, ports=[port], scan_type=scan_type, scenario=scenario, **scan_options)
        return str(result.hosts[0].ports[0].state)
    reveal.__name__ = f"scan_{scenario}_{target}_{port}_{scan_type}".replace(".", "_").replace("-", "_")
    return reveal


def as_state(answer: object) -> Optional[str]:
    """A port state name from a PortState or a string ("Open|Filtered " -> "open|filtered")."""
    text = str(getattr(answer, "value", answer)).strip().lower().replace(" ", "")
    from ...states import PortState
    return text if text in {s.value for s in PortState} else None


def state_feedback(answer: object, right: str, wrong: Mapping[str, str], otherwise: str) -> Optional[str]:
    """The check of an answer that names a port state, as a table: None when it is
    *right*; for a state the learner is likely to pick, its line in *wrong* (why that
    state does not fit); for any other state, *otherwise* (``{state}`` is filled in);
    for an answer that is no state at all, the six names to choose from."""
    state = as_state(answer)
    if state is None:
        return f"answer with a port state: one of {', '.join(STATES)}."
    if state == right:
        return None
    return wrong.get(state, otherwise.replace("{state}", state))
