"""Recordings: scans of a live lab saved for replay (``portlab record SCENARIO``).

For each scan type (connect, SYN, UDP) a *fresh* lab is built, scanned from its
scanner namespace and torn down again.  Fresh namespaces start with full ICMP
rate-limit buckets and empty conntrack tables, so one scan's ICMP errors never
starve the next one's (which would turn closed UDP ports into open|filtered);
building a lab takes well under a second.  nmap (when installed) scans the same
ports the same way, each in a fresh lab too.

Output in ``OUT/<scenario>/``: ``connect.json``, ``syn.json``, ``udp.json``
(portlab JSON), ``nmap-connect.xml``, ``nmap-syn.xml``, ``nmap-udp.xml`` (nmap
``-oX``), and ``meta.json`` (scenario, kernel, date, portlab and nmap versions,
the exact commands and port lists).  Every probed port is kept (with its tries
and RTT); packet traces are left out to keep the files small (the simulator
draws them for teaching).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Optional

from .. import __version__
from .run import Lab

SCAN_TYPES = ("connect", "syn", "udp")
NMAP_FLAGS = {"connect": "-sT", "syn": "-sS", "udp": "-sU"}
TOP_TCP = 100          # nmap --top-ports 100, plus every port the scenario names
TOP_UDP = 10           # UDP closed ports cost ~1 s each (ICMP rate limit): keep it short
TIMING = 4
NMAP_TIMEOUT_S = 600


def targets(scenario) -> list[str]:
    """Every address of every host and router, in scenario order."""
    return [str(address) for address, machine in scenario.addresses().items() if machine != "scanner"]


def ports_for(scenario, scan_type: str) -> list[int]:
    """What a recording scans: every port the scenario names, plus the most common ones."""
    from ..common_ports import top_ports
    from ..scenario_random import interesting_ports
    named = set(interesting_ports(scenario))
    if scan_type == "udp":
        return sorted(named | set(top_ports(TOP_UDP, "udp")))
    return sorted(named | set(top_ports(TOP_TCP, "tcp")))


def nmap_argv(scan_type: str, ports: list[int], addresses: list[str], out: Path) -> list[str]:
    return ["nmap", "-n", "-Pn", NMAP_FLAGS[scan_type], "--reason", f"-T{TIMING}",
            "-p", ",".join(map(str, ports)), "-oX", str(out), *addresses]


def _nmap_version() -> Optional[str]:
    try:
        out = subprocess.run(["nmap", "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0].strip() if out else None


def record(scenario, out_dir, *, nmap: Optional[bool] = None, scan_types=SCAN_TYPES,
           log: Callable[[str], None] = lambda line: None) -> Path:
    """Record *scenario* into ``out_dir/<name>/``; returns that directory.

    *nmap*: None = when installed.  Writes into a temporary directory first and
    renames it into place, so an interrupted recording never leaves half a set.
    """
    nmap = shutil.which("nmap") is not None if nmap is None else nmap
    final = Path(out_dir) / scenario.name
    work = Path(out_dir) / f".{scenario.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    addresses = targets(scenario)
    meta = {
        "scenario": scenario.name,
        "scenario_file": Path(scenario.path).name if getattr(scenario, "path", None) else None,
        "kernel": platform.release(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "portlab": __version__,
        "nmap": _nmap_version() if nmap else None,
        "targets": addresses,
        "note": "each scan ran in a freshly built lab (fresh ICMP rate-limit buckets), from its scanner namespace",
        "scans": {},
    }
    try:
        for scan_type in scan_types:
            ports = ports_for(scenario, scan_type)
            with Lab(scenario) as lab:
                log(f"{scenario.name}: {scan_type} scan of {len(addresses)} addresses x {len(ports)} ports")
                t0 = time.monotonic()
                result = lab.scan(addresses, ports, scan_type, timing=TIMING, keep_trace=False)
                result.save(work / f"{scan_type}.json")
                meta["scans"][scan_type] = {
                    "file": f"{scan_type}.json", "ports": ",".join(map(str, ports)), "timing": TIMING,
                    "wall_s": round(time.monotonic() - t0, 2),
                    "api": f"portlab.lab.Lab(scenario).scan(targets, ports, {scan_type!r}, timing={TIMING}, keep_trace=False)",
                }
            if nmap:
                out = work / f"nmap-{scan_type}.xml"
                with Lab(scenario) as lab:
                    log(f"{scenario.name}: nmap {NMAP_FLAGS[scan_type]}")
                    argv = nmap_argv(scan_type, ports, addresses, out)
                    t0 = time.monotonic()
                    subprocess.run(lab.exec_argv("scanner", *argv), check=True, capture_output=True,
                                   timeout=NMAP_TIMEOUT_S)
                    meta["scans"][f"nmap-{scan_type}"] = {
                        "file": out.name, "command": "ip netns exec SCANNER " + " ".join(
                            a if a != str(out) else out.name for a in argv),
                        "wall_s": round(time.monotonic() - t0, 2),
                    }
        (work / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final
