"""Pause Python's cyclic garbage collector while a scan builds or writes its results.

A full-range scan allocates a few hundred thousand small objects (probes, exchanges,
port results, JSON pieces) and no reference cycles.  Each allocation counts towards
the collector's next run, and its oldest generation is walked whole each time the
long-lived heap grows by a quarter: on a 65535-port scan that added 0.2-0.3 s of
pure walking to the assembly and as much again to JSON output.  Nothing those steps
make needs the collector, so it waits until they are done; reference counting still
frees everything as usual, and cycles made meanwhile elsewhere are collected after.

``paused()`` nests and works across threads (a scan in a worker thread while another
renders): the collector comes back when the last pause ends, and only if it was on.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
