"""Writing a file so that a reader never sees half of it.

The text goes to a temporary file in the same directory, which is then renamed over
the target: a write cut short (Ctrl-C, a full disk, a crash) leaves the old file
whole and no temporary file behind.  Every way the write can fail becomes one
BadInput line naming the file and the reason (a full disk included).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

from .errors import BadInput, from_os_error


def write_text_atomically(path: Union[str, Path], text: str, what: str = "") -> Path:
    target = Path(path)
    label = what or str(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise BadInput(f"{label}: directory {directory} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as err:
        raise from_os_error(err, f"{label}: cannot write") from None
    try:
        # mkstemp makes the file 0600; a result is an ordinary file, readable as the umask says.
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError):
            raise from_os_error(err, f"{label}: cannot write") from None
        raise
    return target
