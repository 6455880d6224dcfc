"""``portlab scan TARGET... -p PORTS [-s connect|syn|udp] [-T 0-5] [--format ...] [-o FILE]``.

Prints the nmap-style table (or JSON/CSV/XML) of a scan.  ``--scenario FILE`` scans the
simulated network of a scenario and sends nothing; ``--allow-target CIDR`` states that
you are authorized to scan a block outside the default scope (loopback and running labs).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from ..errors import BadInput

FORMATS = ("table", "json", "csv", "xml")


def register(subparsers) -> None:
    p = subparsers.add_parser("scan", help="scan ports (connect, SYN or UDP; live or simulated)",
                              description=__doc__)
    p.add_argument("targets", nargs="+", metavar="TARGET",
                   help="an address, a hostname or a CIDR block (10.0.0.0/30)")
    p.add_argument("-p", "--ports", default="top1000", metavar="PORTS",
                   help="22 | 22,80,443 | 1-1024 | - (all) | top100 (default: top1000, as nmap)")
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
                   help="scan the simulated network of this scenario (a file or a shipped name); sends nothing")
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
    import argparse

    try:
        return _SCAN_TYPE_ALIASES[text]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected connect, syn or udp (or nmap's T, S, U)") from None


def _whole(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 0")
    return value


def _positive(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number > 0")
    return value


def _scenario(text: str):
    from .. import scenario as scenario_mod

    path = Path(text)
    if not path.exists():
        shipped = scenario_mod.shipped()
        if text not in shipped:
            raise BadInput(f"--scenario {text!r}: no such file; expected a scenario file or one of: "
                           f"{', '.join(sorted(shipped))}")
        path = Path(shipped[text])
    return scenario_mod.load(path)


def render(result, fmt: str) -> str:
    if fmt == "json":
        return result.to_json(indent=1) + "\n"
    if fmt == "csv":
        return result.to_csv()
    if fmt == "xml":
        return result.to_xml()
    return result.table().rstrip("\n") + "\n"


def write_atomically(path: str, text: str) -> None:
    """Write via a temporary file in the same directory and rename it into place, so a
    reader never sees half a file and an interrupted scan leaves the old file intact."""
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise BadInput(f"-o {path}: directory {directory} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def run(args) -> int:
    from ..engine import scan
    from ..progress import TerminalProgress

    if args.timing not in {str(n) for n in range(6)}:
        raise BadInput(f"-T {args.timing!r}: expected a timing template 0-5")
    scenario = _scenario(args.scenario) if args.scenario else None
    bar = TerminalProgress(quiet=args.quiet)
    try:
        result = scan(args.targets, args.ports, args.scan_type, timing=int(args.timing),
                      scenario=scenario, allow=args.allow_target, retries=args.max_retries,
                      rate=args.max_rate, min_timeout=args.min_timeout, max_timeout=args.max_timeout,
                      max_parallel=args.max_parallel, randomize=not args.no_randomize,
                      progress=bar if bar.enabled else None, netns=args.netns,
                      keep_trace=args.trace)
    finally:
        bar.clear()
    if args.output:
        file_format = args.format if args.format != "table" else _format_of(args.output)
        write_atomically(args.output, render(result, file_format))
        sys.stdout.write(render(result, "table"))
    else:
        sys.stdout.write(render(result, args.format))
    return 0


def _format_of(path: str) -> str:
    """The file format -o FILE implies when --format is the table: by extension, else JSON."""
    suffix = Path(path).suffix.lower().lstrip(".")
    return {"json": "json", "csv": "csv", "xml": "xml", "txt": "table"}.get(suffix, "json")
