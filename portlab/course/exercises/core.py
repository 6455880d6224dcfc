"""Checked exercises: the registry of questions, their checks, hints and solutions.

A learner answers in a notebook either by code (``check("03-syn-reply", answer)``
prints the question and then ``correct. <why>`` or ``not yet: <hint>``, never
nothing) or in the exercise widget (:mod:`portlab.course.widgets.exercise`).  Both
routes go through :func:`attempt`, which checks with the pure function
:func:`feedback` (tests check exercises without a browser) and counts the try in
the learner's progress (:mod:`.progress`), so the two routes share one record: the
hint grows with the wrong tries of either, an exercise solved in the widget is
solved for the code cell too, and :func:`solution` (the learner's, on request)
counts as seen for the widget.

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
    #: For an exercise the learner answers by changing a value in a code cell and running
    #: it again: the name of that variable (the cell assigns it, marked "change me").
    parameter: Optional[str] = None

    @property
    def notebook(self) -> str:
        """The notebook number the id starts with ("03")."""
        return self.id.split("-", 1)[0]


EXERCISES: dict[str, Exercise] = {}
PROGRESS_OFF = "progress is switched off (PORTLAB_PROGRESS=off)"
NO_ANSWER_HINT = "no answer yet. Put your answer into `answer` (instead of None) and run the cell again."


def exercise(exercise_id: str, question: str, *, kind: str = "text", choices: Sequence[str] = (),
             hints: Sequence[str] = (), solution: object = None,
             explanation: str = "", reveal: Optional[Callable[[], object]] = None,
             parameter: Optional[str] = None) -> Callable[[Checker], Checker]:
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
                                          solution, explanation, reveal, parameter)
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


@dataclass
class Attempt:
    """What one answer gives the learner, by either route."""
    correct: Optional[bool]    # None: there was no answer to check
    message: str               # "correct. <why>" or "not yet: <hint>" (for a blank answer: see attempt)
    status: Optional[str]      # one line when progress was not saved, else None
    wrong: int = 0             # wrong tries so far, both routes together
    solved_before: bool = False


def correct_message(exercise_id: str) -> str:
    """What a right answer says: "correct." and why (the same words in the widget and in code)."""
    why = get(exercise_id).explanation
    return f"correct. {why}" if why else "correct."


def record_try(exercise_id: str, solved: bool) -> Optional[str]:
    """Count one try in the progress file; None when saved, else the one line to show.

    A corrupt file is started afresh (the try is saved in a new file) and the line
    says so; a file that cannot be written leaves the lesson running, "not saved"
    (the try still counts for this session, so hints and the solved state are shared).
    """
    from . import progress
    if progress.path() is None:
        progress.record(exercise_id, solved)      # kept for this session only
        return f"not saved: {PROGRESS_OFF}"
    # last_problem is sticky across calls; clear it so that only this read counts.
    progress.last_problem = None
    progress.load()
    read_problem = progress.last_problem
    if not progress.record(exercise_id, solved):
        why = progress.last_problem or "the progress file could not be written"
        return "not saved: " + why.removeprefix("progress not saved to ")
    if read_problem:
        return read_problem.split(" (starting afresh")[0] + " (it was not a progress file; a new one was started)"
    return None


def attempt(exercise_id: str, answer: object) -> Attempt:
    """Check *answer* and count the try, as both routes do: "correct" with the explanation,
    or a hint that grows with each wrong try (of either route).  A blank answer is no try:
    ``correct`` is None and ``solved_before`` says whether the learner solved it already."""
    from . import progress
    before = progress.state(exercise_id)
    if is_blank(answer):
        return Attempt(None, f"not yet: {NO_ANSWER_HINT}", None, before["wrong"], before["solved"])
    hint = hint_for(exercise_id, answer, before["wrong"] + 1)
    status = record_try(exercise_id, hint is None)
    if hint is None:
        return Attempt(True, correct_message(exercise_id), status, before["wrong"], before["solved"])
    return Attempt(False, f"not yet: {hint}", status, before["wrong"] + 1, before["solved"])


def solution_call(exercise_id: str) -> str:
    """How a learner asks for the solution in code (with the import, if their notebook lacks it)."""
    call = f'solution("{exercise_id}")'
    namespace = _user_namespace()
    if namespace is not None and namespace.get("solution") is solution:
        return call
    return f"{call} (after: from portlab.course.exercises import solution)"


def _user_namespace() -> Optional[dict]:
    """The notebook's variables, when running in IPython; else None."""
    import sys
    if "IPython" not in sys.modules:
        return None
    from IPython import get_ipython
    shell = get_ipython()
    return getattr(shell, "user_ns", None)


def question_text(ex: Exercise) -> str:
    """The question as the code route prints it: with its choices, for a choice exercise
    (the widget shows them as buttons; a code cell needs them in words)."""
    if ex.kind != "choice":
        return ex.question
    return f"{ex.question} (answer with one of: " + " | ".join(f'"{c}"' for c in ex.choices) + ")"


def check(exercise_id: str, answer: object) -> None:
    """Show the question and the verdict: ``correct. <why>``, or ``not yet: <hint>`` with a hint
    that grows with each wrong try and, after one, where the solution is.  The try counts in
    the learner's progress, shared with the exercise's widget."""
    ex = get(exercise_id)
    result = attempt(exercise_id, answer)
    if result.correct is None and result.solved_before:
        verdict = (f"solved already (in the widget or an earlier run). {correct_message(exercise_id)} "
                   "To check an answer of your own here, put it into `answer` and run the cell again.")
    elif result.correct is False:
        tries = f"{result.wrong} wrong tr{'y' if result.wrong == 1 else 'ies'} so far"
        verdict = (f"{result.message} ({tries}: each one adds to the hint. If you are stuck, "
                   f"{solution_call(exercise_id)} shows the solution.)")
    else:
        verdict = result.message
    shown = _Verdict(f"[{exercise_id}] {question_text(ex)}", verdict)
    display = _in_notebook()
    if display is None:
        print(shown)
    else:
        # Printed text in JupyterLab wraps anywhere, even mid-word; HTML wraps between words.
        display(shown)


class _Verdict:
    """A question and its verdict (or a solution), shown as HTML in a notebook, as plain
    text elsewhere (``str`` and ``repr`` give the text)."""

    def __init__(self, head: str, body: str = ""):
        self.head, self.body = head, body

    def __str__(self) -> str:
        return f"{self.head}\n{self.body}" if self.body else self.head

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html
        style = "white-space:normal;word-break:normal;overflow-wrap:normal"
        body = f"<div style='{style}'>{html.escape(self.body)}</div>" if self.body else ""
        return f"<div style='{style}'><b>{html.escape(self.head)}</b></div>{body}"


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


def solution_text(exercise_id: str) -> str:
    """The solution and why, as one line of text (the widget's "Show solution", the teachers')."""
    ex = get(exercise_id)
    text = f"[{exercise_id}] solution: {ex.solution!r}"
    return f"{text}. {ex.explanation}" if ex.explanation else text


def solution(exercise_id: str) -> _Verdict:
    """The solution and why, for the learner who asks on purpose (``solution("03-syn-reply")``
    in a cell) and for teachers.  Shows as text (``str()`` of it is the text); the widget of
    the same exercise then shows its solution without asking twice."""
    from . import progress
    text = solution_text(exercise_id)
    progress.note_solution_seen(exercise_id)
    return _Verdict(text)


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
