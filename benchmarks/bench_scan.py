"""The whole `portlab scan` command against the whole `nmap` command, on seeded random
targets in namespace pairs this script builds (root, Linux, ``ip``, nftables, nmap).

    python benchmarks/bench_scan.py                          # every case (long: see README)
    python benchmarks/bench_scan.py --seeds 1 --ratelimit off --only connect --formats table,json
    python benchmarks/bench_scan.py --runs 5 --seeds 1,2,3 --only syn

A *target* is one namespace pair (tests/netlab.py) built from a seed: a few listening
TCP and UDP ports, 3-17 dropped ports, 2-4 ports rejected with ICMP (of the four kinds
port-unreachable, host-unreachable, admin-prohibited, net-unreachable: each a
different answer to the scanner), every other port closed.  Each target is scanned with
its ICMP rate limit on (the kernel's default, ``net.ipv4.icmp_ratelimit=1000``: a burst
of 6 errors, then one a second) and off (0).

Each run is a whole process in the scanner namespace, start-up and output included:

| format | portlab | nmap |
|---|---|---|
| table  | ``portlab scan T -p - -s S``                    | ``nmap -sS/-sT -p- -n -Pn -T3 T`` |
| json   | ``portlab scan T -p - -s S --format json -o F`` | ``nmap ... -oX F`` (nmap has no JSON) |
| xml    | ``portlab scan T -p - -s S --format xml -o F``  | ``nmap ... -oX F`` |

UDP scans the target's own UDP ports plus 25 closed ones (table only).  With the
rate limit on, every run starts 7 s after the previous one, so it finds the target's
ICMP bucket full, as a first scan would (``--back-to-back`` skips that for TCP: then
each scanner meets the bucket the other has just emptied).  The two
scanners alternate which goes first; the table shows median wall times, the ratio,
portlab's own scan loop (the ``scanned in`` its table prints), and how many runs got
every port right against how the target was built (file formats: every port; the
table: every listed port and every ``Not shown`` count).  Targets: connect and SYN
<= 0.6 x nmap, UDP <= 0.8 x nmap with the rate limit off and, with it on, every state
right within 1.2 x the floor the limit sets.  Everything is torn down in ``finally``.
"""

from __future__ import annotations

import argparse
import collections
import compileall
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from netlab import netlab, netns_skip_reason  # noqa: E402

ICMP_REJECTS = ("port-unreachable", "host-unreachable", "admin-prohibited", "net-unreachable")
NMAP_FLAG = {"connect": "-sT", "syn": "-sS", "udp": "-sU"}
RATIO_TARGET = {"connect": 0.6, "syn": 0.6, "udp": 0.8}
UDP_CLOSED = 25
SETTLE_S = 7.0                # refills the target's burst of 6 ICMP errors between runs (rate limit on)
LINUX_BURST, LINUX_GAP_S = 6, 1.0
ALLOW = "10.199.0.0/24"


@dataclass
class Target:
    seed: int
    open_tcp: list[int]
    open_udp: list[int]
    drop: list[int]                           # TCP and UDP
    reject: dict[int, str] = field(default_factory=dict)    # port -> ICMP type, TCP and UDP
    udp_closed: list[int] = field(default_factory=list)

    @classmethod
    def from_seed(cls, seed: int) -> "Target":
        rng = random.Random(f"portlab-bench-{seed}")       # a str seed is stable across Pythons
        pool = rng.sample(range(1, 65536), 60)
        take = lambda n: sorted(pool.pop() for _ in range(n))  # noqa: E731
        open_tcp, open_udp = take(rng.randint(3, 8)), take(rng.randint(2, 3))
        drop = take(rng.randint(3, 17))
        kinds = rng.sample(ICMP_REJECTS, rng.randint(2, 4))
        reject = dict(zip(take(len(kinds)), kinds))
        return cls(seed, open_tcp, open_udp, drop, reject, take(UDP_CLOSED))

    def describe(self) -> str:
        return (f"seed {self.seed}: {len(self.open_tcp)} open, {len(self.drop)} dropped, "
                f"{len(self.reject)} ICMP rejects ({', '.join(sorted(set(self.reject.values())))})")

    def ruleset(self) -> str:
        lines = []
        for proto in ("tcp", "udp"):
            lines += [f"    {proto} dport {p} drop" for p in self.drop]
            lines += [f"    {proto} dport {p} reject with icmp type {kind}" for p, kind in self.reject.items()]
        return ("table inet bench {\n  chain input {\n    type filter hook input priority 0; policy accept;\n"
                + "\n".join(lines) + "\n  }\n}\n")

    def udp_ports(self) -> list[int]:
        return sorted(set(self.open_udp) | set(self.drop) | set(self.reject) | set(self.udp_closed))

    def truth(self, scan_type: str) -> dict[int, str]:
        """What every scanned port *is*, from how the target was built (docs/design.md's measured table)."""
        if scan_type == "udp":
            def udp(p: int) -> str:
                if p in self.open_udp:
                    return "open"
                if p in self.drop:
                    return "open|filtered"
                if p in self.reject:
                    return "closed" if self.reject[p] == "port-unreachable" else "filtered"
                return "closed"
            return {p: udp(p) for p in self.udp_ports()}
        states = dict.fromkeys(range(1, 65536), "closed")
        states.update(dict.fromkeys(self.open_tcp, "open"))
        states.update(dict.fromkeys(self.drop, "filtered"))
        for p, kind in self.reject.items():
            # connect() reports a port-unreachable as ECONNREFUSED: closed, as nmap -sT says
            states[p] = "closed" if scan_type == "connect" and kind == "port-unreachable" else "filtered"
        return states

    def udp_floor_s(self) -> float:
        """The least time any scanner needs with the rate limit on: one ICMP answer per
        closed or rejected port, a burst of 6, then one a second."""
        answers = sum(1 for s in self.truth("udp").values() if s in ("closed", "filtered"))
        return max(0, answers - LINUX_BURST) * LINUX_GAP_S


# -- reading what each side printed ----------------------------------------------------

_LISTED = re.compile(r"^(\d+)/(?:tcp|udp)\s+(\S+)", re.M)
_FOLDED = re.compile(r"(\d+) (\S+) (?:tcp|udp) ports")
_LOOP = re.compile(r"scanned in ([0-9.]+) seconds")


def table_states(text: str) -> tuple[dict[int, str], collections.Counter]:
    """Listed ports and the count of every state (listed + ``Not shown``) of a table,
    portlab's or nmap's (the same layout)."""
    listed = {int(p): s for p, s in _LISTED.findall(text)}
    counts = collections.Counter(listed.values())
    for line in text.splitlines():
        if line.startswith("Not shown:"):
            for n, state in _FOLDED.findall(line):
                counts[state] += int(n)
    return listed, counts


def table_agrees(text: str, truth: dict[int, str]) -> bool:
    listed, counts = table_states(text)
    return all(truth.get(p) == s for p, s in listed.items()) and counts == collections.Counter(truth.values())


def file_states(path: str) -> dict[int, str]:
    from portlab.formats import load

    return {p.port: p.state.value for h in load(path).hosts for p in h.ports}


def portlab_argv() -> list[str]:
    script = Path(sys.executable).with_name("portlab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "portlab"]


BASELINE: str | None = None     # --baseline DIR: another checkout's portlab, run alongside
BACK_TO_BACK = False            # --back-to-back: no settling between TCP runs under the rate limit


def one_run(lab, who: str, scan_type: str, fmt: str, ports: str, workdir: str,
            truth: dict[int, str]) -> dict:
    out = os.path.join(workdir, f"{who}-{scan_type}.{fmt}")
    if os.path.exists(out):
        os.unlink(out)
    env = None
    if who == "baseline":
        # The other checkout's package first on the path (before this venv's editable install).
        env = dict(os.environ, PYTHONPATH=BASELINE)
    if who in ("portlab", "baseline"):
        argv = ([sys.executable, "-m", "portlab"] if who == "baseline" else portlab_argv()) + [
            "scan", lab.target_addr, "-p", ports, "-s", scan_type, "-T3", "--allow-target", ALLOW]
        if fmt != "table":
            argv += ["--format", fmt, "-o", out]
    else:
        argv = ["nmap", NMAP_FLAG[scan_type], "-p", "-" if ports == "-" else ports, "-n", "-Pn", "-T3",
                lab.target_addr]
        if fmt != "table":
            argv += ["-oX", out]
    t0 = time.perf_counter()
    done = subprocess.run(["ip", "netns", "exec", lab.scanner_ns, *argv], capture_output=True, text=True,
                          cwd=BASELINE if who == "baseline" else ROOT, env=env)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{who} {scan_type} {fmt} failed ({done.returncode}): {done.stderr.strip()[:500]}")
    loop = _LOOP.search(done.stdout)
    if fmt == "table":
        right = table_agrees(done.stdout, truth)
        wrong = None if right else "table differs"
    else:
        states = file_states(out)
        bad = [p for p in truth if states.get(p) != truth[p]]
        right = not bad
        wrong = None if right else ", ".join(f"{p}: {states.get(p)} (is {truth[p]})" for p in bad[:4])
    return {"wall": wall, "loop": float(loop.group(1)) if loop else float("nan"), "right": right,
            "wrong": wrong}


def case(lab, target: Target, limit: str, scan_type: str, fmt: str, runs: int, workdir: str) -> dict:
    truth = target.truth(scan_type)
    ports = ",".join(map(str, target.udp_ports())) if scan_type == "udp" else "-"
    got: dict[str, list[dict]] = {"portlab": [], "nmap": []}
    order = ["portlab", "nmap"]
    if BASELINE:
        got["baseline"] = []
        order.append("baseline")
    for r in range(runs):
        for who in order[r % len(order):] + order[:r % len(order)]:   # each goes first in turn
            if limit == "on" and (scan_type == "udp" or not BACK_TO_BACK):
                # Each run finds the target's ICMP bucket full, as a first scan would;
                # back to back, each scanner pays for the errors the other just spent.
                time.sleep(SETTLE_S)
            run = one_run(lab, who, scan_type, fmt, ports, workdir, truth)
            got[who].append(run)
            print(f"    {scan_type:7} {fmt:5} run {r + 1} {who:7} {run['wall']:7.2f} s"
                  + (f" (loop {run['loop']:.2f} s)" if who != "nmap" else "")
                  + ("" if run["right"] else f"  WRONG: {run['wrong']}"), flush=True)
    med = lambda who, key: statistics.median(x[key] for x in got[who])  # noqa: E731
    return {"seed": target.seed, "limit": limit, "scan": scan_type, "format": fmt,
            "loop": med("portlab", "loop"), "portlab": med("portlab", "wall"), "nmap": med("nmap", "wall"),
            "right_portlab": sum(x["right"] for x in got["portlab"]),
            "right_nmap": sum(x["right"] for x in got["nmap"]), "runs": runs,
            "floor": target.udp_floor_s() if scan_type == "udp" and limit == "on" else None,
            "baseline": med("baseline", "wall") if BASELINE else None,
            "baseline_loop": med("baseline", "loop") if BASELINE else None,
            "right_baseline": sum(x["right"] for x in got.get("baseline", []))}


def verdict(row: dict) -> bool:
    if row["right_portlab"] != row["runs"]:
        return False
    if row["floor"] is not None:        # UDP under the rate limit: accuracy first, near the floor
        return row["portlab"] <= 1.2 * row["floor"] + 1.0    # + start-up, as nmap pays it too
    return row["portlab"] / row["nmap"] <= RATIO_TARGET[row["scan"]]


def print_table(rows: list[dict], runs: int) -> bool:
    print()
    print("| target | rate limit | scan | output | portlab scan loop s | portlab whole s | nmap whole s "
          "| ratio | target | portlab right | nmap right |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok = True
    for row in rows:
        good = verdict(row)
        ok &= good
        goal = (f"<= {1.2 * row['floor'] + 1:.1f} s" if row["floor"] is not None
                else f"<= {RATIO_TARGET[row['scan']]}")
        print(f"| seed {row['seed']} | {row['limit']} | {row['scan']} | {row['format']} | {row['loop']:.2f} "
              f"| {row['portlab']:.2f} | {row['nmap']:.2f} | {row['portlab'] / row['nmap']:.2f} | {goal}"
              f"{'' if good else ' MISSED'} | {row['right_portlab']}/{row['runs']} "
              f"| {row['right_nmap']}/{row['runs']} |")
    if BASELINE:
        print(f"\nbaseline ({BASELINE}) in the same rounds:")
        print("| target | rate limit | scan | output | baseline loop s | baseline whole s | now whole s "
              "| nmap whole s | baseline ratio | now ratio | baseline right |")
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows:
            print(f"| seed {row['seed']} | {row['limit']} | {row['scan']} | {row['format']} "
                  f"| {row['baseline_loop']:.2f} | {row['baseline']:.2f} | {row['portlab']:.2f} | {row['nmap']:.2f} "
                  f"| {row['baseline'] / row['nmap']:.2f} | {row['portlab'] / row['nmap']:.2f} "
                  f"| {row['right_baseline']}/{row['runs']} |")
    print(f"(median of {runs} alternating runs, wall time of each whole process; 'right' = runs whose every "
          f"state agrees with how the target was built; load average {os.getloadavg()[0]:.1f})")
    return ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="rounds per case (default 3)")
    parser.add_argument("--seeds", default="1,2,3", help="targets, by seed (default 1,2,3)")
    parser.add_argument("--ratelimit", default="on,off", help="the target's ICMP rate limit: on, off or both")
    parser.add_argument("--only", default="connect,syn,udp", help="scan types, comma separated")
    parser.add_argument("--formats", default="table,json,xml", help="outputs for connect and SYN")
    parser.add_argument("--back-to-back", action="store_true",
                        help="rate limit on: start each TCP run right after the previous one (the "
                             "other scanner's ICMP errors still missing from the bucket) instead "
                             "of letting the bucket refill")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also run the portlab package found in DIR (e.g. an older checkout) in the "
                             "same rounds, for before/after figures under the same load")
    args = parser.parse_args(argv)
    global BASELINE, BACK_TO_BACK
    BASELINE = str(Path(args.baseline).resolve()) if args.baseline else None
    BACK_TO_BACK = args.back_to_back
    scans = [s for s in args.only.split(",") if s]
    formats = [f for f in args.formats.split(",") if f]
    limits = [x for x in args.ratelimit.split(",") if x]
    if (set(scans) - set(NMAP_FLAG)) or (set(formats) - {"table", "json", "xml"}) or (set(limits) - {"on", "off"}):
        print("bench_scan: expected --only connect,syn,udp --formats table,json,xml --ratelimit on,off",
              file=sys.stderr)
        return 2
    reason = netns_skip_reason() or (None if shutil.which("nmap") else "nmap is not installed")
    if reason:
        print(f"bench_scan: skipped: {reason}")
        return 0
    # Time what an installed portlab runs: compiled bytecode.  (With
    # PYTHONDONTWRITEBYTECODE set, every run would otherwise compile each module changed
    # since its last .pyc again, some 10 ms a module.)
    for package in filter(None, (ROOT, BASELINE and Path(BASELINE))):
        compileall.compile_dir(str(package / "portlab"), quiet=1)
    # `kill` tears the namespaces down as Ctrl-C does (the default would leave them).
    from portlab.cli import sigterm_as_ctrl_c
    sigterm_as_ctrl_c()
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="portlab-bench-") as workdir:
            for seed in (int(s) for s in args.seeds.split(",") if s):
                target = Target.from_seed(seed)
                with netlab("bench", tcp=target.open_tcp, udp=target.open_udp, ruleset=target.ruleset()) as lab:
                    for limit in limits:
                        lab.sysctl(lab.target_ns, "net.ipv4.icmp_ratelimit", "1000" if limit == "on" else "0")
                        print(f"  target {target.describe()}; ICMP rate limit {limit}", flush=True)
                        for scan_type in scans:
                            for fmt in (["table"] if scan_type == "udp" else formats):
                                rows.append(case(lab, target, limit, scan_type, fmt, args.runs, workdir))
    except KeyboardInterrupt:
        print("bench_scan: interrupted; namespaces removed", file=sys.stderr)
        return 130
    return 0 if print_table(rows, args.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
