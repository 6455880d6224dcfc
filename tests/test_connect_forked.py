"""Connect-scan shards in forked processes (portlab/transports/forked.py), on loopback.

The command line forks (one thread); pytest may have threads, so each test runs its
scan in a fresh interpreter of its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="forking shards is Linux-only")

SCRIPT = textwrap.dedent("""
    import asyncio, json, os, socket
    from portlab.states import Probe, ScanType
    from portlab.timing import template
    from portlab.transports import forked
    from portlab.transports.connect import ConnectTransport

    servers = []
    for _ in range(3):
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); servers.append(s)
    listening = sorted(s.getsockname()[1] for s in servers)
    ports = sorted(set(range(20000, 30000)) | set(listening))
    probes = [Probe("127.0.0.1", p, ScanType.CONNECT) for p in ports]
    forks = []
    real_fork = os.fork
    def counting_fork():
        pid = real_fork()
        if pid:
            forks.append(pid)
        return pid
    os.fork = counting_fork
    assert forked.can_fork()
    answers = {}
    for processes in (True, False):
        out = []
        transport = ConnectTransport(keep_trace=False, max_shards=2, processes=processes)
        asyncio.run(transport.run(probes, template(4), out.append))
        assert transport.sockets_opened == transport.sockets_closed > 0
        answers[processes] = {e.probe.port: (e.reply.kind.value, e.tries) for e in out}
        assert len(out) == len(ports), (processes, len(out))
        assert sorted(e.probe.port for e in out) == ports, processes   # each port once, from a shared feed
    print(json.dumps({"forks": len(forks), "listening": listening,
                      "connected": sorted(p for p, a in answers[True].items() if a[0] == "connected"),
                      "differing": sum(answers[True][p][0] != answers[False][p][0] for p in ports)}))
""")


def test_forked_shards_give_the_threads_answers_and_leave_no_process():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["forks"] == 2                    # one child per shard, and only in the forked run
    assert got["connected"] == got["listening"]
    assert got["differing"] == 0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2 if hasattr(os, "sched_getaffinity") else True,
                    reason="the command line runs one shard (no fork) on a single core")
def test_ctrl_c_during_a_forked_scan_leaves_no_process():
    # A full range on loopback takes about a second: interrupt it midway.
    scan = subprocess.Popen([sys.executable, "-m", "portlab", "scan", "127.0.0.1", "-p", "-", "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        parent = psutil.Process(scan.pid)
        deadline = time.monotonic() + 20
        while not parent.children() and time.monotonic() < deadline and scan.poll() is None:
            time.sleep(0.01)
        children = parent.children(recursive=True)
        assert children, "the scan never forked its shards"
        os.killpg(scan.pid, signal.SIGINT)      # what a terminal's Ctrl-C does: the whole group
        _out, err = scan.communicate(timeout=20)
    finally:
        if scan.poll() is None:
            os.killpg(scan.pid, signal.SIGKILL)
            scan.wait()
    assert scan.returncode == 130, err
    gone, alive = psutil.wait_procs(children, timeout=5)
    assert alive == []
