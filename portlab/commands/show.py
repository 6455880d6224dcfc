"""``portlab show FILE``: print a recorded scan (portlab JSON or nmap -oX XML) in any format.

The file's kind is told from its content, so a recording renamed ``.txt`` still
reads.  Every way a file can be wrong (missing, unreadable, not JSON/XML, not a
scan) ends as one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from ..formats import FORMATS, loads, read_text, render


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "show", help="print a recorded scan (portlab JSON or nmap -oX XML)",
        description="Print a recorded scan: portlab JSON or nmap -oX XML, told apart by content.")
    parser.add_argument("file", metavar="FILE", help="a portlab JSON result or an nmap -oX XML file")
    parser.add_argument("--format", choices=FORMATS, default="table",
                        help="output format (default: table, as nmap prints it)")
    parser.add_argument("--all", dest="show_all", action="store_true",
                        help="table: list every port instead of folding the common states")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # loads, not load: show prints what the file holds, without stamping it with
    # its own path (so `show a.json --format json` reproduces a.json's content).
    result = loads(read_text(args.file), where=args.file)
    if args.format == "table":
        text = result.table(show_all=args.show_all) + "\n"
    else:
        text = render(result, args.format)
    sys.stdout.write(text)
    return 0
