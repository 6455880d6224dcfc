"""Errors a user can cause, each with the exit status the command line documents.

| status | meaning |
|---|---|
| 0 | done |
| 2 | bad input: one line on stderr naming what is wrong, where, and what was expected |
| 3 | refused by the scope guard, before any packet was sent |
| 4 | missing privilege: says which scan needs what, and which scan works instead |
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_BAD_INPUT = 2
EXIT_SCOPE = 3
EXIT_PRIVILEGE = 4


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
