"""Notebook 03 (scan types): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from .core import STATES, exercise, simulated_state, state_feedback

@exercise("03-predict-udp-drop",
          "single-host's firewall drops every datagram to 9000/udp, and a UDP service listens behind it. "
          "Predict: what does a UDP scan report for 9000/udp?",
          kind="predict", choices=STATES, solution="open|filtered",
          hints=("The scanner hears nothing back. For UDP, what else could silence mean besides a firewall?",
                 "A UDP service that got a datagram it did not understand often stays silent too."),
          explanation="No reply after the retries. A firewall may have dropped the datagram, or an open service "
                      "may simply have ignored it: UDP cannot tell these apart, so nmap says open|filtered "
                      "(no-response), not open.",
          reveal=simulated_state("10.77.0.2", 9000, "udp"))
def _predict_udp_drop(answer: object) -> Optional[str]:
    return state_feedback(answer, "open|filtered", {
        "filtered": "that is what a TCP scan says about silence. For UDP, silence is also what many OPEN services "
            "give. Which state says 'one of the two'?",
        "open": "a UDP scan calls a port open only when a datagram comes back. Here nothing came back. "
            "This is the mistake the notebook warns about.",
        "closed": "closed needs an ICMP port-unreachable from the host. Dropped datagrams get no answer.",
    }, "that state belongs to other scan types (an ACK scan, an idle scan). Try again.")


SYN_REPLIES = ("ACK", "RST", "FIN", "nothing")


@exercise("03-syn-reply",
          "In a SYN scan, the target answers the scanner's SYN with a SYN/ACK: the port is open. "
          "What does the scanner send next?",
          kind="choice", choices=SYN_REPLIES, solution="RST",
          hints=("The scanner's kernel never opened a connection: it gets a SYN/ACK it did not ask for.",),
          explanation="A RST. The SYN went out as a hand-built raw packet, so the scanner's own kernel knows of no "
                      "connection and resets it. The final ACK of the handshake never comes: the RST "
                      "removes the target's half-open entry, and the service never hears of it.")
def _syn_reply(answer: object) -> Optional[str]:
    given = str(answer).strip().upper().replace("RESET", "RST")
    if given in ("RST", "RST/ACK"):
        return None
    if given == "ACK":
        return ("an ACK would complete the handshake: that is what a connect scan does. A SYN scan stops "
                "half-way. The note under the SYN scan's sequence diagram says what happens.")
    if given == "FIN":
        return "a FIN closes a connection that exists. Does the scanner's kernel know of a connection here?"
    if given in ("NOTHING", "NONE"):
        return ("the scanner's kernel does answer: a packet capture on the target shows a third packet from the "
                "scanner. Which packet does a kernel send to refuse a connection it knows nothing about?")
    return f"answer with one of: {', '.join(SYN_REPLIES)}."


WHO_LOGS = ("connect", "syn", "both", "neither")


@exercise("03-who-logs",
          "A service writes a line to its log each time it accepts a connection. Which scan types leave lines "
          "in that log when they probe the service's port?",
          kind="choice", choices=WHO_LOGS, solution="connect",
          hints=("A service hears of a connection only when the handshake is complete (accept() returns).",),
          explanation="Only the connect scan: it completes the handshake, so the kernel hands the connection to "
                      "the service, which logs it. The SYN scan never sends the final ACK, so the service never "
                      "knows. A packet capture or a firewall log on the target sees both.")
def _who_logs(answer: object) -> Optional[str]:
    given = str(answer).strip().lower().removesuffix(" scan").removeprefix("tcp ")
    if given in ("connect", "connect only", "only connect"):
        return None
    if given in ("both", "syn"):
        return ("does a SYN scan finish the handshake? A service hears of a connection only once it is complete. "
                "(The recorded experiment in the notebook shows the service's log.)")
    if given == "neither":
        return "one of them completes the handshake, and then the service accepts a real connection."
    return f"answer with one of: {', '.join(WHO_LOGS)}."


@exercise("03-icmp3-to-syn",
          "A SYN probe is answered by ICMP type 3 code 3 (port unreachable). What state does nmap give the port?",
          kind="choice", choices=STATES, solution="filtered",
          hints=("A TCP port with nothing behind it answers with a RST, not with ICMP.",
                 "Find the row syn / icmp-unreach / 3 in the state table."),
          explanation="filtered (port-unreach). A closed TCP port answers a SYN with a RST; an ICMP error means "
                      "something else (a firewall's reject rule) answered. The very same ICMP packet means closed "
                      "to a UDP scan, where it is the normal answer of a port with nothing behind it.")
def _icmp3_to_syn(answer: object) -> Optional[str]:
    return state_feedback(answer, "filtered", {
        "closed": "that is right for a UDP scan, where port unreachable is the normal answer of a closed port. "
            "What does a closed TCP port answer a SYN with?",
    }, "something answered, but not the port itself. Look for the row syn / icmp-unreach / 3 in the state table.")


@exercise("03-closed-ports-param",
          "Set `closed_ports` to 100 and run the cell again. How many seconds (in simulated time) does the UDP "
          "scan of those 100 closed ports take? (a whole number)",
          kind="number", solution=95, parameter="closed_ports",
          hints=("Read the number of seconds on the line that starts with udp, after you changed "
                 "`closed_ports`.",
                 "The target lets out its first few ICMP errors at once, then one a second, and the "
                 "scanner slows down to match: about one second for every further port."),
          explanation="95 seconds. A closed UDP port can say so only with an ICMP port unreachable, and Linux "
                      "lets such errors out to one peer in a burst of six, then one a second "
                      "(net.ipv4.icmp_ratelimit, 1000 ms). Rather than call the unanswered ports "
                      "open|filtered, a careful scanner slows down until the errors come: after the first "
                      "few, about one port a second. The connect and SYN scans of the same ports took next "
                      "to no time, because a closed TCP port answers with a RST, which Linux does not "
                      "rate-limit. At that pace all 65,535 UDP ports of one host take more than 18 hours, "
                      "as nmap's manual warns.")
def _closed_ports_param(answer: object) -> Optional[str]:
    if isinstance(answer, bool):
        return "the answer is a number of seconds, such as 12."
    try:
        seconds = float(str(answer).strip().removesuffix("s").strip())
    except ValueError:
        return "the answer is a number of seconds, such as 12."
    if abs(seconds - 95) < 0.5:
        return None
    if abs(seconds - 5) < 0.5:
        return ("that is the UDP scan of 10 ports, the value the cell starts with. Did you set `closed_ports` "
                "to 100 and run the cell again?")
    if abs(seconds) < 0.5:
        return ("that is how long the connect and SYN scans take: Linux does not rate-limit its RSTs. Read "
                "the udp line.")
    if abs(seconds - 50) < 0.5:
        return ("ten times the ports is not ten times the time here: the first few errors come free, every "
                "further one costs a second. Read the udp line.")
    if abs(seconds - 100) < 0.5 or abs(seconds - 94) < 0.5:
        return "close, but read the exact number on the udp line."
    return "read the number of seconds on the udp line of the cell's output."
