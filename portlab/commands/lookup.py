"""``portlab lookup``: what IANA's registry says about a port, a range or a name."""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Optional

from .. import registry
from ..ranges import port_range
from ..registry import Service

EXIT_NO_MATCH = 1  # like grep: the query was fine, nothing matched

EPILOG = f"""\
QUERY is a port (443), a range (80-90, or 49000- for 49000-65535 as scan -p reads it)
or a service name (postgresql, any case).

JSON output is a list of objects with exactly these keys:
  port         an int for a single port, a string "lo-hi" for a range row,
               null for a name registered without a port
  protocol     "tcp", "udp", "sctp", "dccp", or null (the row covers them all)
  service      the IANA service name, or null (unassigned / reserved rows)
  description  IANA's description, line breaks kept
  range        "system", "user" or "dynamic" (RFC 6335) of the first port, or null

exit status: 0 entries found; {EXIT_NO_MATCH} a valid query with no entries;
2 bad input (a port outside 0-65535, text that is no port, range or name)."""

DESCRIPTION_WIDTH = 60


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "lookup", help="services on a port, or ports of a service (IANA registry)",
        description="Look a port, a port range or a service name up in IANA's registry.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("query", metavar="QUERY", help="a port, a range lo-hi, or a service name")
    parser.add_argument("--protocol", "-P", choices=registry.PROTOCOLS, type=str.lower,
                        help="only rows for this transport protocol (rows without one always match)")
    parser.add_argument("--format", "-f", choices=("table", "json"), default="table", help="output format")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    hits = registry.search(args.query, args.protocol)  # BadInput -> exit 2, printed by cli.py
    if not hits:
        print(f"portlab lookup: {no_match_message(args.query.strip(), args.protocol)}", file=sys.stderr)
        return EXIT_NO_MATCH
    if args.format == "json":
        json.dump([as_json(svc) for svc in hits], sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_table(hits))
    return 0


def no_match_message(query: str, protocol: Optional[str]) -> str:
    where = f"/{protocol}" if protocol else ""
    if query.isdigit() and port_range(int(query)).key == "dynamic":
        return (f"no entries for port {query}{where}: it is in the dynamic range 49152-65535, "
                "where IANA assigns nothing")
    span = re.fullmatch(r"([0-9]+)\s*-\s*([0-9]*)", query)
    if span and port_range(int(span[1])).key == "dynamic":
        hi = span[2] or "65535"
        return (f"no entries for ports {span[1]}-{hi}{where}: they are in the dynamic range 49152-65535, "
                "where IANA assigns nothing")
    return f"no entries for {query!r}{where} in the IANA registry"


def json_port(svc: Service) -> int | str | None:
    if svc.port_start is None:
        return None
    return svc.port_text if svc.is_range else svc.port_start


def range_key(svc: Service) -> Optional[str]:
    return port_range(svc.port_start).key if svc.port_start is not None else None


def as_json(svc: Service) -> dict[str, object]:
    return {
        "port": json_port(svc),
        "protocol": svc.protocol,
        "service": svc.name,
        "description": svc.description,
        "range": range_key(svc),
    }


def _short(text: Optional[str]) -> str:
    # A table row is one line: first line of the description, cut to a width.
    line = (text or "").splitlines()[0] if text else ""
    return line if len(line) <= DESCRIPTION_WIDTH else line[: DESCRIPTION_WIDTH - 1] + "…"


#: What a registry row without a port number is, in one line (CLI and notebook widget).
NAME_ONLY_NOTE = ("'name only' rows register a service name without a port: a program finds that "
                  "service's port another way (DNS service discovery, RFC 6763), so no port is reserved.")


def port_cell(svc: Service) -> str:
    """The PORT column: the port, the range, or ``name only`` for a port-less row."""
    return svc.port_text or "name only"


def format_table(hits: list[Service]) -> str:
    rows = [("PORT", "PROTO", "SERVICE", "RANGE", "DESCRIPTION")]
    rows += [(port_cell(svc), svc.protocol or "any", svc.name or f"({svc.status})",
              range_key(svc) or "-", _short(svc.description)) for svc in hits]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4] for row in rows]
    if any(svc.port_start is None for svc in hits):
        lines += ["", f"note: {NAME_ONLY_NOTE}"]
    return "\n".join(line.rstrip() for line in lines) + "\n"
