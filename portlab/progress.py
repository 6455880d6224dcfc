"""Progress reports for a running scan.

The engine calls ``progress(done, total)`` as exchanges arrive (throttled by
:class:`Throttle`, plus a final call).  Two ready-made receivers: a one-line bar on
stderr for the command line, and an ipywidgets bar for notebooks.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Optional, TextIO

Progress = Callable[[int, int], None]


class Throttle:
    """Pass at most *per_second* calls on to *progress*, always the last one.

    Thread-safe: a transport may report from its own worker thread.  The caller says
    how many are done (``update(done)``); the clock is read only every *every* updates,
    because a loopback scan reports tens of thousands of exchanges a second."""

    def __init__(self, progress: Progress, total: int, per_second: float = 20.0, every: int = 64):
        self.progress = progress
        self.total = total
        self.interval = 1.0 / per_second
        self.every = every
        self.done = 0
        self._last = -1e9
        self._lock = threading.Lock()

    def update(self, done: int) -> None:
        if done % self.every and done < self.total:
            return
        self.jump(done)

    def jump(self, done: int) -> None:
        """Like update, for a caller that counts in batches (it reads the clock)."""
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.interval and done < self.total:
                return
            self._last = now
            self.done = max(self.done, done)
        self.progress(done, self.total)

    def final(self, done: int) -> None:
        self.done = done
        self.progress(done, self.total)


class TerminalProgress:
    """``[#####.....]  5123/65535 ports`` redrawn in place on stderr.

    Silent when *stream* is not a terminal (a pipe, a log file, CI) or when quiet."""

    def __init__(self, stream: Optional[TextIO] = None, width: int = 30, quiet: bool = False):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = not quiet and bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r[{bar}] {done}/{total} probes")
        self._drawn = True
        if done >= total:
            self.clear()
        else:
            self.stream.flush()

    def clear(self) -> None:
        """Erase the bar so the table that follows starts on a clean line."""
        if self._drawn:
            self.stream.write("\r" + " " * (self.width + 40) + "\r")
            self.stream.flush()
            self._drawn = False


def notebook_progress(description: str = "scan"):
    """An ipywidgets progress bar, displayed now; pass it as ``progress=``.

    Returns a callable ``progress(done, total)`` with the widget as ``.widget``."""
    import ipywidgets  # only notebooks pay for the import
    from IPython.display import display

    bar = ipywidgets.IntProgress(value=0, min=0, max=1, description=description)
    label = ipywidgets.Label("")
    box = ipywidgets.HBox([bar, label])
    display(box)

    def progress(done: int, total: int) -> None:
        bar.max = max(total, 1)
        bar.value = done
        label.value = f"{done}/{total} probes"
        if done >= total:
            bar.bar_style = "success"

    progress.widget = box  # type: ignore[attr-defined]
    return progress
