"""Notebook 05 (a host's firewall): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from ...errors import BadInput
from ...scenario import REJECT_TYPES
from .core import STATES, exercise, state_feedback

def _single_host_state(port: int, scan_type: str) -> str:
    from ..lessons import nb05
    return nb05.states(nb05.scan_from("single-host", "10.77.0.1", "10.77.0.2", [port], scan_type))[port][0]


@exercise("05-predict-reject",
          "single-host's port 9001/tcp has a plain `reject` rule (nftables sends ICMP port-unreachable). "
          "Predict: what does a CONNECT scan report for it?",
          kind="predict", choices=STATES, solution="closed",
          hints=("A connect scan never sees the ICMP packet itself, only the errno connect() returns.",
                 "Linux turns ICMP port-unreachable into ECONNREFUSED, the same errno a port with nothing "
                 "listening gives."),
          explanation="connect() fails with ECONNREFUSED ('Connection refused'), exactly as for a port where "
                      "nothing listens, so a connect scan calls it closed (conn-refused). A SYN scan reads the "
                      "ICMP packet and says filtered (port-unreach).",
          reveal=lambda: _single_host_state(9001, "connect"))
def _predict_reject(answer: object) -> Optional[str]:
    return state_feedback(answer, "closed", {
        "filtered": "a SYN scan would say filtered, because it reads the ICMP packet. A connect scan only "
            "gets the errno from connect(): which one does ICMP port-unreachable become?",
        "open": "the firewall rejects the connection before it reaches the service, so it cannot be open.",
    }, "that state is for UDP scans or for ACK scans; this is a TCP connect scan.")


@exercise("05-reset-looks-closed",
          "Which `reject with ...` type makes a SYN scan report a port as closed, so that it looks exactly "
          "like a port where nothing listens?",
          kind="choice", choices=REJECT_TYPES, solution="tcp-reset",
          hints=("A closed TCP port answers a SYN with a RST packet.",),
          explanation="`reject with tcp reset` answers the SYN with a RST, the very packet a host sends when "
                      "nothing listens, so a SYN scan says closed (reset). Every ICMP reject type says filtered.")
def _reset_looks_closed(answer: object) -> Optional[str]:
    given = str(answer).strip().lower().replace(" ", "-").removeprefix("reject-with-")
    if given in ("tcp-reset", "tcp-rst", "reset", "rst"):
        return None
    if given == "port-unreachable":
        return ("a connect scan says closed for that one, but a SYN scan reads the ICMP packet and says "
                "filtered (port-unreach). Look at the syn column of the table.")
    if given in REJECT_TYPES:
        return "every ICMP reject type looks filtered to a SYN scan. Which reject sends no ICMP at all?"
    return f"answer with one of the reject types: {', '.join(REJECT_TYPES)}."


def _outbound_443() -> str:
    from ..lessons import nb05
    table = nb05.outbound_table(nb05.with_internet("web-server"), "web", [("203.0.113.66", 443)])
    return str(table.loc[0, "outcome"])


@exercise("05-cc-on-443",
          "The web server's output chain drops TCP 4444 and 6667 to the C&C server 203.0.113.66, and its "
          "output policy is accept. The malware is updated and now calls 203.0.113.66 on port 443. "
          "What happens to its connection?",
          kind="choice", choices=("allowed", "dropped", "rejected"), solution="allowed",
          hints=("Walk the output chain: does any rule match port 443? What does the policy say?",),
          explanation="No rule matches 443, so the output policy (accept) decides: the call gets through. "
                      "Blocking by port is easy to dodge; block the destination on every port, or better, "
                      "make the output policy drop and allow only what the server needs (least privilege).")
def _cc_on_443(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given in ("allowed", "allow", "accepted", "accept", "gets through", "connected"):
        return None
    if given in ("dropped", "drop", "rejected", "reject", "blocked"):
        return ("the drop rule names ports 4444 and 6667 only. Which rule, or which policy, decides a packet "
                "to port 443? (Try nb05.outbound_table with port 443.)")
    return "answer allowed, dropped or rejected."


@exercise("05-web-policy",
          "Write web's inbound firewall for this policy: HTTP 80 and HTTPS 443 for everyone; SSH 22 only "
          "from the admin 10.77.0.5; MySQL 3306 only from the app server 10.77.0.20; everything else "
          "dropped silently, from everyone. A rescan from three places checks it.",
          kind="text",
          hints=("Start from default deny: policy drop, then one accept rule per thing the policy allows.",
                 "An accept rule for SSH needs a source, or everyone gets SSH.",
                 "Rules are read top to bottom and the first match wins."),
          solution={"policy": "drop", "rules": [
              {"action": "accept", "protocol": "tcp", "ports": "80,443", "name": "web for everyone"},
              {"action": "accept", "protocol": "tcp", "ports": "22", "source": "10.77.0.5", "name": "ssh: admin"},
              {"action": "accept", "protocol": "tcp", "ports": "3306", "source": "10.77.0.20", "name": "mysql: app"},
          ]},
          explanation="Default deny (policy drop) makes every port nobody mentions filtered, and three accept "
                      "rules open exactly what the policy names, each SSH and MySQL rule narrowed to its one "
                      "source address: least privilege.")
def _web_policy(answer: object) -> Optional[str]:
    from ..lessons import nb05
    try:
        failures = nb05.policy_failures(answer)
    except BadInput as err:
        return f"the rescan could not read your firewall: {err}"
    if not failures:
        return None
    more = f" (and {len(failures) - 2} more)" if len(failures) > 2 else ""
    return " ".join(failures[:2]) + more


@exercise("05-place-param",
          "Set `place` to \"top\" and run the cell again. What does the SYN scan from the admin's address "
          "(10.77.0.5) now report for port 22?",
          kind="choice", choices=STATES, solution="filtered", parameter="place",
          hints=("Change the cell's first line to `place = \"top\"`, run the cell, and read the admin's row: its "
                 "state and the rule that decided it.",
                 "The chain is read from the top and the first rule that matches decides. The new drop names "
                 "no source, so it matches the admin too: which rule does the admin's SYN meet first now?"),
          explanation="filtered: at the top, the drop is the first rule the admin's SYN matches (it names no "
                      "source, so it matches everyone), and the first match decides: the accept for 10.77.0.5 "
                      "below it is never read. The administrator has locked themselves out of SSH. At the "
                      "bottom, the admin's accept comes first and the drop catches everyone else, which is what "
                      "was meant. Before you add a rule, read the chain from the top for each address that "
                      "must still get in.")
def _place(answer: object) -> Optional[str]:
    return state_feedback(answer, "filtered", {
        "open": "that is what the admin sees with the drop at the bottom, where the cell starts. Set "
                "`place = \"top\"`, run the cell again and read the admin's row.",
        "closed": "closed needs an answer from the host, a reset; a drop rule sends nothing back. What does a "
                  "SYN scan call silence?",
        "open|filtered": "that is what a UDP scan calls silence; this is a SYN scan (TCP).",
    }, "a SYN scan never reports {state}; read the admin's row of the cell's "
       "output after you set `place` to \"top\".")
