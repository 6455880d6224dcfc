"""A helper process that sends a SYN scan's segments, so the scan loop only matches replies.

When the target is on this machine (a lab's veth pair, loopback), ``sendto()`` on the
raw socket runs the target's side inside the call: its kernel takes the SYN and queues
the RST back before returning, about 15 µs a segment, a second for a full range.  In
the scan's own loop that second adds to the Python work of matching 65535 replies.
A thread cannot take it over (the GIL: the loop holds it while matching, so the thread
would wait up to 5 ms before each send); a process can.  The loop writes batches of
segments to a pipe; the helper, started with the raw socket's descriptor, sends them
in order on a core of its own.

The pipe is kept small, so a segment leaves at most a few milliseconds after the loop
noted its send time (its timeout counts from then).  The helper ignores Ctrl-C and ends
when the pipe closes: when the scan ends, fails or is killed, it ends too.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess
import sys
from typing import Optional

#: What the helper runs: read frames (4-byte IPv4 address, 2-byte length, segment),
#: send each.  Standard library only, started with -I -S so it starts in ~20 ms.
_HELPER = r"""
import errno, os, signal, socket, struct, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
sock = socket.socket(fileno=int(sys.argv[1]))
pipe = int(sys.argv[2])
head = struct.Struct("!4sH")
busy = (errno.EAGAIN, errno.ENOBUFS, errno.EINTR)
dropped_here = (errno.EPERM, errno.EACCES)   # this machine's output firewall: sent and unanswered
pending = b""
while True:
    data = os.read(pipe, 1 << 16)
    if not data:
        break
    pending += data
    at, end = 0, len(pending)
    while end - at >= 6:
        packed, size = head.unpack_from(pending, at)
        if end - at - 6 < size:
            break
        segment = pending[at + 6:at + 6 + size]
        at += 6 + size
        address = (socket.inet_ntoa(packed), 0)
        while True:
            try:
                sock.sendto(segment, address)
                break
            except OSError as err:
                if err.errno in busy:
                    time.sleep(0.0005)   # the device queue is full: let it drain
                    continue
                if err.errno in dropped_here:
                    break
                os._exit(min(255, max(1, err.errno or 1)))
    pending = pending[at:]
os._exit(0)
"""

_FRAME = struct.Struct("!4sH")
_F_SETPIPE_SZ = 1031     # Linux fcntl: the pipe's capacity
_PIPE_BYTES = 16384      # ~600 segments: at most ~10 ms between noted and real send


class SendHelper:
    """The helper process for one scan; ``send`` queues, ``close`` ends it."""

    def __init__(self, sock: socket.socket) -> None:
        read_end, self._write_end = os.pipe()
        try:
            try:
                fcntl.fcntl(self._write_end, _F_SETPIPE_SZ, _PIPE_BYTES)
            except OSError:
                pass   # an older kernel: the default 64 KiB pipe, a little more lag
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", "-c", _HELPER, str(sock.fileno()), str(read_end)],
                pass_fds=(sock.fileno(), read_end), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True)
        except BaseException:
            os.close(self._write_end)
            raise
        finally:
            os.close(read_end)
        self._batch: list[bytes] = []

    def add(self, segment: bytes, packed_address: bytes) -> None:
        self._batch.append(_FRAME.pack(packed_address, len(segment)) + segment)

    def flush(self) -> None:
        """Hand the queued segments to the helper (blocks only while its pipe is full)."""
        if not self._batch:
            return
        data = b"".join(self._batch)
        self._batch.clear()
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._write_end, view)
            except BrokenPipeError:
                raise self.failure() from None
            view = view[written:]

    def failure(self) -> OSError:
        code = self._proc.poll()
        return OSError(code or 0, f"the SYN scan's sending process ended early "
                                  f"({os.strerror(code) if code else 'no reason given'})")

    def check(self) -> None:
        """Raise if the helper died (a send error it could not handle)."""
        if self._proc.poll() is not None:
            raise self.failure()

    def close(self) -> Optional[int]:
        """Let the helper send what it has, then end it; returns its exit status."""
        try:
            os.close(self._write_end)
        except OSError:
            pass
        try:
            return self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait()
