"""Notebook 02 (port scanning and its ethics): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from .core import STATES, as_port, exercise, simulated_state, state_feedback


WHO_CHOICES = (
    "a shop's website you buy from every week",
    "your own laptop, on 127.0.0.1",
    "your employer's servers, because you work there",
    "a bug-bounty company's host that is not listed in its scope",
)


@exercise("02-who-may-scan", "Which of these may you scan without asking anyone first?",
          kind="choice", choices=WHO_CHOICES, solution=WHO_CHOICES[1],
          hints=("Ask of each one: who owns it, and did the owner say yes, in writing?",),
          explanation="Only your own machine is yours to scan. Using a service is not permission to probe it; "
                      "working somewhere is not permission either (get it in writing, with the scope named); "
                      "and a bug-bounty program allows only the hosts its scope lists.")
def _who_may_scan(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given in (WHO_CHOICES[1], "2", "loopback", "127.0.0.1", "your own laptop", "my laptop", "own laptop"):
        return None
    if "shop" in given:
        return "buying from a shop lets you use its website, not probe its servers. Nobody gave you permission."
    if "employer" in given:
        return ("being an employee is not the same as being authorized to test. Who said yes, in writing, "
                "and for which hosts?")
    if "bug" in given or "bounty" in given:
        return "a bug-bounty program authorizes exactly the hosts in its scope; this one is outside it."
    return "pick one of the four answers (copy its text)."


@exercise("02-refused-packets", "The scope guard refused the scan of 192.0.2.10. How many packets did portlab "
          "send to 192.0.2.10 before it refused?",
          kind="number", solution=0,
          hints=("The guard looks only at the address you typed; it runs before any socket is opened.",),
          explanation="None: the scope guard checks every target before a transport is even built, so a "
                      "refused scan never opens a socket and sends nothing.")
def _refused_packets(answer: object) -> Optional[str]:
    number = as_port(answer)
    if number == 0:
        return None
    if number is None:
        return "the answer is a whole number of packets, such as 0, 1 or 2."
    return ("the refusal would be of little use if a packet had already gone. When does the guard run: "
            "before or after the scanner opens a socket?")


@exercise("02-predict-drop",
          "In the single-host scenario, a firewall rule on 10.77.0.2 drops every packet to 9000/tcp without "
          "answering. Predict: what state does a connect scan give 9000/tcp?",
          kind="predict", choices=STATES, solution="filtered",
          hints=("Dropped means no SYN/ACK and no RST: the scanner hears nothing at all, however often it asks.",
                 "Look in the state table for the row whose reply is 'none'."),
          explanation="Nothing comes back, even after a retry, so the scanner cannot tell whether a service is "
                      "there: nmap calls that filtered (no-response), because something (a firewall) is in the way.",
          reveal=simulated_state("10.77.0.2", 9000))
def _predict_drop(answer: object) -> Optional[str]:
    return state_feedback(answer, "filtered", {
        "closed": "closed needs an answer from the host (a RST, or 'connection refused'). Does a dropped packet "
            "get any answer?",
        "open": "open needs a SYN/ACK from the port. A dropped SYN never reaches the service.",
        "open|filtered": "close: that is what a UDP scan says for silence. For a TCP scan, silence has a single name.",
    }, "that state comes from scan types this notebook does not use; a connect scan gives open, closed or filtered.")


@exercise("02-after-close",
          "The notebook closed its listener. If you scanned that same loopback port now, what would portlab "
          "report?",
          kind="choice", choices=STATES, solution="closed",
          hints=("Nothing listens any more, but the host itself is up and answers.",),
          explanation="The kernel is still there and answers a connection to a port where nothing listens with "
                      "a RST ('connection refused'): closed (conn-refused). No firewall rule here drops it.")
def _after_close(answer: object) -> Optional[str]:
    return state_feedback(answer, "closed", {
        "open": "open needs a program listening on the port. We closed it.",
        "filtered": "filtered means no answer at all, usually a firewall's doing. Does the kernel answer when "
            "nothing listens?",
    }, "a connect scan of loopback gives open, closed or filtered. Which one fits 'nothing listens'?")


def _whole_number(answer: object) -> Optional[int]:
    """A whole number from an int, an integral float or a string ("3", " 3.0 "); None otherwise."""
    if isinstance(answer, bool):
        return None
    try:
        value = float(str(answer).strip())
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


@exercise("02-scope-param",
          "The company's written permission names the block 203.0.113.8/29. Set `scope` to \"203.0.113.8/29\" "
          "and run the cell again. How many of the company's six hosts may you scan?",
          kind="number", solution=3, parameter="scope",
          hints=("Count the rows that say 'would scan it' after you changed `scope`.",
                 "The cell's first line says which addresses the block holds: which of the hosts' addresses "
                 "are among them?"),
          explanation="3: www, shop and mail. A /29 fixes the first 29 of the 32 bits of an address and leaves 3 "
                      "free, so it holds 2 x 2 x 2 = 8 addresses, 203.0.113.8 to 203.0.113.15. vpn "
                      "(203.0.113.17) is just past its end, backup and the office router further away. They "
                      "belong to the same company, but the permission does not name them, so you may not scan "
                      "them; the guard, given exactly what the letter says, refuses them before sending "
                      "anything. If you need them, ask for a permission that names them.")
def _scope_param(answer: object) -> Optional[str]:
    count = _whole_number(answer)
    if count == 8:
        return "8 is how many addresses the block holds. How many of the company's hosts have one of them?"
    if count is None or not 0 <= count <= 6:
        return "the answer is a number of hosts, from 0 to 6."
    if count == 3:
        return None
    if count == 1:
        return ("that is the one host of the permission the cell starts with. Did you set `scope` to "
                "\"203.0.113.8/29\" and run the cell again?")
    if count == 6:
        return ("the permission names a block of addresses, not the whole company: look at the last column "
                "of the table.")
    if count == 4:
        return "look at vpn's address, 203.0.113.17: is it inside the block? The cell's first line says where it ends."
    if count == 5:
        return "that is what the whole 203.0.113.0/24 would allow. The letter names a smaller block: /29."
    return "count the rows that say 'would scan it'."
