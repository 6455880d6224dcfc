"""Checked exercises for the course: see :mod:`.core` (checks, hints, solutions) and
:mod:`.progress` (what the learner has solved).  Each notebook's checks are in ``nbNN.py``."""

from .core import EXERCISES, check, exercise, feedback, get, hint_for, is_correct, load_all, solution

__all__ = ["EXERCISES", "check", "exercise", "feedback", "get", "hint_for", "is_correct", "load_all", "solution"]
