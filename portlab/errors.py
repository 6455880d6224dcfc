"""Errors a user can cause, each with the exit status the command line documents.

| status | meaning |
|---|---|
| 0 | done |
| 1 | nothing found (``lookup``), or the system failed us (one line: what, and the OS's reason) |
| 2 | bad input: one line on stderr naming what is wrong, where, and what was expected |
| 3 | refused by the scope guard, before any packet was sent |
| 4 | missing privilege: says which scan needs what, and which scan works instead |
| 130 | interrupted (Ctrl-C, or SIGTERM): every socket closed, every lab torn down |

OS errors become portlab errors in one place, :func:`from_os_error`: the modules
that touch files and sockets call it, and the command line's edge calls it for any
OSError that still gets through, so a user never sees a traceback.
"""

from __future__ import annotations

import errno as _errno

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_SCOPE = 3
EXIT_PRIVILEGE = 4
EXIT_INTERRUPTED = 130


class PortlabError(Exception):
    """Base of every error portlab raises on purpose.  ``str(err)`` is one line."""

    exit_code = 1


class BadInput(PortlabError, ValueError):
    """Input that portlab cannot use: a port 70000, a bad CIDR, an unknown key."""

    exit_code = EXIT_BAD_INPUT


class ScopeRefused(PortlabError, PermissionError):
    """A target outside the default scope and not allowed with --allow-target / allow=."""

    exit_code = EXIT_SCOPE


class MissingPrivilege(PortlabError, PermissionError):
    """A raw-socket scan or the live lab without root or the capability it needs."""

    exit_code = EXIT_PRIVILEGE


class SystemFailed(PortlabError):
    """The operating system refused something portlab needed (no file descriptors
    left, a network call failed) through no fault of the input."""

    exit_code = EXIT_FAILED


# errnos that mean the user's input named something unusable (a path, an address)
_INPUT_ERRNOS = {_errno.ENOENT, _errno.EACCES, _errno.EISDIR, _errno.ENOTDIR, _errno.ENOSPC, _errno.EROFS,
                 _errno.ENAMETOOLONG, _errno.EEXIST, _errno.EDQUOT, _errno.EINVAL, _errno.EADDRNOTAVAIL}
_PRIVILEGE_ERRNOS = {_errno.EPERM}


def from_os_error(err: OSError, what: str) -> PortlabError:
    """The one mapping of an OSError to a portlab error: ``what: <the OS's reason>``."""
    reason = err.strerror or str(err) or type(err).__name__
    text = f"{what}: {reason}"
    if err.errno in _PRIVILEGE_ERRNOS:
        return MissingPrivilege(f"{text} (this needs root or a capability; the simulator needs none)")
    if err.errno in _INPUT_ERRNOS or isinstance(err, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return BadInput(text)
    return SystemFailed(text)
