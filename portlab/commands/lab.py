"""``portlab lab up SCENARIO [--prefix P] | down [--prefix P | --all] | status``: the live lab."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import BadInput


def register(subparsers) -> None:
    parser = subparsers.add_parser("lab", help="the live lab: a scenario as Linux network namespaces (root, or rootless in a user namespace)",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="lab_command", metavar="ACTION", parser_class=type(parser))
    sub.required = True
    up = sub.add_parser("up", help="build a scenario's namespaces, links, firewalls and services")
    up.add_argument("scenario", metavar="SCENARIO", help="a scenario file, or the name of a shipped one")
    up.add_argument("--prefix", help="name prefix for its namespaces (default: pl + 4 random hex digits)")
    up.add_argument("-v", "--verbose", action="store_true", help="print each step")
    down = sub.add_parser("down", help="remove a lab (the only one running, --prefix P, or --all)")
    down.add_argument("--prefix", help="the lab to remove")
    down.add_argument("--all", action="store_true", help="remove every lab on record")
    status = sub.add_parser("status", help="list running labs")
    status.add_argument("--format", choices=("table", "json"), default="table")
    parser.set_defaults(func=run)


def _up(args) -> int:
    from ..lab.run import Lab
    from ..scenario import resolve
    scenario = resolve(args.scenario)
    verbose = (lambda line: print(f"  {line}", file=sys.stderr)) if args.verbose else None
    lab = Lab(scenario, args.prefix, persistent=True, verbose=verbose).up()
    print(f"lab {lab.prefix} up: scenario {scenario.name}, {len(lab.plan.namespaces)} namespaces "
          f"in {lab.up_s:.2f}s; scanner namespace {lab.scanner_netns}")
    target = scenario.hosts[0].address if scenario.hosts else '…'
    if lab.rootless:
        print(f"  rootless: held by lab process {lab.rootless['pid']} in a user namespace of yours (no root needed)")
        print(f"  scan it:  portlab scan {target} -p 1-1024")
    else:
        print(f"  scan it:  sudo ip netns exec {lab.scanner_netns} portlab scan {target} -p 1-1024")
    print(f"  remove:   portlab lab down --prefix {lab.prefix}")
    for cidr in lab.state.get("guard_shadowed", []):
        print(f"  warning: {cidr} is also a real network of this machine; scan the lab only from "
              f"{lab.scanner_netns} (netns=), never from the root namespace", file=sys.stderr)
    return 0


def _down(args) -> int:
    import time

    from ..lab import run
    labs = run.lab_status()
    if not all(lab.get("rootless") for lab in labs):
        run.check_privilege()     # (a rootless lab is stopped through its lab process: no privilege needed)
    if args.all:
        prefixes = [lab["prefix"] for lab in labs]
    elif args.prefix:
        prefixes = [args.prefix]
    elif len(labs) == 1:
        prefixes = [labs[0]["prefix"]]
    elif not labs:
        print("no lab is running")
        return 0
    else:
        raise BadInput(f"{len(labs)} labs are running ({', '.join(l['prefix'] for l in labs)}): "
                       "expected --prefix P or --all")
    known = {lab["prefix"] for lab in labs}
    for prefix in prefixes:
        t0 = time.monotonic()
        deleted = run.teardown(prefix)
        if not deleted and prefix not in known:
            # Not on this user's record and no namespace of that name: nothing was touched.
            print(f"no lab {prefix} of yours is running: nothing to take down")
            continue
        print(f"lab {prefix} down: {len(deleted)} namespaces removed in {time.monotonic() - t0:.2f}s")
    return 0


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def _status(args) -> int:
    from ..lab import run
    labs = run.lab_status()
    if args.format == "json":
        print(json.dumps(labs, indent=1, sort_keys=True))
        return 0
    if not labs:
        print("no lab is running")
        return 0
    for lab in labs:
        health = lab.get("status", "?") if lab["alive"] else "broken (namespaces missing: portlab lab down --prefix " + lab["prefix"] + ")"
        print(f"{lab['prefix']}  {lab.get('scenario')}  {health}  age {_age(lab['age_s'])}  "
              f"networks {', '.join(lab.get('networks', [])) or '-'}")
        print(f"  scenario file: {lab.get('scenario_path') or '-'}")
        print(f"  scanner: {lab.get('scanner_netns')}   namespaces: {' '.join(lab.get('namespaces', []))}")
        if lab.get("rootless"):
            print(f"  rootless: lab process {lab['rootless']['pid']} holds its namespaces in a user namespace "
                  f"(no guard routes needed: no link to this machine's network)")
        guards = lab.get("guard_routes") or []
        if guards:
            print("  root-namespace guard routes (unreachable): "
                  + ", ".join(f"{c} metric {m}" for c, m in guards)
                  + "".join(f"  [shadowed by a real route: {c}]" for c in lab.get("guard_shadowed", [])))
        sysctls = lab.get("sysctls") or {}
        if sysctls:
            print("  ICMP limits (kernel defaults): " + ", ".join(f"{k.split('.')[-1]}={v}" for k, v in sorted(sysctls.items())))
    return 0


def run(args: argparse.Namespace) -> int:
    return {"up": _up, "down": _down, "status": _status}[args.lab_command](args)
