"""`make bench`: run every benchmarks/bench_*.py, each in its own process, and print
its figures, then one line per benchmark with its exit status.

    python benchmarks/run.py              # all of them
    python benchmarks/run.py scan sim     # only bench_scan.py and bench_sim.py

A benchmark is a script whose exit status says whether it met its targets (0), missed
them (1) or could not run here (it prints why and exits 0).  Not part of the tests.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def discover(names: list[str]) -> list[Path]:
    found = sorted(HERE.glob("bench_*.py"))
    if not names:
        return found
    wanted = {n.removeprefix("bench_").removesuffix(".py") for n in names}
    unknown = wanted - {p.stem.removeprefix("bench_") for p in found}
    if unknown:
        raise SystemExit(f"benchmarks/run.py: no benchmark named {', '.join(sorted(unknown))}; "
                         f"expected one of {', '.join(p.stem.removeprefix('bench_') for p in found)}")
    return [p for p in found if p.stem.removeprefix("bench_") in wanted]


def main(argv: list[str]) -> int:
    summary = []
    for path in discover(argv):
        print(f"== {path.name} ==", flush=True)
        t0 = time.perf_counter()
        try:
            status = subprocess.run([sys.executable, str(path)], cwd=HERE.parent).returncode
        except KeyboardInterrupt:
            print("benchmarks/run.py: interrupted", file=sys.stderr)
            return 130
        summary.append((path.name, status, time.perf_counter() - t0))
        print(flush=True)
    print("== summary ==")
    for name, status, seconds in summary:
        verdict = "ok" if status == 0 else ("missed its targets" if status == 1 else f"exit {status}")
        print(f"{name:24} {verdict:20} {seconds:8.1f} s")
    return 0 if all(status == 0 for _, status, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
