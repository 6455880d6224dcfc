"""portlab's live scans against nmap's, in a namespace pair (root, Linux, nmap).

    python benchmarks/bench_scan.py                 # all three cases, 3 rounds each
    python benchmarks/bench_scan.py --runs 5 --only syn,connect

The target namespace listens on 10 TCP ports and answers 4 UDP ports, drops a few
TCP and UDP ranges (nftables), and leaves the rest closed; its ICMP rate limit is
the kernel default.  Each case runs portlab (this script as a child
process: import, ``engine.scan``, write the states) and ``nmap`` as whole processes
inside the scanner namespace (``ip netns exec``, so both pay their start-up), alternating which goes first, and reports the median wall times, the
ratio portlab/nmap and whether every port's state agrees (nmap's ``-oX`` read with
``portlab.formats.nmapxml``).  Targets: connect ≤ 0.8, SYN ≤ 0.8, UDP ≤ 1.0.

UDP runs start 7 s apart: Linux gives each peer a burst of 6 ICMP errors that
refills at one per second, and the scan that goes second must not find it empty.
Everything is torn down in ``finally``, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from netlab import netlab, netns_skip_reason  # noqa: E402
from portlab.formats import nmapxml  # noqa: E402

OPEN_TCP = [22, 25, 80, 110, 143, 443, 3306, 5432, 8080, 8443]
DROP_TCP = ["9000-9099", "20000-20199", "40000-40049"]
OPEN_UDP = [53, 123, 161, 5353]
DROP_UDP = ["7000-7009"]
UDP_PORTS = OPEN_UDP + list(range(7000, 7010)) + list(range(1000, 1086))   # 100 ports
UDP_SETTLE_S = 7.0

TARGETS = {"connect": 0.8, "syn": 0.8, "udp": 1.0}
NMAP_FLAG = {"connect": "-sT", "syn": "-sS", "udp": "-sU"}


def ruleset() -> str:
    rules = [f"    tcp dport {r} drop" for r in DROP_TCP] + [f"    udp dport {r} drop" for r in DROP_UDP]
    return ("table inet bench {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
            + "\n".join(rules) + "\n  }\n}\n")


def ports_arg(scan_type: str) -> str:
    return ",".join(map(str, UDP_PORTS)) if scan_type == "udp" else "-"


def child(scan_type: str, target: str, out: str) -> int:
    """The portlab side of one run, as its own process: import, scan through the engine,
    write {port: state}.  (The CLI's pretty JSON of 65535 ports is a formatting cost,
    not a scanning one; nmap's -oX folds closed ports, so neither side pays it.)"""
    from portlab import engine

    result = engine.scan(target, ports_arg(scan_type), scan_type, timing=3,
                         allow=["10.199.0.0/24"], keep_trace=False)
    states = {p.port: p.state.value for h in result.hosts for p in h.ports}
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"transport": result.transport, "states": states}, f)
    return 0


def run_portlab(lab, scan_type: str, workdir: str) -> tuple[float, dict[int, str], str]:
    out = os.path.join(workdir, f"portlab-{scan_type}.json")
    argv = ["ip", "netns", "exec", lab.scanner_ns, sys.executable, __file__, "--child", scan_type,
            lab.target_addr, out]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"portlab {scan_type} failed: {done.stderr.strip()}")
    with open(out, encoding="utf-8") as f:
        data = json.load(f)
    states = {int(port): state for port, state in data["states"].items()}
    return elapsed, states, data["transport"]


def run_nmap(lab, scan_type: str) -> tuple[float, dict[int, str]]:
    argv = ["ip", "netns", "exec", lab.scanner_ns, "nmap", NMAP_FLAG[scan_type], "-n", "-Pn", "-T3",
            "-p", ports_arg(scan_type), "-oX", "-", lab.target_addr]
    t0 = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"nmap {scan_type} failed: {done.stderr.strip()}")
    result = nmapxml.loads(done.stdout, "nmap -oX")
    states = {p.port: p.state.value for h in result.hosts for p in h.ports}
    return elapsed, states


def _in_ranges(port: int, ranges: list[str]) -> bool:
    for r in ranges:
        lo, _, hi = r.partition("-")
        if int(lo) <= port <= int(hi or lo):
            return True
    return False


def truth(scan_type: str) -> dict[int, str]:
    """What every port *is*, from how the target was built (not from either scanner)."""
    if scan_type == "udp":
        return {p: "open" if p in OPEN_UDP else "open|filtered" if _in_ranges(p, DROP_UDP) else "closed"
                for p in UDP_PORTS}
    return {p: "open" if p in OPEN_TCP else "filtered" if _in_ranges(p, DROP_TCP) else "closed"
            for p in range(1, 65536)}


def disagreements(ours: dict[int, str], theirs: dict[int, str]) -> dict[int, tuple[str, str]]:
    return {p: (ours.get(p, "-"), theirs.get(p, "-")) for p in sorted(set(ours) | set(theirs))
            if ours.get(p) != theirs.get(p)}


def case(lab, scan_type: str, runs: int, workdir: str) -> dict:
    mine, theirs, diffs, transport = [], [], {}, "?"
    expected = truth(scan_type)
    wrong = {"portlab": 0, "nmap": 0}       # most ports a run got wrong, per scanner
    agreeing = 0
    for r in range(runs):
        order = ("portlab", "nmap") if r % 2 == 0 else ("nmap", "portlab")
        for who in order:
            if scan_type == "udp":
                time.sleep(UDP_SETTLE_S)
            if who == "portlab":
                t, ours, transport = run_portlab(lab, scan_type, workdir)
                mine.append(t)
                bad = len(disagreements(ours, expected))
            else:
                t, nmap_states = run_nmap(lab, scan_type)
                theirs.append(t)
                bad = len(disagreements(nmap_states, expected))
            wrong[who] = max(wrong[who], bad)
            print(f"  {scan_type:8} run {r + 1} {who:8} {t:7.2f} s  {bad} ports wrong", flush=True)
        run_diffs = disagreements(ours, nmap_states)
        agreeing += not run_diffs
        diffs.update(run_diffs)
    m, n = statistics.median(mine), statistics.median(theirs)
    return {"case": scan_type, "transport": transport, "ports": len(ours), "portlab_s": m, "nmap_s": n,
            "ratio": m / n, "target": TARGETS[scan_type], "agree": agreeing, "runs": runs, "diffs": diffs,
            "wrong": wrong}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds per case (default 3)")
    parser.add_argument("--only", default="connect,syn,udp", help="cases, comma separated")
    parser.add_argument("--child", nargs=3, metavar=("SCAN", "TARGET", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(*args.child)
    cases = [c for c in args.only.split(",") if c]
    unknown = [c for c in cases if c not in TARGETS]
    if unknown:
        print(f"bench_scan: --only {','.join(unknown)}: expected connect, syn, udp", file=sys.stderr)
        return 2
    reason = netns_skip_reason() or (None if shutil.which("nmap") else "nmap is not installed")
    if reason:
        print(f"bench_scan: skipped: {reason}")
        return 0
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="portlab-bench-") as workdir, \
                netlab("bench", tcp=OPEN_TCP, udp=OPEN_UDP, ruleset=ruleset()) as lab:
            for scan_type in cases:
                rows.append(case(lab, scan_type, args.runs, workdir))
    except KeyboardInterrupt:
        print("bench_scan: interrupted; namespaces removed", file=sys.stderr)
        return 130
    print()
    print(f"{'case':8} {'transport':16} {'ports':>6} {'portlab s':>10} {'nmap s':>8} {'ratio':>6} "
          f"{'target':>7} {'runs agreeing':>14} {'wrong: portlab':>15} {'nmap':>5}")
    ok = True
    for row in rows:
        # The target: fast enough, and never a port wrong (nmap's own mistakes under the
        # ICMP rate limit make runs disagree without making portlab wrong).
        good = row["ratio"] <= row["target"] and row["wrong"]["portlab"] == 0
        ok &= good
        print(f"{row['case']:8} {row['transport']:16} {row['ports']:6d} {row['portlab_s']:10.2f} "
              f"{row['nmap_s']:8.2f} {row['ratio']:6.2f} {'<= ' + str(row['target']):>7} "
              f"{str(row['agree']) + '/' + str(row['runs']):>14} {row['wrong']['portlab']:15d} "
              f"{row['wrong']['nmap']:5d}")
        for port, (a, b) in list(row["diffs"].items())[:5]:
            print(f"    e.g. port {port}: portlab {a}, nmap {b} (truth: {truth(row['case'])[port]})")
    print(f"(median of {args.runs} alternating runs, wall time of each whole process; 'wrong' = most ports\n"
          f" one run got wrong against how the target was built)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
