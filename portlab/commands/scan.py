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

FORMATS = ("table", "json", "csv", "xml", "grepable")

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
    p.add_argument("targets", nargs="*", metavar="TARGET",
                   help="an address, a hostname or a CIDR block (10.0.0.0/30)")
    p.add_argument("-iL", dest="input_list", metavar="FILE",
                   help="read targets from FILE (- for stdin): any whitespace between them, # comments")
    p.add_argument("--exclude", metavar="T1,T2", help="leave these targets out (commas between them)")
    p.add_argument("--excludefile", metavar="FILE", help="leave out the targets listed in FILE")
    p.add_argument("-p", "--ports", metavar="PORTS",
                   help="22 | 22,80,443 | 1-1024 | 1000- | - (all) | top100 | http | 'http*' "
                        "(default: top1000, as nmap)")
    p.add_argument("-F", dest="fast", action="store_true", help="the 100 commonest ports (as nmap -F)")
    p.add_argument("--top-ports", type=_count, metavar="N", help="the N commonest ports (nmap's frequencies)")
    p.add_argument("--exclude-ports", metavar="PORTS", help="leave these ports out (same syntax as -p)")
    p.add_argument("-s", "--scan-type", action="append", type=_scan_type, metavar="connect|syn|udp",
                   help="connect needs no privilege; syn needs root or CAP_NET_RAW; udp reads ICMP "
                        "with a raw socket when privileged, else via IP_RECVERR (nmap's -sT, -sS, -sU work too)")
    p.add_argument("-T", "--timing", default="3", metavar="0-5",
                   help="timing template, as nmap -T0 .. -T5 (default 3, normal)")
    p.add_argument("--format", default="table", choices=FORMATS, help="output format (default table)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="also write the result to FILE in --format (json if --format is table); "
                        "the table is printed")
    p.add_argument("-oN", dest="out_table", metavar="FILE", help="write the table to FILE (- for stdout)")
    p.add_argument("-oX", dest="out_xml", metavar="FILE", help="write nmap XML to FILE (- for stdout)")
    p.add_argument("-oG", dest="out_grepable", metavar="FILE",
                   help="write nmap's grepable lines to FILE (- for stdout)")
    p.add_argument("-oA", dest="out_all", metavar="BASE", help="write BASE.nmap, BASE.xml and BASE.gnmap")
    p.add_argument("--open", dest="only_open", action="store_true",
                   help="list only open, open|filtered and unfiltered ports")
    p.add_argument("-v", dest="verbose", action="count", default=0,
                   help="before the table, list each open port found (-vv: the same)")
    p.add_argument("--reason", action="store_true", help="accepted: portlab always shows the reason")
    p.add_argument("-n", dest="no_dns", action="store_true", help="accepted: portlab resolves only names you give")
    p.add_argument("-Pn", dest="no_ping", action="store_true",
                   help="accepted: portlab does no host discovery, every target is scanned")
    p.add_argument("--scenario", metavar="FILE",
                   help="scan the simulated network of this scenario (a file or a shipped name: "
                        "single-host, web-server, ...); sends nothing")
    p.add_argument("--allow-target", action="append", default=[], metavar="CIDR",
                   help="you are authorized to scan this block (repeatable)")
    p.add_argument("--max-retries", type=_whole, metavar="N", help="retries for unanswered probes")
    p.add_argument("--max-rate", type=_positive, metavar="PPS", help="send at most PPS probes per second")
    p.add_argument("--min-rtt-timeout", type=_duration, metavar="TIME", dest="min_timeout",
                   help="never wait less than this for a reply (seconds, or nmap's 500ms, 2s, 1m)")
    p.add_argument("--max-rtt-timeout", type=_duration, metavar="TIME", dest="max_timeout",
                   help="never wait more than this for a reply (seconds, or 500ms, 2s, 1m)")
    p.add_argument("--max-parallelism", type=_whole, metavar="N", dest="max_parallel",
                   help="probes in flight at once")
    p.add_argument("--no-randomize", action="store_true", help="probe ports in order, not shuffled")
    p.add_argument("--netns", metavar="NAME", help="run the scan inside that network namespace (root); "
                   "targets in a running lab go to its scanner namespace without it")
    p.add_argument("--trace", action="store_true", help="keep a packet trace per port (JSON output)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


#: nmap options portlab does not do: option -> what to use instead.  Checked before
#: argparse sees the command line, so an option's argument is never taken for a target.
_OS = "portlab does not guess operating systems; scan ports with -sS or -sT"
_NO_DISCOVERY = "portlab does no host discovery (every target is scanned, as with -Pn)"
UNSUPPORTED = {
    "-O": _OS, "--osscan-limit": _OS, "--osscan-guess": _OS,
    "-A": "portlab does no OS, version or script detection; use -sS or -sT with -p",
    "-sV": "version detection is not built yet; SERVICE shows IANA's name for the port",
    "--version-intensity": "version detection is not built yet",
    "-sC": "portlab runs no scripts", "--script": "portlab runs no scripts",
    "--script-args": "portlab runs no scripts",
    "-sA": "the ACK scan is not built; use -sS",
    "-sW": "the window scan is not built; use -sS", "-sM": "the Maimon scan is not built; use -sS",
    "-sN": "the NULL scan is not built; use -sS", "-sF": "the FIN scan is not built; use -sS",
    "-sX": "the Xmas scan is not built; use -sS", "-sY": "SCTP scans are not built; use -sS or -sU",
    "-sZ": "SCTP scans are not built; use -sS or -sU", "-sO": "the IP protocol scan is not built",
    "-sI": "the idle scan is not built; use -sS", "-sL": "portlab does not list targets without scanning",
    "-sn": "portlab does no host discovery without a port scan; scan a few ports with -p",
    "-sP": "portlab does no host discovery without a port scan; scan a few ports with -p",
    "-b": "the FTP bounce scan is not built",
    "-6": "portlab scans IPv4 here; give an IPv4 target", "--traceroute": "portlab traces no routes",
    "-iR": "portlab never picks random targets: it scans only what you are authorized to scan",
    "-oS": "script kiddie output is not written; use -oN", "-oM": "-oM is nmap's old name; use -oG",
    "--append-output": "output files are replaced whole, never appended to",
    "--resume": "an interrupted scan is not resumed; run it again",
    "--stylesheet": "the XML carries no stylesheet", "--webxml": "the XML carries no stylesheet",
    "--host-timeout": "not built yet; use --max-rtt-timeout and --max-retries",
    "--min-rate": "not built yet; use -T4 or --max-parallelism",
    "--scan-delay": "not built yet; use --max-rate", "--max-scan-delay": "not built yet; use --max-rate",
    "-D": "decoys are not sent: portlab's packets carry your own address",
    "-S": "portlab sends from your own address", "-e": "portlab picks the interface by the route",
    "-g": "portlab picks the source port", "--source-port": "portlab picks the source port",
    "-f": "portlab does not fragment packets", "--mtu": "portlab does not fragment packets",
    "--data-length": "portlab sends nmap's default probes only", "--ttl": "portlab sends the system's TTL",
    "--spoof-mac": "portlab sends from your own MAC address", "--badsum": "portlab sends correct checksums",
    "-R": "portlab does no reverse DNS lookups", "--dns-servers": "portlab does no reverse DNS lookups",
    "--system-dns": "portlab resolves names with the system's resolver already",
    "-d": "use -v, or --trace for a packet trace per port (JSON output)",
    "--packet-trace": "use --trace for a packet trace per port (JSON output)",
    "--privileged": "portlab checks its capabilities itself", "--unprivileged": "use -sT (no privilege)",
    "--send-eth": "portlab sends IP packets", "--send-ip": "portlab sends IP packets already",
    "--iflist": "use ip addr and ip route", "--stats-every": "the progress bar updates by itself",
}
UNSUPPORTED.update({f"-P{kind}": _NO_DISCOVERY for kind in "SAUYEPMOR"})   # nmap's host discovery probes
#: Options written with their value attached (-PS22, -sV is a scan letter).
_ATTACHED = tuple(o for o in UNSUPPORTED if o.startswith(("-P", "-s")) and len(o) == 3)


def unsupported(argv) -> str:
    """The one line for the first nmap option in *argv* that portlab does not do, or ''."""
    for token in argv:
        if token == "--":
            break
        name = token.split("=", 1)[0] if token.startswith("--") else token
        if name in UNSUPPORTED:
            return f"{name}: not supported by portlab: {UNSUPPORTED[name]}"
        attached = next((o for o in _ATTACHED if token.startswith(o)), None)
        if attached:
            return f"{token}: not supported by portlab: {UNSUPPORTED[attached]}"
    return ""


# nmap spells them -sT / -sS / -sU; argparse hands us the letter after -s.
_SCAN_TYPE_ALIASES = {"connect": "connect", "syn": "syn", "udp": "udp", "T": "connect", "S": "syn", "U": "udp"}


def _scan_type(text: str) -> str:
    try:
        return _SCAN_TYPE_ALIASES[text]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected connect, syn or udp (or nmap's T, S, U)") from None


def _count(text: str) -> int:
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


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


_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float:
    """nmap's times: a number of seconds, or with a unit: 500ms, 2s, 1m, 1h."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a time such as 0.5, 500ms, 2s or 1m")
    value = float(match.group(1)) * _UNITS[(match.group(2) or "").lower()]
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a time > 0")
    return value


def _scenario(text: str):
    from ..scenario import resolve
    return resolve(text, what="--scenario")


#: nmap's timing templates by name (nmap -T accepts both).
_TIMING_NAMES = {"paranoid": "0", "sneaky": "1", "polite": "2", "normal": "3", "aggressive": "4", "insane": "5"}

#: Output options: (dest, format, the option as nmap spells it).
_OUTPUTS = (("out_table", "table", "-oN"), ("out_xml", "xml", "-oX"), ("out_grepable", "grepable", "-oG"))
_ALL_SUFFIXES = (("table", ".nmap"), ("xml", ".xml"), ("grepable", ".gnmap"))


def _scan_types(args) -> str:
    chosen = list(dict.fromkeys(args.scan_type or ["connect"]))
    if len(chosen) > 1:
        raise BadInput(f"scan types {' and '.join(chosen)} together: portlab runs one scan type at a time; "
                       "run portlab scan once per type (nmap's combined -sS -sU is not supported yet)")
    return chosen[0]


def _port_list(args, scan_type: str):
    """-p, -F, --top-ports and --exclude-ports as one port list (or the spec when nothing excludes)."""
    from ..portspec import parse_ports

    given = [name for name, on in (("-p", args.ports is not None), ("-F", args.fast),
                                   ("--top-ports", args.top_ports is not None)) if on]
    if len(given) > 1:
        raise BadInput(f"{' and '.join(given)} both choose the ports: give one of them")
    spec = args.ports
    if args.fast:
        spec = "top100"
    elif args.top_ports is not None:
        spec = f"top{args.top_ports}"
    elif spec is None:
        spec = "top1000"
    if not args.exclude_ports:
        return spec
    protocol = "udp" if scan_type == "udp" else "tcp"
    excluded = set(parse_ports(args.exclude_ports, protocol))
    kept = [port for port in parse_ports(spec, protocol) if port not in excluded]
    if not kept:
        raise BadInput(f"--exclude-ports {args.exclude_ports}: leaves no port of {spec} to scan")
    return kept


def output_plan(args) -> list[tuple[str, str, str]]:
    """(option, path, format) for every file or '-' the command line asks for."""
    plan = []
    if args.output:
        file_format = args.format if args.format != "table" else format_for_path(args.output)
        plan.append(("-o", args.output, file_format))
    for dest, fmt, option in _OUTPUTS:
        path = getattr(args, dest)
        if path:
            plan.append((option, path, fmt))
    if args.out_all:
        if args.out_all == "-":
            raise BadInput("-oA -: -oA names three files from a base name; use -oN -, -oX - or -oG - "
                           "for standard output")
        plan += [("-oA", args.out_all + suffix, fmt) for fmt, suffix in _ALL_SUFFIXES]
    to_stdout = [option for option, path, _ in plan if path == "-"]
    if len(to_stdout) > 1 or (to_stdout and args.format != "table" and not args.output):
        what = to_stdout + (["--format " + args.format] if args.format != "table" else [])
        raise BadInput(f"{' and '.join(what)} {'both' if len(what) == 2 else 'all'} write to standard "
                       "output: choose one")
    return plan


def format_for_path(path: str) -> str:
    from ..formats import format_for
    return format_for(path, default="json")


def check_writable(option: str, path: str) -> None:
    """One BadInput line, before any packet, if *path* cannot be written: the directory is
    missing, is not a directory, cannot be written (tried for real), or the path is a directory."""
    import os
    import tempfile
    from pathlib import Path

    if path == "-":
        return
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    label = f"{option} {path}"
    if target.is_dir():
        raise BadInput(f"{label}: is a directory; expected a file name")
    if not directory.exists():
        raise BadInput(f"{label}: the directory {directory} does not exist")
    if not directory.is_dir():
        raise BadInput(f"{label}: {directory} is not a directory")
    if target.exists() and not os.access(target, os.W_OK):
        raise BadInput(f"{label}: the file exists and cannot be written (permission denied)")
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".check", dir=directory)
    except OSError as err:
        raise BadInput(f"{label}: cannot write in {directory}: {err.strerror or err}") from None
    os.close(fd)
    os.unlink(probe)


def read_target_list(path: str, option: str) -> list[str]:
    """The targets of an nmap target file: separated by any whitespace, ``#`` to the end of a
    line is a comment; ``-`` reads standard input."""
    from ..errors import from_os_error

    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8-sig") as f:
                text = f.read()
    except FileNotFoundError:
        raise BadInput(f"{option} {path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{option} {path}: is a directory; expected a file of targets") from None
    except UnicodeDecodeError as err:
        raise BadInput(f"{option} {path}: not UTF-8 text (byte {err.start})") from None
    except OSError as err:
        raise from_os_error(err, f"{option} {path}: cannot read") from None
    targets = [token for line in text.splitlines() for token in line.split("#", 1)[0].split()]
    if not targets:
        raise BadInput(f"{option} {path}: names no target (one a line; # starts a comment)")
    return targets


def _targets(args) -> list[str]:
    """The command line's targets, then -iL's, less --exclude and --excludefile."""
    from ..targets import parse_targets

    targets = list(args.targets)
    if args.input_list:
        targets += read_target_list(args.input_list, "-iL")
    if not targets:
        raise BadInput(f"the following arguments are required: TARGET (usage: {USAGE}; "
                       "or -iL FILE; more: portlab scan --help)")
    excluded = [t for t in (args.exclude or "").split(",") if t.strip()]
    if args.excludefile:
        excluded += read_target_list(args.excludefile, "--excludefile")
    if not excluded:
        return targets
    # Expand both sides to addresses (a block minus an address is the rest of the block).
    gone = {target.address for target in parse_targets(excluded)}
    kept = [target.name or target.address for target in parse_targets(targets) if target.address not in gone]
    if not kept:
        raise BadInput("--exclude leaves no target to scan")
    return kept


def _notes(args) -> None:
    if args.no_ping:
        print("portlab scan: note: -Pn: portlab does no host discovery; every target is scanned "
              "as if it were up", file=sys.stderr)
    if args.no_dns:
        print("portlab scan: note: -n: portlab looks up only the host names you give it, "
              "never the addresses it scans", file=sys.stderr)


def run(args) -> int:
    from ..engine import scan
    from ..formats import render
    from ..progress import TerminalProgress

    timing = _TIMING_NAMES.get(str(args.timing).lower(), args.timing)
    if timing not in {str(n) for n in range(6)}:
        raise BadInput(f"-T {args.timing!r}: expected a timing template 0-5 (or paranoid .. insane)")
    scan_type = _scan_types(args)
    ports = _port_list(args, scan_type)
    targets = _targets(args)
    plan = output_plan(args)
    for option, path, _ in plan:     # every output path, before the first packet
        check_writable(option, path)
    scenario = _scenario(args.scenario) if args.scenario else None
    _notes(args)
    bar = TerminalProgress(quiet=args.quiet)
    t0 = time.perf_counter()
    try:
        result = scan(targets, ports, scan_type, timing=int(timing),
                      scenario=scenario, allow=args.allow_target, retries=args.max_retries,
                      rate=args.max_rate, min_timeout=args.min_timeout, max_timeout=args.max_timeout,
                      max_parallel=args.max_parallel, randomize=not args.no_randomize,
                      progress=bar if bar.enabled else None, netns=args.netns,
                      keep_trace=args.trace)
    except ScopeRefused as err:
        if scenario is None:
            hint = scenario_hint(targets)
            if hint:
                raise ScopeRefused(f"{hint}; {err}") from None
        raise
    finally:
        bar.clear()
    wall_s = time.perf_counter() - t0
    command = "portlab scan " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["scan"] else targets)

    def text(fmt: str) -> str:
        return render(result, fmt, wall_s, only_open=args.only_open, command=command)

    # Standard output first: a file that fails to write at the end never costs the table.
    stdout_format = next((fmt for _, path, fmt in plan if path == "-"),
                         "table" if args.output else args.format)
    if args.verbose and stdout_format == "table":
        for host, port in result.ports("open"):
            sys.stdout.write(f"Discovered open port {port.port}/{port.protocol} on {host.address}\n")
    sys.stdout.write(text(stdout_format))
    sys.stdout.flush()
    failed = None
    for option, path, fmt in plan:
        if path == "-":
            continue
        try:
            write_text_atomically(path, text(fmt), f"{option} {path}")
        except (BadInput, OSError) as err:   # the others are still written; the first failure is reported
            failed = failed or err
    if failed is not None:
        raise failed
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


