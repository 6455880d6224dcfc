"""How fast the IANA registry answers.

Prints three figures:
* cold start: a fresh Python process importing portlab.registry and doing its
  first lookup (the budget is 0.3 s; the median of several runs is reported);
* service_name() for all 65536 ports of one protocol, as a full scan needs;
* to_dataframe(), which is the first thing that imports pandas.

Run: python benchmarks/bench_registry.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COLD_BUDGET_S = 0.3

# Measured inside the child, from before the import to after the first answer,
# so that interpreter start-up (not ours to tune) is reported separately.
CHILD = """
import time
t0 = time.perf_counter()
import portlab.registry as registry
assert registry.lookup(443, "tcp")[0].name == "https"
print(time.perf_counter() - t0)
"""


def cold_start(runs: int) -> tuple[float, float]:
    inside, whole = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
        whole.append(time.perf_counter() - t0)
        inside.append(float(out))
    return statistics.median(inside), statistics.median(whole)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    inside, whole = cold_start(args.runs)
    print(f"cold import + first lookup: {inside * 1000:.0f} ms median of {args.runs} "
          f"(whole process incl. interpreter start: {whole * 1000:.0f} ms; budget {COLD_BUDGET_S * 1000:.0f} ms)")

    from portlab import registry
    registry.records()
    t0 = time.perf_counter()
    named = sum(1 for port in range(65536) if registry.service_name(port, "tcp"))
    dt = time.perf_counter() - t0
    print(f"service_name x 65536 (tcp): {dt * 1000:.1f} ms ({dt / 65536 * 1e9:.0f} ns each; {named} ports named)")

    t0 = time.perf_counter()
    frame = registry.to_dataframe()
    print(f"to_dataframe (pandas import included): {(time.perf_counter() - t0) * 1000:.0f} ms, shape {frame.shape}")
    return 0 if inside < COLD_BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
