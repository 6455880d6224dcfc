"""The classroom's lab helper: live labs for students where user namespaces are forbidden.

A student's live lab is normally rootless (:mod:`.userns`): nothing privileged is
involved.  Some servers forbid unprivileged user namespaces.  There, a teacher may
let students run this helper as root through one sudo rule, and it does exactly
three things for the student who called it, and nothing else:

    sudo portlab-lab-helper up NAME        # NAME: a scenario shipped with portlab, never a file
    sudo portlab-lab-helper scan TARGET -p PORTS [-s connect|syn|udp] [-T 0-5] [--format F]
    sudo portlab-lab-helper down
    sudo portlab-lab-helper status

(``portlab-lab-helper`` is ``python -m portlab.lab.helper``.)  Why this is narrow:

* the student is whoever sudo says (``SUDO_UID``); their lab's prefix is made from
  that number (``u1001``), so a student can reach no one else's lab and cannot pick
  a prefix;
* ``up`` takes only the name of a shipped scenario: no path, so no file a student
  wrote is ever read by root;
* ``scan`` runs inside the student's own lab's scanner namespace (which has no
  route out of the lab), its targets must be in that lab's networks, and its
  result goes to standard output only: there is no ``-o``, no ``--allow-target``,
  no ``--netns``;
* every other option is refused by the parser; nothing else is reachable.

The hub tears a student's helper lab down when their server stops
(:func:`teardown_student_lab`, called by ``portlab.classroom.ClassroomSpawner``).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Optional, Sequence

from ..errors import BadInput, MissingPrivilege

SCAN_FORMATS = ("table", "json", "xml", "csv")


def student_prefix(uid: int) -> str:
    """The lab prefix of the student with this uid: ``u`` and the number."""
    if not 0 < uid < 10**9:
        raise BadInput(f"uid {uid}: expected an ordinary user's id")
    return f"u{uid}"


def calling_student() -> int:
    """The uid sudo ran us for.  Root itself has `portlab lab`; anyone else needs sudo."""
    from ..privilege import CAP_NET_ADMIN, CAP_SYS_ADMIN, has_capability
    # Capabilities, not the uid, decide (a root without them builds no namespace).
    if not (has_capability(CAP_NET_ADMIN) and has_capability(CAP_SYS_ADMIN)):
        raise MissingPrivilege("portlab-lab-helper runs as root through sudo "
                               "(sudo portlab-lab-helper ...); ask your teacher whether the class has it")
    text = os.environ.get("SUDO_UID", "")
    if not text.isdigit() or int(text) == 0:
        raise BadInput("portlab-lab-helper is for students, through sudo (SUDO_UID names the student); "
                       "as root, use portlab lab directly")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    from ..cli import OneLineParser

    parser = OneLineParser(prog="portlab-lab-helper", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", parser_class=OneLineParser)
    sub.required = True
    up = sub.add_parser("up", help="bring up your lab from a shipped scenario")
    up.add_argument("name", metavar="NAME", help="a shipped scenario's name (portlab lab up lists them)")
    scan = sub.add_parser("scan", help="scan your lab from its scanner")
    scan.add_argument("targets", nargs="+", metavar="TARGET")
    scan.add_argument("-p", "--ports", default="top1000")
    scan.add_argument("-s", "--scan-type", choices=("connect", "syn", "udp"), default="connect")
    scan.add_argument("-T", "--timing", choices=[str(n) for n in range(6)], default="3")
    scan.add_argument("--format", choices=SCAN_FORMATS, default="table")
    sub.add_parser("down", help="take your lab down")
    sub.add_parser("status", help="show your lab")
    return parser


def _shipped(name: str):
    from .. import scenario
    shipped = scenario.shipped()
    if name not in shipped:
        raise BadInput(f"scenario {name!r}: the helper builds shipped scenarios only, by name "
                       f"(one of: {', '.join(sorted(shipped))}); a scenario file of your own needs a rootless lab")
    return scenario.load(shipped[name])


def _record(prefix: str) -> Optional[dict]:
    from .run import read_state
    state = read_state(prefix)
    return state if state and state.get("status") == "up" else None


def up(uid: int, name: str) -> str:
    from .run import Lab
    prefix = student_prefix(uid)
    if _record(prefix):
        raise BadInput(f"you have a lab up already ({prefix}); take it down first: portlab-lab-helper down")
    scenario = _shipped(name)
    lab = Lab(scenario, prefix, persistent=True).up()
    target = scenario.hosts[0].address if scenario.hosts else "…"
    return (f"lab {prefix} up: scenario {scenario.name}, {len(lab.plan.namespaces)} namespaces in {lab.up_s:.2f}s\n"
            f"  scan it:  sudo portlab-lab-helper scan {target} -p 1-1024\n"
            f"  remove:   sudo portlab-lab-helper down\n")


def scan(uid: int, targets: Sequence[str], ports: str, scan_type: str, timing: str, fmt: str) -> str:
    from ..engine import scan as engine_scan
    from ..formats import render
    prefix = student_prefix(uid)
    state = _record(prefix)
    if state is None:
        raise BadInput("you have no lab up: sudo portlab-lab-helper up NAME first")
    networks = [ipaddress.ip_network(n) for n in state.get("networks", [])]
    for target in targets:
        try:
            inside = ipaddress.ip_network(target, strict=False)
        except ValueError:
            raise BadInput(f"target {target!r}: the helper takes addresses or CIDRs of your lab "
                           f"({', '.join(map(str, networks))}), not names") from None
        if not any(inside.version == net.version and inside.subnet_of(net) for net in networks):
            raise BadInput(f"target {target}: not in your lab's networks ({', '.join(map(str, networks))})")
    result = engine_scan(list(targets), ports, scan_type, timing=int(timing), netns=state["scanner_netns"])
    return render(result, fmt)


def down(uid: int) -> str:
    from .run import read_state, teardown
    prefix = student_prefix(uid)
    if read_state(prefix) is None:
        return "you have no lab up: nothing to take down\n"
    deleted = teardown(prefix)
    return f"lab {prefix} down: {len(deleted)} namespaces removed\n"


def status(uid: int) -> str:
    state = _record(student_prefix(uid))
    if state is None:
        return "you have no lab up\n"
    return (f"{state['prefix']}  {state.get('scenario')}  up  networks {', '.join(state.get('networks', []))}\n")


def teardown_student_lab(uid: int) -> list[str]:
    """Take down whatever lab the helper built for this student (the hub calls it when
    their server stops).  Nothing to do is no error."""
    from .run import read_state, teardown
    prefix = student_prefix(uid)
    if read_state(prefix) is None:
        return []
    return teardown(prefix)


def _act(args) -> int:
    uid = calling_student()
    if args.action == "up":
        out = up(uid, args.name)
    elif args.action == "scan":
        out = scan(uid, args.targets, args.ports, args.scan_type, args.timing, args.format)
    elif args.action == "down":
        out = down(uid)
    else:
        out = status(uid)
    sys.stdout.write(out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from ..cli import at_the_edge
    args = _parser().parse_args(argv)
    return at_the_edge(f"portlab-lab-helper {args.action}", lambda: _act(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
