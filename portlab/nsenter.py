"""Enter a Linux network namespace in the calling thread.

Network namespaces belong to threads, not processes: after ``setns(fd,
CLONE_NEWNET)`` the sockets this thread (and threads it starts) creates live in the
namespace, while the rest of the process stays where it was.  The engine uses this
to run a whole scan inside a lab's namespace (``netns="NAME"``) without a
subprocess.  ``ip netns add NAME`` pins namespaces at ``/run/netns/NAME``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re

from .errors import BadInput, MissingPrivilege

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/run/netns"
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def netns_path(name: str) -> str:
    if not _NAME.fullmatch(name or "") or name in (".", ".."):
        raise BadInput(f"netns {name!r}: expected a namespace name as `ip netns list` shows it")
    return os.path.join(NETNS_DIR, name)


def enter_netns(name: str) -> None:
    """Move the calling thread into the network namespace *name* (irreversible for it)."""
    path = netns_path(name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise BadInput(f"netns {name!r}: no such namespace ({path} missing); "
                       f"expected one from `ip netns list`") from None
    except PermissionError:
        raise MissingPrivilege(f"netns {name!r}: cannot open {path}; entering a namespace "
                               f"needs root (CAP_SYS_ADMIN)") from None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            if err == 1:  # EPERM
                raise MissingPrivilege(f"netns {name!r}: setns() refused; entering a network "
                                       f"namespace needs root (CAP_SYS_ADMIN)")
            raise BadInput(f"netns {name!r}: setns() failed: {os.strerror(err)}")
    finally:
        os.close(fd)
