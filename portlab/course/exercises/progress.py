"""The learner's progress: which exercises were tried and solved, in a small JSON file.

Kept in the user's data directory (``$XDG_DATA_HOME/portlab/progress.json``,
else ``~/.local/share/portlab/progress.json``; ``PORTLAB_PROGRESS`` names another
file, and ``PORTLAB_PROGRESS=off`` keeps nothing).  The file is written whole to
a temporary file and renamed, so a crash never leaves half a file.  A corrupt or
unwritable file never stops a lesson: progress degrades to "not saved", with
one line saying so (:data:`last_problem`).

The widget and a code cell's ``check`` share one record per exercise (:func:`state`):
tries, wrong tries (the hints grow with them), solved, and whether the solution was
shown.  Each try is also kept in memory for this Python session, per progress
file, so the two routes agree even when the file is switched off or cannot be
written.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path
from typing import Optional

#: The last reason progress could not be read or saved (one line), or None.
last_problem: Optional[str] = None


def path() -> Optional[Path]:
    """Where progress is kept, or None when it is switched off."""
    named = os.environ.get("PORTLAB_PROGRESS")
    if named:
        return None if named.lower() in ("off", "0", "none") else Path(named)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "portlab" / "progress.json"


def load() -> dict[str, dict]:
    """``{exercise id: {"tries": n, "solved": bool, "when": epoch seconds}}``; empty if none or unreadable."""
    global last_problem
    last_problem = None   # a problem is about this read, not an earlier one
    where = path()
    if where is None or not where.exists():
        return {}
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or not isinstance(data.get("exercises", {}), dict):
            raise ValueError("not a portlab progress file")
        return {k: v for k, v in data.get("exercises", {}).items() if isinstance(v, dict)}
    except (OSError, ValueError) as err:
        last_problem = f"progress not read from {where}: {err} (starting afresh; it is saved again on the next answer)"
        return {}


def save(exercises: dict[str, dict]) -> bool:
    """Write the whole progress file atomically; False (and :data:`last_problem`) if it cannot be written."""
    global last_problem
    where = path()
    if where is None:
        return False
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=where.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump({"portlab_progress": 1, "exercises": exercises}, out, indent=1, sort_keys=True)
            os.replace(tmp, where)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as err:
        last_problem = f"progress not saved to {where}: {err.strerror or err}"
        return False
    last_problem = None
    return True


#: This session's record of every exercise, per progress file ("off" when switched off):
#: what the routes share when the file cannot hold it.
_session: dict[str, dict[str, dict]] = {}


def _session_entries() -> dict[str, dict]:
    where = path()
    return _session.setdefault(str(where) if where is not None else "off", {})


def _count(value: object) -> int:
    try:
        return max(0, int(value))           # type: ignore[call-overload]
    except (TypeError, ValueError):
        return 0


def _normal(entry: Optional[dict]) -> dict:
    """An entry with every key: ``tries``, ``wrong``, ``solved``, ``solution_seen``.

    Files written before wrong tries were counted have none: every try but the
    solving one was wrong."""
    entry = entry or {}
    tries = _count(entry.get("tries", 0))
    solved = entry.get("solved") is True
    wrong = _count(entry["wrong"]) if "wrong" in entry else max(0, tries - (1 if solved else 0))
    out = {"tries": tries, "wrong": min(wrong, tries), "solved": solved,
           "solution_seen": entry.get("solution_seen") is True}
    if "when" in entry:
        out["when"] = entry["when"]
    return out


def _merge(a: dict, b: dict) -> dict:
    merged = {"tries": max(a["tries"], b["tries"]), "wrong": max(a["wrong"], b["wrong"]),
              "solved": a["solved"] or b["solved"], "solution_seen": a["solution_seen"] or b["solution_seen"]}
    when = max(a.get("when", 0), b.get("when", 0))
    return {**merged, "when": when} if when else merged


def state(exercise_id: str, data: Optional[dict[str, dict]] = None) -> dict:
    """What the learner has done on one exercise, whichever route they used:
    ``{"tries", "wrong", "solved", "solution_seen"}`` (the file's record and this
    session's, together).  *data* is the file's content if already read."""
    data = load() if data is None else data
    return _merge(_normal(data.get(exercise_id)), _normal(_session_entries().get(exercise_id)))


def _update(exercise_id: str, change) -> bool:
    data = load()
    entry = state(exercise_id, data)
    change(entry)
    entry["when"] = round(time.time())
    _session_entries()[exercise_id] = dict(entry)
    data[exercise_id] = entry
    return save(data)


def record(exercise_id: str, solved: bool) -> bool:
    """Count one try (and a wrong one when not *solved*); once solved, an exercise stays solved.
    False (and :data:`last_problem`) when the file could not be written: the try still
    counts for this session."""
    def change(entry: dict) -> None:
        entry["tries"] += 1
        entry["wrong"] += 0 if solved else 1
        entry["solved"] = entry["solved"] or solved
    return _update(exercise_id, change)


def note_solution_seen(exercise_id: str) -> bool:
    """Remember that the learner asked for the solution (it is not a try)."""
    def change(entry: dict) -> None:
        entry["solution_seen"] = True
    return _update(exercise_id, change)


def forget_session() -> None:
    """Drop what this session remembers (tests start each learner afresh)."""
    _session.clear()
