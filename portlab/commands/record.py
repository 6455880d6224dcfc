"""``portlab record SCENARIO [--out data/recordings/]``: scan a live lab and keep the results."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..paths import DATA_DIR

DEFAULT_OUT = DATA_DIR / "recordings"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "record", help="bring a scenario's lab up, scan it every way, save the results (root)",
        description=__doc__)
    parser.add_argument("scenario", metavar="SCENARIO", nargs="+",
                        help="scenario files or shipped names; 'all' = every shipped scenario")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"directory (default {DEFAULT_OUT})")
    parser.add_argument("--no-nmap", action="store_true", help="skip the nmap -oX recordings")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import scenario as scenario_mod
    from ..lab import recording
    from ..lab.run import check_privilege
    names = list(args.scenario)
    if names == ["all"]:
        names = sorted(scenario_mod.shipped())
    scenarios = [scenario_mod.resolve(name) for name in names]   # every file checked before any lab is built
    check_privilege()
    # SIGTERM stops like Ctrl-C (portlab.cli installs that): labs torn down, no half recording.
    for scenario in scenarios:
        where = recording.record(scenario, args.out, nmap=False if args.no_nmap else None,
                                 log=lambda line: print(f"  {line}", file=sys.stderr))
        print(f"recorded {scenario.name} -> {where}")
    return 0
