"""Notebook 08 (practice: 80 -> 443, SSH on 2222, "Address already in use"): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from .core import STATES, as_port, exercise, simulated_state, state_feedback

@exercise("08-predict-port-22",
          "In the ssh-2222 scenario, the server 10.77.0.10 moved SSH from 22 to 2222; nothing listens on 22 any "
          "more and there is no firewall. A bot knocks on port 22 with a SYN. Predict: what state does a SYN scan "
          "give 22/tcp?",
          kind="predict", choices=STATES, solution="closed",
          hints=("With no firewall, the host's own TCP stack answers every SYN.",
                 "What does a Linux host answer to a SYN for a port where no program listens?"),
          explanation="Nothing listens on 22 and nothing filters it, so the kernel answers the SYN with a RST: "
                      "closed (reset). The bot gives up at once, which is the whole effect of the move: fewer "
                      "password guesses in the SSH log, not a hidden server.",
          reveal=simulated_state("10.77.0.10", 22, "syn", "ssh-2222"))
def _predict_port_22(answer: object) -> Optional[str]:
    return state_feedback(answer, "closed", {
        "open": "SSH does not listen on 22 any more: it moved to 2222. Who answers a SYN to 22 now?",
        "filtered": "filtered needs something that drops or rejects the SYN, and this server has no firewall.",
    }, "that state belongs to other scans (UDP, ACK). For a SYN scan, what does a RST mean?")


@exercise("08-hsts-header",
          "Which HTTP response header tells a browser to use only HTTPS for this site from now on? (its name)",
          kind="text", solution="Strict-Transport-Security",
          hints=("HSTS is the short name; the header's full name spells it out.",
                 "H-S-T-S: HTTP Strict Transport Security. The header drops the 'HTTP'."),
          explanation="Strict-Transport-Security: max-age=SECONDS (optionally includeSubDomains; preload). "
                      "Sent over HTTPS, it puts the site on the browser's HSTS list; until max-age runs out the "
                      "browser rewrites every http:// URL for it to https:// before sending anything.")
def _hsts_header(answer: object) -> Optional[str]:
    given = str(answer).strip().lower().rstrip(":")
    if given.split(":")[0].strip() == "strict-transport-security":
        return None
    if given in ("hsts", "http strict transport security"):
        return "that is the mechanism's name. The header is called after it, with dashes and without 'HTTP'."
    if given in ("location", "upgrade-insecure-requests", "content-security-policy"):
        return (f"{given} is a real header, but it does not make the browser remember anything. Look at the "
                "headers of the HTTPS answer above.")
    return "give the header's name as it appears in a response, words joined by dashes."


REUSE_CHOICES = (
    "the bind works",
    "the bind fails with EADDRINUSE (Address already in use)",
)


@exercise("08-reuseaddr",
          "A server did NOT set SO_REUSEADDR. It closed a connection first (so that connection waits in "
          "TIME_WAIT) and then stopped. Its replacement DOES set SO_REUSEADDR and binds the same port at once. "
          "On Linux, what happens?",
          kind="choice", choices=REUSE_CHOICES, solution=REUSE_CHOICES[1],
          hints=("Linux looks at both sockets: the new one asking and the old one in TIME_WAIT.",
                 "The TIME_WAIT socket keeps the options its listening socket had."),
          explanation="On Linux a new bind() may share a port with a TIME_WAIT connection only if both the new "
                      "socket and the old one set SO_REUSEADDR. The old server did not, so its replacement must "
                      "wait until TIME_WAIT ends (60 s on Linux). That is why servers set SO_REUSEADDR from the "
                      "start (Python's http.server does).")
def _reuseaddr(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given == REUSE_CHOICES[1].lower() or "fail" in given or "eaddrinuse" in given or given == "2":
        return None
    if "work" in given or given == "1":
        return ("that is what happens when the old server set SO_REUSEADDR too. Linux asks both sockets: "
                "did the old one agree to share?")
    return "pick one of the two answers (copy its text)."


@exercise("08-full-range-ports",
          "nmap's -p- (portlab's -p - too) asks for 'all ports'. How many TCP ports does that scan probe on one host?",
          kind="number", solution=65535,
          hints=("Ports are 16-bit numbers, 0 to 65535. Which of them does -p- leave out unless you ask for it?",
                 "-p- means 1-65535: port 0 is scanned only when you name it, as in -p0-."),
          explanation="-p- stands for 1-65535: 65535 probes, against 100 for a top-100 scan, 655 times as many. "
                      "Port 0 is reserved, and a program cannot listen on it (asking to bind port 0 means 'any "
                      "free port'), so nmap scans it only when you ask (-p0- or -p0-65535: 65536 probes). On a host that answers quickly a full range takes "
                      "seconds, which is why moving a service to a high port hides it from nobody who looks.")
def _full_range(answer: object) -> Optional[str]:
    number = as_port(answer)
    if number == 65535:
        return None
    if number is None:
        return "the answer is a whole number of ports."
    if number == 65536:
        return ("that counts every port number, 0 included (notebook 01). -p- starts at 1: port 0 is scanned "
                "only when you name it (-p0-).")
    if number in (1000, 100, 1024):
        return "that is a 'common ports' scan. A full-range scan probes every port there is."
    return "how many numbers fit in 16 bits, and which one does -p- leave out?"


@exercise("08-hsts-max-age-param",
          "Set `hsts_max_age` to 0 in the browser cell and run it again. How many requests does the second "
          "visit now send in plain text? (a number)",
          kind="number", solution=1, parameter="hsts_max_age",
          hints=("Count the second visit's lines that show an http:// address with an answer from the "
                 "server; a 307 Internal Redirect happens inside the browser and sends nothing. The cell's "
                 "last line counts them for you.",
                 "Read the HSTS line of the first visit: with max-age=0, does the browser put localhost on "
                 "its list? Then the second visit starts just as the first one did."),
          explanation="1: max-age=0 tells the browser that the host is no longer HTTPS-only (RFC 6797, "
                      "section 6.1.1), so nothing is remembered and the second visit sends its first request "
                      "in plain text again and needs the 301, like the first. That is how a site switches "
                      "HSTS off. Sites that mean it send a long max-age (a year, 31536000 s, is common) on "
                      "every HTTPS answer, and each one renews the browser's memory of it.")
def _hsts_max_age_param(answer: object) -> Optional[str]:
    number = as_port(answer)
    if number is None:
        return "answer with a whole number of requests."
    if number == 1:
        return None
    if number == 0:
        return ("0 is what the second visit sends with max-age=300. Did you set `hsts_max_age` to 0 and "
                "run the cell again? Then look at the second visit's first line.")
    if number == 2:
        return "count the second visit only: the cell's last line gives each visit's count."
    return "a visit here makes one or two requests; how many of the second visit's went to an http:// address?"
