"""The learner's progress: which exercises were tried and solved, in a small JSON file.

Kept in the user's data directory (``$XDG_DATA_HOME/portlab/progress.json``,
else ``~/.local/share/portlab/progress.json``; ``PORTLAB_PROGRESS`` names another
file, and ``PORTLAB_PROGRESS=off`` keeps nothing).  The file is written whole to
a temporary file and renamed, so a crash never leaves half a file.  A corrupt or
unwritable file never stops a lesson: progress degrades to "not saved", with
one line saying so (:data:`last_problem`).
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


def record(exercise_id: str, solved: bool) -> bool:
    """Count one try; once solved, an exercise stays solved."""
    data = load()
    entry = data.setdefault(exercise_id, {"tries": 0, "solved": False})
    entry["tries"] = int(entry.get("tries", 0)) + 1
    entry["solved"] = bool(entry.get("solved")) or solved
    entry["when"] = round(time.time())
    return save(data)
