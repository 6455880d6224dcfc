"""Checked exercises for the course: see :mod:`.core` (checks, hints, solutions) and
:mod:`.progress` (what the learner has solved).  Each notebook's checks are in ``nbNN.py``.

In a notebook: ``check("03-syn-reply", answer)`` shows the question and the verdict,
and ``solution("03-syn-reply")`` the solution, for a learner who asks for it."""

from .core import EXERCISES, check, exercise, feedback, get, hint_for, is_correct, load_all, solution

__all__ = ["EXERCISES", "check", "exercise", "feedback", "get", "hint_for", "is_correct", "load_all", "solution"]
