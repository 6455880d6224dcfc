"""The exercise widget: ``ask("03-syn-reply")`` shows a registered exercise to answer.

The widget shows the question, an input that fits the exercise's kind (radio
buttons or a menu for a choice, a box for a number or a word, a menu of the six
port states and a Scan button for "predict, then scan"), a Check button, the
feedback ("correct" and why, or a hint that says more on each wrong try), and a
"Show solution" button that wants a second click while the exercise is unsolved,
so that nobody sees a solution by accident (once solved, or once seen, one click
shows it and the next hides it).  Each try is counted in the learner's progress
file, which the code route (``check("id", answer)``) shares: a wrong try there
grows the widget's hint too, and an exercise solved there is solved here.  When
progress cannot be saved, one line under the exercise says why.

All the behaviour is in :class:`ExerciseSession` and the functions beside it,
which know nothing about widgets: tests (and a learner in plain Python) use them
directly, and :class:`ExerciseWidget` only wires buttons to them.
"""

from __future__ import annotations

import html
from typing import Optional

import ipywidgets as widgets

from ...states import PortState
from ..exercises import core, progress

#: The six port states, in nmap's order, for "predict" exercises without their own choices.
STATES: tuple[str, ...] = tuple(s.value for s in PortState)

CONFIRM = "Are you sure? Click again to see the solution."
PREDICT_FIRST = "Predict first: choose a state, then press Scan (or Check) to see whether you were right."
OFF = core.PROGRESS_OFF


def parse_answer(kind: str, raw: object) -> object:
    """What the learner typed or picked, as the checker wants it.

    A number box gives text: "993" becomes 993 and "1.5" becomes 1.5; anything
    else stays text, so that the checker can say what it expected.  Blank stays
    blank (None), which the checks answer with "no answer yet".
    """
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = raw.strip()
        if not raw:
            return None
        if kind == "number":
            try:
                return int(raw)
            except ValueError:
                try:
                    return float(raw)
                except ValueError:
                    return raw
    return raw


#: Count one try; None when saved, else the one "not saved" line (see :func:`core.record_try`).
save_try = core.record_try


def revealed_text(found: object) -> tuple[Optional[str], str]:
    """``(state, text)`` for what a predict exercise's scan returned (a state, or a port result)."""
    state = core.as_state(getattr(found, "state", found))
    reason = getattr(found, "reason", None)
    shown = state or str(found)
    return state, f"The scan says: {shown}" + (f" ({reason})" if reason else "") + "."


Attempt = core.Attempt
SOLVED_BEFORE = ("You have solved this one already (here or in a code cell): answer again to check, "
                 "or show the solution.")


class ExerciseSession:
    """One learner working on one exercise: tries, hints, the guarded solution, the scan.

    Wrong tries and the solved state live in the learner's progress (shared with the
    code route); the session keeps what only this widget knows: the last answer it
    checked, the scan it revealed, and where the solution button is."""

    def __init__(self, exercise_id: str):
        self.exercise = core.get(exercise_id)
        self.solution_armed = False     # the first click on "Show solution" happened
        self.solution_shown = False     # the solution is on the page now
        self.last_checked: object = None
        self.revealed: Optional[str] = None
        self.revealed_line: Optional[str] = None   # "The scan says: ..." once the scan ran

    @property
    def id(self) -> str:
        return self.exercise.id

    @property
    def wrong_tries(self) -> int:
        return progress.state(self.id)["wrong"]

    @property
    def solved(self) -> bool:
        return progress.state(self.id)["solved"]

    def check(self, answer: object) -> Attempt:
        """Check ``answer``: "correct" and why, or a hint that gets more specific on each wrong try."""
        result = core.attempt(self.id, answer)
        if result.correct is None:
            blank = (f"not yet: {core.NO_ANSWER_HINT}" if self.exercise.kind in ("text", "number")
                     else "not yet: pick an answer first, then press Check.")
            if result.solved_before:
                blank += " (" + SOLVED_BEFORE + ")"
            return Attempt(None, blank, None, result.wrong, result.solved_before)
        self.last_checked = answer
        return result

    def ask_solution(self) -> tuple[bool, str]:
        """``(shown, text)``.  Unsolved and never seen: the first call asks to confirm, the
        second gives the solution.  Solved (by either route) or seen before: the solution at
        once.  A call while it is shown hides it again (``(False, "")``)."""
        if self.solution_shown:
            self.solution_shown = False
            return False, ""
        known = progress.state(self.id)
        if not (self.solution_armed or known["solved"] or known["solution_seen"]):
            self.solution_armed = True
            return False, CONFIRM
        self.solution_shown = True
        progress.note_solution_seen(self.id)
        return True, core.solution_text(self.id)

    def scan_line(self, prediction: object) -> Optional[str]:
        """The scan's line for *prediction*, once the scan has run (else None): what it
        found and whether this prediction matches it."""
        if self.revealed_line is None or core.is_blank(prediction):
            return None
        predicted = core.as_state(prediction)
        if predicted == self.revealed:
            return f"{self.revealed_line} You predicted {predicted}: right."
        return (f"{self.revealed_line} You predicted {predicted or prediction}: look at the hint, "
                f"and at why the scan says {self.revealed}.")

    def scan(self, prediction: object) -> tuple[Optional[Attempt], str]:
        """For a predict exercise: check ``prediction`` (if not checked yet), then run the scan.

        Returns the attempt (None if the prediction was already checked) and the
        line that says what the scan found and whether the prediction matched.
        """
        if self.exercise.reveal is None:
            raise ValueError(f"exercise {self.id!r} has no scan to run (it is not a predict exercise)")
        if core.is_blank(prediction):
            return None, PREDICT_FIRST
        attempt = None if prediction == self.last_checked else self.check(prediction)
        state, text = revealed_text(self.exercise.reveal())
        self.revealed, self.revealed_line = state, text
        return attempt, self.scan_line(prediction) or text


def _line(text: str, colour: Optional[str] = None, small: bool = False) -> str:
    style = []
    if colour:
        style.append(f"color:{colour}")
    if small:
        style.append("font-size:90%")
    return f"<div style='{';'.join(style)}'>{html.escape(text)}</div>" if text else ""


# Feedback colours: the theme's state colours read on light and dark pages alike.
_GOOD, _TRY, _NOTE = "#009E73", "#D55E00", "#888888"


def _input_for(ex: core.Exercise) -> widgets.ValueWidget:
    if ex.kind == "choice":
        if len(ex.choices) <= 5:
            return widgets.RadioButtons(options=list(ex.choices), value=None, layout={"width": "max-content"})
        # A menu that starts blank looks broken; it starts on a visible "choose..." instead.
        return widgets.Dropdown(options=[("choose...", None)] + [(c, c) for c in ex.choices], index=0,
                                description="Answer")
    if ex.kind == "predict":
        return widgets.Dropdown(options=[("choose...", None)] + [(c, c) for c in (ex.choices or STATES)],
                                index=0, description="I predict")
    placeholder = "a number" if ex.kind == "number" else "your answer"
    return widgets.Text(value="", placeholder=placeholder, description="Answer")


class ExerciseWidget(widgets.VBox):
    """The skin over :class:`ExerciseSession`.  Parts tests and notebooks can reach:
    ``answer``, ``check_button``, ``scan_button`` (predict only, else None),
    ``solution_button``, ``feedback``, ``scan_result``, ``solution_box``, ``status``."""

    def __init__(self, exercise_id: str):
        session = ExerciseSession(exercise_id)
        ex = session.exercise
        question = widgets.HTML(f"<b>Exercise {html.escape(ex.id)}</b>: {html.escape(ex.question)}")
        answer = _input_for(ex)
        check_button = widgets.Button(description="Check", button_style="primary", icon="check")
        scan_button = widgets.Button(description="Scan", icon="search") if ex.kind == "predict" else None
        solution_button = widgets.Button(description="Show solution", icon="eye")
        feedback, scan_result, solution_box, status = (widgets.HTML() for _ in range(4))
        buttons = [b for b in (check_button, scan_button, solution_button) if b is not None]
        super().__init__([question, answer, widgets.HBox(buttons), feedback, scan_result, solution_box, status])
        self.session = session
        self.answer, self.check_button, self.scan_button = answer, check_button, scan_button
        self.solution_button = solution_button
        self.feedback, self.scan_result, self.solution_box, self.status = feedback, scan_result, solution_box, status
        check_button.on_click(self._on_check)
        solution_button.on_click(self._on_solution)
        if scan_button is not None:
            scan_button.on_click(self._on_scan)
        try:
            if session.solved:
                feedback.value = _line(SOLVED_BEFORE, _NOTE, small=True)
        except Exception:  # noqa: BLE001 - an unreadable progress file only costs this note
            pass

    def _value(self) -> object:
        return parse_answer(self.session.exercise.kind, self.answer.value)

    def _show(self, attempt: Attempt) -> None:
        colour = _GOOD if attempt.correct else _TRY if attempt.correct is False else None
        self.feedback.value = _line(attempt.message, colour)
        if attempt.correct is not None:
            self.status.value = _line(attempt.status or "", _NOTE, small=True)
        # A scan line that judged an earlier prediction ("You predicted open: look at the
        # hint") must not stay under a newer verdict: it now judges the answer just checked.
        line = self.session.scan_line(self._value())
        if line is not None:
            self.scan_result.value = _line(line)

    # A button's callback that raises shows nothing in the notebook (the error goes to a log the
    # learner never opens), so the skin turns any failure into a line the learner can read.
    def _on_check(self, _button: object = None) -> None:
        try:
            self._show(self.session.check(self._value()))
        except Exception as err:  # noqa: BLE001 - see above
            self.feedback.value = _line(f"this answer could not be checked: {err}", _TRY)

    def _on_scan(self, _button: object = None) -> None:
        try:
            attempt, text = self.session.scan(self._value())
        except Exception as err:  # noqa: BLE001 - see above
            self.scan_result.value = _line(f"the scan could not run: {err}", _TRY)
            return
        if attempt is not None:
            self._show(attempt)
        self.scan_result.value = _line(text)

    def _on_solution(self, _button: object = None) -> None:
        try:
            shown, text = self.session.ask_solution()
        except Exception as err:  # noqa: BLE001 - a learner reads a line, not a log
            self.solution_box.value = _line(f"the solution could not be shown: {err}", _TRY)
            return
        self.solution_box.value = _line(text, None if shown else _TRY)
        if shown:
            self.solution_button.description, self.solution_button.icon = "Hide solution", "eye-slash"
        elif text:       # the question "are you sure?"
            self.solution_button.description = "Yes, show it"
        else:            # hidden again
            self.solution_button.description, self.solution_button.icon = "Show solution", "eye"


def ask(exercise_id: str) -> ExerciseWidget:
    """The widget for exercise ``exercise_id`` (as registered in ``portlab.course.exercises.nbNN``)."""
    return ExerciseWidget(exercise_id)
