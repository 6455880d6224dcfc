"""Automatic checks for the notebooks' exercises.

A learner writes an answer into a variable and runs ``check("01-range-of-5432",
answer)``.  The check prints ``correct`` or a hint, never nothing.  It returns
None so that a notebook cell shows only that line; code (and tests) that need
the verdict call :func:`is_correct` or :func:`feedback`.  The correct answers are computed from portlab's
own data (the registry, the ranges) rather than typed in here, so the checks
cannot drift from what the notebook shows.

Other notebooks add their exercises with :func:`exercise` in their own module
or here; ids start with the notebook number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from .errors import BadInput

# A checker returns None for a correct answer, or the hint to print.
Checker = Callable[[object], Optional[str]]


@dataclass(frozen=True)
class Exercise:
    id: str
    question: str
    checker: Checker


EXERCISES: dict[str, Exercise] = {}
NO_ANSWER_HINT = "no answer yet. Put your answer into `answer` (instead of None) and run the cell again."


def exercise(exercise_id: str, question: str) -> Callable[[Checker], Checker]:
    """Decorator that registers a checker under ``exercise_id``."""

    def register(checker: Checker) -> Checker:
        if exercise_id in EXERCISES:
            raise ValueError(f"exercise id {exercise_id!r} is registered twice")
        EXERCISES[exercise_id] = Exercise(exercise_id, question, checker)
        return checker

    return register


def feedback(exercise_id: str, answer: object) -> Optional[str]:
    """``None`` when ``answer`` is correct, else the hint to show."""
    try:
        ex = EXERCISES[exercise_id]
    except KeyError:
        raise BadInput(f"exercise {exercise_id!r} does not exist: expected one of {', '.join(sorted(EXERCISES))}") from None
    if answer is None or answer is Ellipsis or (isinstance(answer, str) and not answer.strip()):
        return NO_ANSWER_HINT
    return ex.checker(answer)


def is_correct(exercise_id: str, answer: object) -> bool:
    return feedback(exercise_id, answer) is None


def check(exercise_id: str, answer: object) -> None:
    """Print ``[id] correct`` or ``[id] not yet: <hint>``."""
    hint = feedback(exercise_id, answer)
    print(f"[{exercise_id}] correct" if hint is None else f"[{exercise_id}] not yet: {hint}")


def _as_port(answer: object) -> Optional[int]:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, int):
        return answer
    if isinstance(answer, str) and answer.strip().isdigit():
        return int(answer.strip())
    return None


# ---- notebook 01: ports and ranges -------------------------------------------------

@exercise("01-range-of-5432", "In which RFC 6335 range is port 5432 (PostgreSQL)?")
def _range_of_5432(answer: object) -> Optional[str]:
    from .ranges import PortRange, port_range

    right = port_range(5432)
    if isinstance(answer, PortRange):
        given = answer.key
    else:
        given = str(answer).strip().lower().removesuffix(" ports").removesuffix(" port")
    accepted = {right.key, right.rfc6335_name.lower().removesuffix(" ports"),
                right.older_name.lower().removesuffix(" ports")}
    if given in accepted:
        return None
    if given in ("system", "well known", "well-known"):
        return "system ports stop at 1023, and 5432 is bigger than that."
    if given in ("dynamic", "private", "ephemeral", "dynamic and/or private"):
        return "the dynamic range starts at 49152; IANA assigns nothing there, yet PostgreSQL has an assignment."
    return "answer with a range name such as 'system', 'user' or 'dynamic' (or try port_range(5432))."


@exercise("01-imaps-port", "Which TCP port does the IANA service 'imaps' (IMAP over TLS) use?")
def _imaps_port(answer: object) -> Optional[str]:
    from . import registry

    right = {svc.port for svc in registry.by_name("imaps", "tcp") if svc.port is not None}
    port = _as_port(answer)
    if port in right:
        return None
    if port is None:
        return "the answer is a port number, such as 443."
    if port == registry.by_name("imap", "tcp")[0].port:
        return f"{port} is plain IMAP. Look up the name 'imaps' (the s stands for TLS)."
    return "type imaps into the lookup box above, or run registry.by_name('imaps', 'tcp')."
