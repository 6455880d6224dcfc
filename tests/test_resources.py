"""Resources: a full-range scan under a small descriptor limit is complete and correct,
and no descriptor, thread or child process outlives a scan, whether it finished,
was cancelled or failed."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from portlab import engine
from portlab.errors import BadInput, ScopeRefused
from portlab.privilege import has_raw_socket_privilege

ROOT = Path(__file__).resolve().parents[1]


def census() -> tuple[set[str], int, set[int]]:
    """(open descriptors, live threads, child pids) of this process."""
    fds = set(os.listdir("/proc/self/fd"))
    children = set()
    for task in os.listdir(f"/proc/{os.getpid()}/task"):
        try:
            text = Path(f"/proc/{os.getpid()}/task/{task}/children").read_text()
        except OSError:
            continue
        children |= {int(pid) for pid in text.split()}
    return fds, threading.active_count(), children


def assert_nothing_left(before) -> None:
    fds, threads, children = census()
    leaked = fds - before[0]
    assert not leaked, {fd: os.readlink(f"/proc/self/fd/{fd}") for fd in leaked if os.path.exists(f"/proc/self/fd/{fd}")}
    assert threads <= before[1], threading.enumerate()
    assert not children - before[2]


@pytest.fixture
def listener():
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


def test_a_full_range_scan_under_ulimit_n_256_is_complete_and_correct(listener):
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256)); "
            "from portlab.cli import main; sys.exit(main(['scan', '127.0.0.1', '-p', '-', '--format', 'csv']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    rows = [line.split(",") for line in done.stdout.splitlines()[1:] if line]
    ports = {int(row[2]) for row in rows}
    assert ports == set(range(1, 65536))          # every port, once
    states = {int(row[2]): row[4] for row in rows}
    assert states[listener] == "open"
    # Other processes' listeners may be open too; nothing may be lost to the limit.
    assert set(states.values()) <= {"open", "closed", "filtered"}


@pytest.mark.parametrize("scan_type", ["connect", "udp", pytest.param("syn", marks=pytest.mark.skipif(
    not has_raw_socket_privilege(), reason="a SYN scan needs root or CAP_NET_RAW"))])
def test_finished_scans_leave_nothing(scan_type, listener):
    before = census()
    for _ in range(3):
        engine.scan("127.0.0.1", f"1-200,{listener}", scan_type, timing=5)
    assert_nothing_left(before)


def test_failed_scans_leave_nothing():
    before = census()
    for bad in [dict(targets="8.8.8.8", ports="80"), dict(targets="127.0.0.1", ports="70000"),
                dict(targets="127.0.0.1", ports="80", scan_type="xmas")]:
        with pytest.raises((BadInput, ScopeRefused)):
            engine.scan(**bad)
    assert_nothing_left(before)


def test_cancelled_scans_leave_nothing():
    before = census()
    # A port whose SYNs the kernel drops (full accept queue): the scan waits on it.
    full = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    full.bind(("127.0.0.1", 0))
    full.listen(0)
    fillers = []
    try:
        for _ in range(4):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            c.connect_ex(full.getsockname())
            fillers.append(c)

        async def main():
            task = asyncio.create_task(engine.scan_async("127.0.0.1", [full.getsockname()[1], *range(1, 2000)],
                                                         min_timeout=20, max_timeout=30))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        for _ in range(2):
            asyncio.run(main())
    finally:
        for c in fillers:
            c.close()
        full.close()
    assert_nothing_left(before)


def test_interrupting_the_command_exits_130_and_leaves_no_child(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p", "-", "--max-rate", "500",
                             "-o", str(tmp_path / "out.json"), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].endswith("interrupted")
    assert not (tmp_path / "out.json").exists()      # no partial result file
    assert not list(tmp_path.iterdir())              # nor a temporary one


# ---------------------------------------------------------------- writing files

def test_save_replaces_a_file_whole_and_leaves_no_temporary(tmp_path):
    result = engine.scan("10.77.0.2", "22,80", scenario="single-host")
    out = tmp_path / "scan.json"
    out.write_text("the old file\n")
    result.save(out)
    assert out.read_text().startswith("{") and [p.name for p in tmp_path.iterdir()] == ["scan.json"]


def test_save_cut_midway_leaves_the_old_file(tmp_path, monkeypatch):
    from portlab import formats

    result = engine.scan("10.77.0.2", "22,80", scenario="single-host")
    out = tmp_path / "scan.json"
    out.write_text("the old file\n")

    def cut(*args, **kw):
        raise KeyboardInterrupt   # Ctrl-C while the text is being made / written
    monkeypatch.setattr(formats, "render", lambda *a, **k: "x" * 100 + cut())
    with pytest.raises(KeyboardInterrupt):
        result.save(out)
    assert out.read_text() == "the old file\n" and [p.name for p in tmp_path.iterdir()] == ["scan.json"]


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/unshare").exists(),
                    reason="a full disk is made with a tiny tmpfs in a private mount namespace (root)")
def test_a_full_disk_gives_one_clear_line_and_no_partial_file(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    script = (f"mount -t tmpfs -o size=16k none {mnt} && "
              f"{sys.executable} -m portlab scan 10.77.0.2 -p - --scenario single-host --format json -o {mnt}/scan.json; "
              f"echo rc=$?; ls -A {mnt}")
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert "rc=2" in done.stdout, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [f"portlab scan: -o {mnt}/scan.json: cannot write: No space left on device"] \
        or "No space left on device" in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "rc=2"   # ls printed nothing: no partial or temporary file


def test_sigterm_during_a_scan_exits_130_like_ctrl_c(tmp_path):
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p", "-", "--max-rate", "500",
                             "-o", str(tmp_path / "out.json"), "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip().splitlines()[-1].endswith("interrupted"), err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("errno_name, cls, code", [("ENOENT", "BadInput", 2), ("ENOSPC", "BadInput", 2),
                                                    ("EPERM", "MissingPrivilege", 4), ("EMFILE", "SystemFailed", 1)])
def test_os_errors_are_mapped_in_one_place(errno_name, cls, code):
    import errno

    from portlab.errors import from_os_error
    err = from_os_error(OSError(getattr(errno, errno_name), os.strerror(getattr(errno, errno_name))), "x.json: cannot write")
    assert type(err).__name__ == cls and err.exit_code == code
    assert str(err).startswith("x.json: cannot write: ") and "\n" not in str(err)
