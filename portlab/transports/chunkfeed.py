"""Hand a scan's probes to its loops a chunk at a time, first come first served.

A connect scan of many ports runs two loops side by side (threads, or forked
children: see connect.py and forked.py).  Cut into two fixed halves, one loop often
finished 0.1-0.4 s before the other: the halves cost the same number of connect()
calls, but not the same time (one loop shares its core with the parent or with the
kernel's packet work, one half holds the dropped ports and waits for their timeouts).
Taking chunks from a common feed, the loop that is ahead takes more.

The feed is a pipe filled with the chunks' first probe numbers before the loops
start, its write end then closed: a read of one record (4 bytes, and every write was
whole records) is atomic among readers in threads and in forked children alike, and
an empty pipe reads as the end.  No lock to share across a fork.
"""

from __future__ import annotations

import os
import struct
from typing import Optional

_RECORD = struct.Struct("=I")
CHUNK_PROBES = 256           # small enough to even out the loops' ends, large enough to be few reads
_MAX_RECORDS = 8192          # 32 KiB: fits the pipe (64 KiB on Linux) before anyone reads it


class ChunkFeed:
    """Probe numbers ``0 .. count-1`` as ranges of about CHUNK_PROBES, each handed out once."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.size = max(CHUNK_PROBES, -(-count // _MAX_RECORDS))
        read_end, write_end = os.pipe()
        try:
            data = b"".join(_RECORD.pack(start) for start in range(0, count, self.size))
            view = memoryview(data)
            while view:
                view = view[os.write(write_end, view):]
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._fd: Optional[int] = read_end

    def take(self) -> Optional[range]:
        """The next chunk, or None when every chunk has been taken."""
        data = os.read(self._fd, _RECORD.size) if self._fd is not None else b""
        if not data:
            return None
        (start,) = _RECORD.unpack(data)
        return range(start, min(start + self.size, self.count))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
