"""portlab scan TARGET... [-p PORTS] [-s connect|syn|udp] [-T 0-5] [--format ...] [-o FILE]

Scan ports and print nmap's table (or JSON, CSV, XML).  --scenario NAME scans the
simulated network of a scenario and sends nothing.  Targets outside the default scope
(loopback and the labs portlab runs) need --allow-target CIDR, by which you state that
you are authorized to scan them.
"""

from __future__ import annotations

import argparse
import sys
import time

from ..atomic import write_text_atomically
from ..errors import BadInput, ScopeRefused

FORMATS = ("table", "json", "csv", "xml")

USAGE = "portlab scan TARGET... [-p PORTS] [-s connect|syn|udp] [-T 0-5] [--scenario NAME] [options]"
DESCRIPTION = """\
Scan ports and print a table as nmap does (or JSON, CSV, XML).

  portlab scan 127.0.0.1 -p 1-10000                        live, on this machine's loopback
  portlab scan 10.77.0.2 --scenario single-host -p 1-1024  simulated: sends nothing

Targets outside the default scope (loopback and the labs portlab runs) are refused
unless you name them with --allow-target CIDR, by which you state that you are
authorized to scan them."""
EPILOG = """\
In the table, SERVICE is the name IANA's registry gives the port number, not what
answered on it: a web server listening on 22 still shows as ssh.

On a shared machine (JupyterHub, PORTLAB_SHARED=1, or another person's account
listening on loopback), a live scan of loopback without root leaves out the ports
other users listen on, before any packet is sent, and says which in one line on
stderr.

exit status: 0 done; 2 bad input; 3 refused by the scope guard; 4 missing privilege;
130 interrupted."""


def register(subparsers) -> None:
    p = subparsers.add_parser("scan", help="scan ports (connect, SYN or UDP; live or simulated)",
                              usage=USAGE, description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="an address, a hostname or a CIDR block (10.0.0.0/30)")
    p.add_argument("-p", "--ports", default="top1000", metavar="PORTS",
                   help="22 | 22,80,443 | 1-1024 | 1000- | - (all) | top100 | http | 'http*' "
                        "(default: top1000, as nmap)")
    p.add_argument("-s", "--scan-type", default="connect", type=_scan_type, metavar="connect|syn|udp",
                   help="connect needs no privilege; syn needs root or CAP_NET_RAW; udp reads ICMP "
                        "with a raw socket when privileged, else via IP_RECVERR (nmap's -sT, -sS, -sU work too)")
    p.add_argument("-T", "--timing", default="3", metavar="0-5",
                   help="timing template, as nmap -T0 .. -T5 (default 3, normal)")
    p.add_argument("--format", default="table", choices=FORMATS, help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="also write the result to FILE in --format (json if --format is table); "
                        "the table is printed")
    p.add_argument("--scenario", metavar="FILE",
                   help="scan the simulated network of this scenario (a file or a shipped name: "
                        "single-host, web-server, ...); sends nothing")
    p.add_argument("--allow-target", action="append", default=[], metavar="CIDR",
                   help="you are authorized to scan this block (repeatable)")
    p.add_argument("--max-retries", type=_whole, metavar="N", help="retries for unanswered probes")
    p.add_argument("--max-rate", type=_positive, metavar="PPS", help="send at most PPS probes per second")
    p.add_argument("--min-rtt-timeout", type=_positive, metavar="SECONDS", dest="min_timeout",
                   help="never wait less than this for a reply")
    p.add_argument("--max-rtt-timeout", type=_positive, metavar="SECONDS", dest="max_timeout",
                   help="never wait more than this for a reply")
    p.add_argument("--max-parallelism", type=_whole, metavar="N", dest="max_parallel",
                   help="probes in flight at once")
    p.add_argument("--no-randomize", action="store_true", help="probe ports in order, not shuffled")
    p.add_argument("--netns", metavar="NAME", help="run the scan inside that network namespace (root); "
                   "targets in a running lab go to its scanner namespace without it")
    p.add_argument("--trace", action="store_true", help="keep a packet trace per port (JSON output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


# nmap spells them -sT / -sS / -sU; argparse hands us the letter after -s.
_SCAN_TYPE_ALIASES = {"connect": "connect", "syn": "syn", "udp": "udp", "T": "connect", "S": "syn", "U": "udp"}


def _scan_type(text: str) -> str:
    try:
        return _SCAN_TYPE_ALIASES[text]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected connect, syn or udp (or nmap's T, S, U)") from None


def _whole(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number > 0")
    return value


def _scenario(text: str):
    from ..scenario import resolve
    return resolve(text, what="--scenario")


def run(args) -> int:
    from ..engine import scan
    from ..formats import format_for, render
    from ..progress import TerminalProgress

    if args.timing not in {str(n) for n in range(6)}:
        raise BadInput(f"-T {args.timing!r}: expected a timing template 0-5")
    scenario = _scenario(args.scenario) if args.scenario else None
    bar = TerminalProgress(quiet=args.quiet)
    t0 = time.perf_counter()
    try:
        result = scan(args.targets, args.ports, args.scan_type, timing=int(args.timing),
                      scenario=scenario, allow=args.allow_target, retries=args.max_retries,
                      rate=args.max_rate, min_timeout=args.min_timeout, max_timeout=args.max_timeout,
                      max_parallel=args.max_parallel, randomize=not args.no_randomize,
                      progress=bar if bar.enabled else None, netns=args.netns,
                      keep_trace=args.trace)
    except ScopeRefused as err:
        if scenario is None:
            hint = scenario_hint(args.targets)
            if hint:
                raise ScopeRefused(f"{hint}; {err}") from None
        raise
    finally:
        bar.clear()
    wall_s = time.perf_counter() - t0
    if args.output:
        file_format = args.format if args.format != "table" else format_for(args.output, default="json")
        write_text_atomically(args.output, render(result, file_format), f"-o {args.output}")
        sys.stdout.write(render(result, "table", wall_s))
    else:
        sys.stdout.write(render(result, args.format, wall_s))
    return 0


def scenario_hint(targets: list[str]) -> str:
    """When a refused target is an address of a shipped scenario, the advice to simulate
    it (``--scenario NAME``) comes before ``--allow-target``, which would send real packets."""
    import ipaddress

    from .. import scenario as scenario_mod

    for target in targets:
        try:
            net = ipaddress.ip_network(target, strict=False)
        except ValueError:
            continue  # a hostname: resolving it is the engine's job
        names = []
        for name, path in scenario_mod.shipped().items():
            try:
                addresses = scenario_mod.load(path).addresses()
            except BadInput:
                continue
            if any(addr in net for addr in addresses if addr.version == net.version):
                names.append(name)
        if names:
            # The smallest network first: the one a newcomer most likely meant.
            names.sort(key=lambda n: (n != "single-host", n))
            listed = ", ".join(names)
            what = "an address" if net.num_addresses == 1 else "a block"
            return (f"{target} is {what} of the shipped scenario{'s' if len(names) > 1 else ''} {listed}: "
                    f"to scan its simulated network (nothing is sent) add --scenario {names[0]}")
    return ""


