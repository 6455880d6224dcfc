"""Run a command the way a learner without sudo would: no capabilities at all.

Where the interpreter and the checkout are readable by everyone, the command runs
as user nobody.  A clone under a 0700 directory (root's home on Debian, where a
newcomer clones) or an interpreter installed there cannot be read by nobody, so
there it runs as the same user with every capability dropped, which is what
decides what portlab may do (it checks capabilities, not the user id).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOBODY = 65534


def _others_can_reach(path: Path) -> bool:
    """Every directory on the way is o+x and the path itself o+r (or o+x for a directory)."""
    path = path.resolve()
    for parent in path.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    mode = path.stat().st_mode
    return bool(mode & (stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH))


def nobody_can_run_us() -> bool:
    return _others_can_reach(Path(sys.executable)) and _others_can_reach(ROOT / "portlab" / "__init__.py")


def learner_argv(argv: list[str]) -> list[str]:
    """*argv* prefixed so that it runs without privilege (see the module's docstring)."""
    drop = ["--inh-caps=-all", "--bounding-set=-all", "--ambient-caps=-all"]
    if os.geteuid() == 0 and nobody_can_run_us():
        return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *drop, *argv]
    return ["setpriv", *drop, *argv]
