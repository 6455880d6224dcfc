"""How fast the simulator answers scans, through the engine (``portlab.engine.scan``).

    python benchmarks/bench_sim.py            # both cases, trace off (what the targets are for)
    python benchmarks/bench_sim.py --trace    # the same with per-probe traces kept
    python benchmarks/bench_sim.py --big      # also a /24 x 65535 scan: time and peak memory

Targets (DESIGN: the simulator must feel instant in a notebook):
  * a 65535-port SYN scan of one host behind a 20-rule firewall: < 0.5 s real time
  * a 254-address /24 x 1000 ports SYN scan: < 10 s real time
Each case prints the real time of the whole scan and of its parts (the sim
transport's ``run`` alone, the engine's probe building and result assembly), and
the virtual time the scan would have taken on a real network.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from portlab import scenario as model  # noqa: E402
from portlab.engine import Collector, assemble, build_probes, scan  # noqa: E402
from portlab.portspec import parse_ports  # noqa: E402
from portlab.states import ScanType  # noqa: E402
from portlab.targets import parse_targets  # noqa: E402
from portlab.timing import template  # noqa: E402
from portlab.transports.sim import SimTransport  # noqa: E402


def one_host_20_rules() -> model.Scenario:
    actions = ("drop", "reject", "accept", "reject")
    rules = []
    for i in range(20):
        action = actions[i % 4]
        extra = ', with = "admin-prohibited"' if i % 4 == 3 else ""
        rules.append(f'  {{ action = "{action}", protocol = "tcp", ports = "{1000 + 100 * i}-{1050 + 100 * i}"{extra} }}')
    text = ('name = "bench-one"\n[scanner]\naddress = "10.77.0.1"\n'
            '[[hosts]]\nname = "h"\naddress = "10.77.0.2"\ntcp = [22, 80, 443, 1010, 8080]\n'
            '[hosts.firewall]\npolicy = "accept"\nrules = [\n' + ",\n".join(rules) + "\n]\n")
    return model.loads(text, "bench-one.toml")


def class_c() -> model.Scenario:
    lines = ['name = "bench-24"', "[scanner]", 'address = "10.77.0.1"']
    for i in range(2, 255):
        lines += ["[[hosts]]", f'name = "h{i}"', f'address = "10.77.0.{i}"', f"tcp = [22, 80, {8000 + i}]"]
        if i % 2:
            lines += ["[hosts.firewall]", 'policy = "drop"',
                      'rules = [{ action = "accept", protocol = "tcp", ports = "22,80" },'
                      ' { action = "reject", protocol = "tcp", ports = "443" }]']
    return model.loads("\n".join(lines) + "\n", "bench-24.toml")


def parts(scenario, targets: str, ports: str, keep_trace: bool) -> dict[str, float]:
    """The same scan taken apart: engine probe building, transport run, engine assembly."""
    target_list = parse_targets(targets)
    t0 = time.perf_counter()
    probes = build_probes(target_list, parse_ports(ports, "tcp"), ScanType.SYN)
    t1 = time.perf_counter()
    transport = SimTransport(scenario, keep_trace=keep_trace)
    got = Collector(len(probes), None)     # the engine's report: takes exchanges one by one or as columns
    asyncio.run(transport.run(probes, template(3), got))
    t2 = time.perf_counter()
    assemble(ScanType.SYN, "sim", datetime.now(timezone.utc), 0.0, target_list, got.take(ScanType.SYN),
             keep_trace)
    t3 = time.perf_counter()
    return {"build_probes": t1 - t0, "sim run": t2 - t1, "assemble": t3 - t2}


def case(title: str, scenario, targets: str, ports: str, target_s: float, keep_trace: bool) -> bool:
    start = time.perf_counter()
    result = scan(targets, ports, "syn", scenario=scenario, keep_trace=keep_trace)
    real = time.perf_counter() - start
    probes = sum(result.counts().values())   # folded ports (large scans) included
    split = parts(scenario, targets, ports, keep_trace)
    ok = real < target_s
    print(f"{title}: {probes} probes, {real:.3f} s real ({real / probes * 1e6:.1f} us/probe), "
          f"target < {target_s} s: {'ok' if ok else 'MISSED'}; virtual {result.elapsed_s:.1f} s")
    print("    parts: " + ", ".join(f"{k} {v:.3f} s" for k, v in split.items()))
    return ok


def big(scenario) -> None:
    """A /24 x 65535 SYN scan (16.6 million probes): real time and the process's peak
    memory.  It runs in host groups and folds each host's commonest answer, so the
    peak stays near that of one group whatever the number of hosts."""
    import resource
    start = time.perf_counter()
    result = scan("10.77.0.0/24", "-", "syn", scenario=scenario, keep_trace=False)
    real = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    probes = sum(result.counts().values())
    print(f"/24 x 65535 ports: {len(result.hosts)} hosts, {probes} probes, {real:.1f} s real "
          f"({real / probes * 1e6:.1f} us/probe), peak memory {peak:.0f} MiB; {result}")


def warm_up() -> None:
    """The first scan in a process loads the IANA registry (service names) once; a
    notebook pays that once per kernel, so it is timed apart from the cases."""
    start = time.perf_counter()
    scan("10.77.0.2", "22", "syn", scenario=one_host_20_rules())
    print(f"first scan in this process (loads the service registry): {time.perf_counter() - start:.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trace", action="store_true", help="keep per-probe traces")
    parser.add_argument("--big", action="store_true", help="also scan a /24 x 65535 ports (minutes)")
    args = parser.parse_args()
    warm_up()
    ok = case("one host, 20 rules, ports 1-65535", one_host_20_rules(), "10.77.0.2", "-", 0.5, args.trace)
    ok &= case("/24 (254 addresses) x 1000 ports", class_c(), "10.77.0.0/24", "1-1000", 10.0, args.trace)
    if args.big:
        big(class_c())
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
