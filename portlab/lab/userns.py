"""The live lab without root: a user namespace the learner owns.

Linux lets an ordinary user create a *user namespace*: inside it their own uid is
mapped to root and holds every capability, but only over namespaces created from
inside it.  So a learner without sudo can build the whole lab (``ip netns``, veth
links, bridges, nftables, the service daemons) exactly as root does, just inside a
user namespace of their own:

* ``portlab lab up`` starts a small **lab process** (``python -m portlab.lab.userns
  hold``).  It unshares a user, a mount and a network namespace, maps the user to
  root inside, mounts private tmpfs over ``/run/netns`` (and ``/run/portlab``) so its
  ``ip netns`` names are its own, builds the lab with the same plan as root, and
  stays alive holding the namespaces.
* Everything else *joins* it: a scan runs in a child process that enters the lab
  process's user and mount namespaces (``/proc/PID/ns/user``, ``.../ns/mnt``), then
  the lab's scanner namespace, exactly as the root lab's scans do.  Only the owner
  can: opening another user's ``/proc/PID/ns/*`` is refused by the kernel.
* ``down`` stops the lab process; it tears the lab down, and if it was killed the
  kernel frees every namespace anyway (the service daemons die with it,
  ``PR_SET_PDEATHSIG``), so nothing is left on the machine.

No guard routes are needed: the lab's namespaces hang off a network namespace with
only a loopback interface, which has no link to the machine's real interfaces, and
the user namespace holds no capability over the machine's own network namespace
(it could not add a route there, nor move an interface in or out).
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG = 1
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
HOLD_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

SIMULATOR = "use the simulator instead: portlab scan --scenario FILE"


class SetupFailed(Exception):
    """Entering or preparing the user namespace failed (message: one line)."""


class NoUserNamespace(SetupFailed):
    """This machine refused the user namespace itself: the lab cannot run rootless here."""


@functools.lru_cache(maxsize=1)
def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise SetupFailed(f"{what}: {os.strerror(err)}")


# ---------------------------------------------------------------- can it work here?

def _read(path: str) -> Optional[str]:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _bounding_set() -> int:
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    return 0


def kernel_why_not() -> Optional[str]:
    """The kernel setting that forbids unprivileged user namespaces, with the fix; None if none does."""
    if not sys.platform.startswith("linux"):
        return "the live lab uses Linux network namespaces, and this is not Linux"
    if _read("/proc/sys/kernel/unprivileged_userns_clone") == "0":
        return ("unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0); "
                "an admin can allow them: sudo sysctl -w kernel.unprivileged_userns_clone=1")
    if _read("/proc/sys/user/max_user_namespaces") == "0":
        return ("user namespaces are off (user.max_user_namespaces=0); "
                "an admin can allow them: sudo sysctl -w user.max_user_namespaces=15000")
    if _read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1":
        return ("AppArmor denies capabilities in unprivileged user namespaces "
                "(kernel.apparmor_restrict_unprivileged_userns=1, Ubuntu 23.10+); an admin can allow them: "
                "sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    wanted = (1 << CAP_NET_ADMIN) | (1 << CAP_SYS_ADMIN)
    if _bounding_set() & wanted != wanted:
        return ("this process's capability bounding set excludes CAP_NET_ADMIN/CAP_SYS_ADMIN "
                "(a container or setpriv dropped them), so a user namespace cannot grant them either")
    for tool, package in (("ip", "iproute2"), ("nft", "nftables")):
        if shutil.which(tool) is None:
            return f"the live lab needs the {tool!r} command (install {package})"
    return None


@functools.lru_cache(maxsize=1)
def why_not() -> Optional[str]:
    """One line saying why a rootless lab cannot run here (None: it can).

    Reads the kernel's settings, then really tries, in a throwaway child process:
    a user namespace, its private ``/run/netns`` and one ``ip netns add`` (a seccomp
    filter or an LSM can refuse what the sysctls allow).  Nothing outlives the child.
    """
    reason = kernel_why_not()
    if reason:
        return reason
    try:
        done = subprocess.run([sys.executable, "-m", "portlab.lab.userns", "probe"], capture_output=True, text=True,
                              timeout=20, env={**os.environ, "PYTHONPATH": _package_root()})
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"a user namespace could not be tried ({err})"
    if done.returncode != 0:
        line = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return f"an unprivileged user namespace failed here ({line})"
    return None


# ---------------------------------------------------------------- entering

def _private_run(state_dir: Optional[str]) -> None:
    """Give this mount namespace its own ``/run/netns`` and ``/run/portlab`` (tmpfs)."""
    def tmpfs(where: str) -> None:
        _check(_libc().mount(b"tmpfs", where.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=0755"),
               f"mount a private tmpfs on {where}")

    if os.path.isdir("/run/netns"):
        tmpfs("/run/netns")
        if os.path.isdir("/run/portlab"):
            tmpfs("/run/portlab")
        return
    # No /run/netns on the machine (nobody ran `ip netns` as root yet), and an ordinary
    # user cannot create it: cover all of /run, then bring the state directory back.
    keep = None
    if state_dir and os.path.realpath(state_dir).startswith("/run/"):
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        keep = os.open(state_dir, os.O_PATH | os.O_DIRECTORY)
    tmpfs("/run")
    os.mkdir("/run/netns")
    if keep is not None:
        os.makedirs(state_dir, exist_ok=True)
        _check(_libc().mount(f"/proc/self/fd/{keep}".encode(), state_dir.encode(), None, MS_BIND | MS_REC, None),
               f"bind {state_dir} back")
        os.close(keep)


def enter_new(state_dir: Optional[str] = None) -> None:
    """Move this (single-threaded) process into new user, mount and network namespaces,
    as root inside, with a private ``/run/netns``."""
    uid, gid = os.getuid(), os.getgid()
    _check(_libc().unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWNET), "unshare(user, mount, net)")
    try:
        Path("/proc/self/setgroups").write_text("deny")     # required before an unprivileged gid_map
        Path("/proc/self/uid_map").write_text(f"0 {uid} 1")
        Path("/proc/self/gid_map").write_text(f"0 {gid} 1")
    except OSError as err:
        raise SetupFailed(f"map the user to root in the new user namespace: {err.strerror}") from None
    # Mounts made here must not leak back (nor ever could: the parent's are locked).
    _check(_libc().mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    _private_run(state_dir)


def start_time(pid: int) -> Optional[int]:
    """The process's start time (clock ticks since boot): with the pid, names it for sure."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2:].split()
        return None if fields[0] == "Z" else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def holder_alive(holder: Any) -> bool:
    """Whether the lab process *holder* (``{"pid", "start"}`` from a state file) still runs."""
    try:
        pid, start = int(holder["pid"]), int(holder["start"])
    except (TypeError, KeyError, ValueError):
        return False
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)    # our own child: reap it if it exited
        if done:
            return False
    except ChildProcessError:
        pass
    return start_time(pid) == start


def _ns_inode(pid: Any, kind: str) -> Optional[int]:
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except OSError:
        return None


def inside(holder: Any) -> bool:
    """Whether this process already lives in the lab process's user namespace."""
    try:
        theirs = _ns_inode(int(holder["pid"]), "user")
    except (TypeError, KeyError, ValueError):
        return False
    return theirs is not None and theirs == _ns_inode("self", "user")


def join(holder: Any) -> None:
    """Enter the lab process's user and mount namespaces (this process must be single-threaded)."""
    pid = int(holder["pid"])
    fds = []
    try:
        for kind in ("user", "mnt"):
            try:
                fds.append(os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
            except OSError as err:
                raise SetupFailed(f"the lab process {pid} is not reachable ({err.strerror}): "
                                  "it is gone, or not yours") from None
        if start_time(pid) != int(holder["start"]):
            raise SetupFailed(f"the lab process {pid} is gone (portlab lab status cleans its record)")
        for fd, (kind, flag) in zip(fds, (("user", CLONE_NEWUSER), ("mount", CLONE_NEWNS))):
            _check(_libc().setns(fd, flag), f"join the lab's {kind} namespace")
    finally:
        for fd in fds:
            os.close(fd)


def die_with_parent() -> None:
    """For a service daemon of a rootless lab (preexec_fn): killed when the lab process dies."""
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _package_root() -> str:
    root = str(Path(__file__).resolve().parents[2])
    extra = os.environ.get("PYTHONPATH")
    return root + (os.pathsep + extra if extra else "")


def _env(state_dir: str) -> dict:
    return {**os.environ, "PYTHONPATH": _package_root(), "PORTLAB_STATE_DIR": state_dir}


# ---------------------------------------------------------------- the outside: start, stop, join

def start(lab, state_dir: str) -> dict:
    """Start the lab process for *lab* (a :class:`~portlab.lab.run.Lab`), wait until its lab is up.

    Returns the lab's state.  A non-persistent lab's process also goes down when the
    process that started it ends (it watches a pipe from us).
    """
    from ..errors import PortlabError
    request = pickle.dumps({"scenario": lab.scenario, "prefix": lab.prefix, "persistent": lab.persistent,
                            "python": lab.python, "verbose": lab.verbose is not None, "state_dir": state_dir})
    proc = subprocess.Popen([lab.python, "-m", "portlab.lab.userns", "hold"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
                            env=_env(state_dir))
    lab._holder_proc = proc
    try:
        proc.stdin.write(len(request).to_bytes(8, "big") + request)
        proc.stdin.flush()
        if lab.persistent:
            proc.stdin.close()
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while True:
            line = _readline(proc, deadline)
            if not line:
                raise SetupFailed("the lab process ended without a word" if proc.poll() is not None
                                  else f"the lab process did not finish building in {HOLD_TIMEOUT_S:g}s")
            kind, _, rest = line.decode().rstrip("\n").partition(" ")
            if kind == "log" and lab.verbose:
                lab.verbose(rest)
            elif kind == "error":
                err = pickle.loads(bytes.fromhex(rest))
                raise err
            elif kind == "ready":
                proc.stdout.close()
                return json.loads(rest)
    except BaseException as err:
        # Ctrl-C or a failure: the lab process tears down what it built, or is killed.
        stop({"pid": proc.pid, "start": start_time(proc.pid)}, proc)
        if isinstance(err, NoUserNamespace):
            from ..errors import MissingPrivilege
            raise MissingPrivilege(f"the live lab needs root (or CAP_NET_ADMIN), or unprivileged user namespaces, "
                                   f"and here {err}; or use the simulator: portlab scan --scenario FILE") from None
        if isinstance(err, SetupFailed):
            raise _failed(str(err)) from None
        if isinstance(err, (PortlabError, KeyboardInterrupt)):
            raise
        raise _failed(f"{type(err).__name__}: {err}") from None


def _failed(message: str):
    from .run import LabFailed
    return LabFailed(f"rootless lab: {message}")


def _readline(proc: subprocess.Popen, deadline: float) -> bytes:
    import selectors
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        remaining = deadline - time.monotonic()
        if remaining > 0 and sel.select(timeout=remaining):
            return proc.stdout.readline()
    return b""


def stop(holder: Any, proc: Optional[subprocess.Popen] = None) -> None:
    """Stop the lab process: SIGTERM (it tears its lab down), SIGKILL if it hangs."""
    if holder.get("start") is None or not holder_alive(holder):
        if proc is not None:
            proc.wait()
        return
    pid = int(holder["pid"])
    for sig, grace in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, 5.0)):
        if start_time(pid) != holder["start"]:
            break
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + grace
        while holder_alive(holder) and time.monotonic() < deadline:
            time.sleep(0.02)
        if not holder_alive(holder):
            break
    if proc is not None:
        try:
            proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass


def _scan_request(targets, kwargs: dict) -> bytes:
    kwargs = dict(kwargs)
    kwargs.pop("progress", None)          # a callable stays on this side
    transport = kwargs.get("transport")
    if transport is not None and not isinstance(transport, str):
        from ..errors import BadInput
        raise BadInput("a scan of a rootless lab takes transport= as a name, not a Transport object")
    return pickle.dumps((targets, kwargs))


async def scan_in_lab(holder: dict, state_dir: str, targets, kwargs: dict):
    """Run ``engine.scan(targets, **kwargs)`` (kwargs name ``netns``) in a child that joined the lab."""
    from ..errors import MissingPrivilege
    request = _scan_request(targets, kwargs)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "portlab.lab.userns", "scan", json.dumps(holder),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=_env(state_dir))
    try:
        out, err = await proc.communicate(request)
    except BaseException:
        # Cancelled (Ctrl-C): the child's sockets close with it.
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0 or not out:
        line = (err.decode(errors="replace").strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise MissingPrivilege(f"could not join the rootless lab: {line}")
    ok, value = pickle.loads(out)
    if not ok:
        raise value
    return value


def exec_argv(holder: dict, state_dir: str, *argv: str) -> list[str]:
    """A command line that runs *argv* inside the lab process's namespaces (then ``ip netns exec``)."""
    return [sys.executable, "-m", "portlab.lab.userns", "exec", json.dumps(holder), state_dir, "--", *argv]


# ---------------------------------------------------------------- the inside (python -m portlab.lab.userns)

def _send(kind: str, text: str) -> None:
    sys.stdout.buffer.write(f"{kind} {text}\n".encode())
    sys.stdout.buffer.flush()


def _hold() -> int:
    """The lab process: build the lab in a new user namespace and keep it until told to stop."""
    from .run import Lab

    def interrupt(*_args):
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, interrupt)
    lab = None
    try:
        size = int.from_bytes(sys.stdin.buffer.read(8), "big")
        request = pickle.loads(sys.stdin.buffer.read(size))
        os.environ["PORTLAB_STATE_DIR"] = request["state_dir"]
        try:
            enter_new(request["state_dir"])
        except SetupFailed as refused:
            raise NoUserNamespace(f"an unprivileged user namespace failed ({refused})") from None
        lab = Lab(request["scenario"], request["prefix"], persistent=request["persistent"],
                  python=request["python"],
                  verbose=(lambda line: _send("log", line)) if request["verbose"] else None)
        lab.rootless = {"pid": os.getpid(), "start": start_time(os.getpid()), "uid": os.getuid()}
        lab.up()
    except BaseException as err:
        if isinstance(err, SetupFailed) and not isinstance(err, NoUserNamespace):
            err = _failed(str(err))
        try:
            payload = pickle.dumps(err)
        except Exception:
            payload = pickle.dumps(_failed(f"{type(err).__name__}: {err}"))
        _send("error", payload.hex())
        return 1
    _send("ready", json.dumps({**lab.state, "up_s": lab.up_s}))
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    try:
        if request["persistent"]:
            while True:
                signal.pause()
        else:
            # Our starter keeps the other end of stdin: end of file means it is gone.
            while sys.stdin.buffer.read(65536):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        lab.down()
    return 0


def _probe() -> int:
    try:
        enter_new()
        for argv in (("ip", "netns", "add", "plprobe"), ("ip", "-n", "plprobe", "link", "set", "lo", "up"),
                     ("ip", "netns", "delete", "plprobe")):
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            if done.returncode != 0:
                raise SetupFailed(f"{' '.join(argv)}: {' '.join(done.stderr.split())}")
    except SetupFailed as err:
        print(err, file=sys.stderr)
        return 1
    return 0


def _scan(holder_json: str) -> int:
    holder = json.loads(holder_json)
    try:
        join(holder)
    except SetupFailed as err:
        print(err, file=sys.stderr)
        return 1
    from ..engine import scan
    targets, kwargs = pickle.loads(sys.stdin.buffer.read())
    try:
        outcome = (True, scan(targets, **kwargs))
    except Exception as err:
        outcome = (False, err)
    sys.stdout.buffer.write(pickle.dumps(outcome))
    return 0


def _exec(holder_json: str, argv: list[str]) -> int:
    try:
        join(json.loads(holder_json))
    except SetupFailed as err:
        print(f"portlab: {err}", file=sys.stderr)
        return 4
    os.execvp(argv[0], argv)


def main(argv: list[str]) -> int:
    if argv[:1] == ["hold"]:
        return _hold()
    if argv[:1] == ["probe"]:
        return _probe()
    if argv[:1] == ["scan"] and len(argv) == 2:
        return _scan(argv[1])
    if argv[:1] == ["exec"] and len(argv) >= 5 and argv[3] == "--":
        os.environ["PORTLAB_STATE_DIR"] = argv[2]
        return _exec(argv[1], argv[4:])
    print("usage: python -m portlab.lab.userns hold|probe|scan HOLDER|exec HOLDER STATE_DIR -- ARGV",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    # Run as the package's module, not __main__, so the errors sent back pickle by their real names.
    from portlab.lab import userns as _module
    sys.exit(_module.main(sys.argv[1:]))
