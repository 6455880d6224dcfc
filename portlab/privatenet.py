"""A loopback of the learner's own: run a function in a private network namespace.

On a shared machine (a JupyterHub, a lab server) loopback is shared: every user's
programs listen on the same 127.0.0.1, so a scan of all its ports knocks on other
people's doors, and reading the banner of each open port reads theirs.  Linux can
give a process a *network namespace* of its own: a private copy of the network with
its own loopback, where nothing listens but what the process starts itself.

:func:`run` calls ``func(*args, **kwargs)`` in a child process (``python -m
portlab.privatenet``) that

1. unshares a network namespace: directly where it may (root, or CAP_SYS_ADMIN);
   otherwise together with a user namespace of its own, with the helpers of
   :mod:`portlab.lab.userns` (the same ``unshare``; the user is mapped to root
   inside where the kernel allows it);
2. brings its loopback interface up (127.0.0.1 and ::1; there is no other
   interface, so no packet can leave);
3. runs the function, which starts the notebook's own services and scans them;
4. sends the result back, pickled, over a pipe, and exits: the namespace and every
   socket in it end with it.

The child is always reaped: if the caller fails or is interrupted (Ctrl-C) it is
killed and waited for, and if the caller dies the kernel kills it
(``PR_SET_PDEATHSIG``).  The function must be importable by name (a module-level
function), and so must its arguments and its result; what it prints is discarded.

Where no namespace can be had (not Linux; user namespaces switched off; a container
that forbids ``unshare``), :func:`run` raises :class:`Unavailable` with one line
saying why, and the caller falls back (see :func:`run_or`).  ``PORTLAB_PRIVATE_NET=off``
in the environment makes every call fall back (for tests and for a teacher who
wants to show the fallback).
"""

from __future__ import annotations

import functools
import os
import pickle
import socket
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, NamedTuple, Optional

from .lab import userns

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
#: Exit status of a child that could not make its namespace (its stderr says why).
EXIT_NO_NAMESPACE = 3
OFF_VARIABLE = "PORTLAB_PRIVATE_NET"


class Unavailable(Exception):
    """No private network namespace here; the message is one line saying why."""


# ---------------------------------------------------------------- the outside

def run(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)`` in a private network namespace; its return value.

    Raises :class:`Unavailable` where no namespace can be made, and re-raises what
    the function raised (by its type where it pickles, else as RuntimeError).
    """
    if os.environ.get(OFF_VARIABLE, "").lower() in ("off", "0", "no"):
        raise Unavailable(f"{OFF_VARIABLE}=off is set")
    if not sys.platform.startswith("linux"):
        raise Unavailable("network namespaces are a Linux feature, and this is not Linux")
    request = pickle.dumps((func, args, kwargs))
    env = {**os.environ, "PYTHONPATH": userns._package_root()}
    proc = subprocess.Popen([sys.executable, "-m", "portlab.privatenet"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True)     # Ctrl-C reaches us, and we end the child
    try:
        out, err = proc.communicate(request)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    last = (err.decode(errors="replace").strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    if proc.returncode == EXIT_NO_NAMESPACE:
        raise Unavailable(_explain(last))
    if proc.returncode != 0 or not out:
        raise RuntimeError(f"the private network namespace's process failed: {last}")
    ok, value = pickle.loads(out)
    if not ok:
        raise value
    return value


def _explain(child_line: str) -> str:
    """The kernel setting that forbids it, with its fix, where one does; else what the child saw."""
    setting = userns.kernel_why_not()
    if setting and "sysctl" in setting:
        return setting
    return f"a private network namespace could not be made here ({child_line})"


def _probe() -> list[str]:
    """Runs inside: the namespace's interfaces (only ``lo``, if all is well)."""
    return sorted(name for _, name in socket.if_nameindex())


@functools.lru_cache(maxsize=1)
def why_not() -> Optional[str]:
    """None when this machine gives private network namespaces, else one line saying why.
    Really tries once (a child that makes one and ends), then remembers."""
    try:
        interfaces = run(_probe)
    except Unavailable as err:
        return str(err)
    except (OSError, RuntimeError) as err:
        return f"a private network namespace could not be tried ({err})"
    if interfaces != ["lo"]:
        return f"the private network namespace was not private (interfaces: {', '.join(interfaces)})"
    return None


class Ran(NamedTuple):
    """What :func:`run_or` did: the value, whether it ran privately, and one line saying where and why."""

    value: Any
    private: bool
    line: str


def run_or(fallback: Callable[[], Any], instead: str, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Ran:
    """``run(func, ...)``, else ``fallback()`` (in this process), with one line saying which and why.

    *instead* finishes the fallback's sentence, e.g. ``"scanned only the port this
    notebook opened"``.
    """
    try:
        value = run(func, *args, **kwargs)
    except Unavailable as err:
        return Ran(fallback(), False, f"No private network namespace here ({err}), so this {instead}.")
    return Ran(value, True, "This ran in a private network namespace of your own: a loopback where only "
                            "this notebook's services listen, so no other user's program was touched.")


# ---------------------------------------------------------------- the inside (python -m portlab.privatenet)

def _unshare() -> None:
    """Move this (single-threaded) process into a network namespace of its own."""
    libc = userns._libc()
    if libc.unshare(userns.CLONE_NEWNET) == 0:
        return              # root (CAP_SYS_ADMIN): a network namespace is enough
    # Without that privilege: a user namespace of our own first, which owns the new network namespace.
    uid, gid = os.getuid(), os.getgid()
    userns._check(libc.unshare(userns.CLONE_NEWUSER | userns.CLONE_NEWNET), "unshare(user, net)")
    # Root inside, as the rootless lab maps it.  The kernel refuses to map uid 0 without
    # CAP_SETFCAP (Linux 5.12+: a root whose capabilities were dropped); the namespace's
    # capabilities are ours either way, and a private loopback needs no more.
    for name, text in (("setgroups", "deny"), ("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        try:
            with open(f"/proc/self/{name}", "w") as f:
                f.write(text)
        except OSError:
            break


def _loopback_up() -> None:
    import fcntl                       # Linux only, like everything on this side
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def main() -> int:
    userns.die_with_parent()           # the caller gone: we go too
    request = sys.stdin.buffer.read()
    try:
        _unshare()
        _loopback_up()
    except (userns.SetupFailed, OSError) as err:
        print(err, file=sys.stderr)
        return EXIT_NO_NAMESPACE
    result = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)                      # what the function prints must not mix with the result
    try:
        func, args, kwargs = pickle.loads(request)
        outcome: tuple[bool, Any] = (True, func(*args, **kwargs))
    except Exception as err:
        outcome = (False, err)
    try:
        payload = pickle.dumps(outcome)
    except Exception as err:           # a value or an exception that does not pickle
        kind = "result" if outcome[0] else f"{type(outcome[1]).__name__}: {outcome[1]}"
        payload = pickle.dumps((False, RuntimeError(f"could not send back the {kind} ({err})")))
    result.write(payload)
    result.close()
    return 0


if __name__ == "__main__":
    # Run as the package's module, not __main__, so that what it sends back unpickles by its real name.
    from portlab import privatenet as _module
    sys.exit(_module.main())
