"""Notebook 09 (misconceptions): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from ... import registry
from .core import STATES, as_port, exercise, state_feedback

def _ssh_2222_state() -> str:
    from ...engine import scan
    result = scan("10.77.0.10", "-", "syn", scenario="ssh-2222", keep_trace=False)
    return next(p.state.value for p in result.hosts[0].ports if p.port == 2222)


@exercise("09-predict-2222",
          "The ssh-2222 server moved SSH from port 22 to 2222. Predict: what does a SYN scan of ALL 65535 "
          "ports from outside report for 2222/tcp?",
          kind="predict", choices=STATES, solution="open",
          hints=("Moving a service changes its door number, not whether the door answers a knock.",
                 "A full-range scan tries every port, 2222 included."),
          explanation="The service still listens and there is no firewall: the SYN/ACK comes back, so 2222 is "
                      "open (syn-ack). Only a scan of the usual ports (top 100, say) would miss it.",
          reveal=_ssh_2222_state)
def _predict_2222(answer: object) -> Optional[str]:
    return state_feedback(answer, "open", {
        "closed": "is there a firewall in front of it? The scenario has none, and something listens on 2222. "
            "Which state does a listening port answer with?",
        "filtered": "is there a firewall in front of it? The scenario has none, and something listens on 2222. "
            "Which state does a listening port answer with?",
    }, "this is a TCP SYN scan: it says open, closed or filtered.")


def _imap_port() -> int:
    return next(s.port for s in registry.by_name("imap", "tcp") if s.port is not None)


@exercise("09-banner-port",
          "An unknown service on port 50505 greets every client with `* OK [CAPABILITY IMAP4rev1] ready`. "
          "The banner names the protocol. On which TCP port does IANA register that protocol (without TLS)?",
          kind="number", solution=143,
          hints=("The banner says IMAP4rev1: the protocol is IMAP. Look up the name 'imap' in the registry.",),
          explanation="The greeting `* OK ... IMAP4rev1` is IMAP's (RFC 9051); IANA registers imap on 143/tcp "
                      "(imaps, with TLS, on 993). The port number 50505 said nothing; the first bytes said it all.")
def _banner_port(answer: object) -> Optional[str]:
    port = as_port(answer)
    if port is None:
        return "answer with a port number, such as 25."
    if port == _imap_port():
        return None
    if port == 50505:
        return "that is where it runs here; which port is IMAP's registered one?"
    if port == 993:
        return "993 is imaps, IMAP over TLS; the question asks for plain IMAP."
    return "the banner says IMAP4rev1: run registry.by_name('imap', 'tcp') or use the lookup box."


@exercise("09-scan-tells",
          "The fixed console (version 1.1) refuses admin/admin and locks after three wrong logins. "
          "Predict: what does a connect scan report for its port?",
          kind="predict", choices=STATES, solution="open",
          hints=("A scan only knocks: it opens the connection and leaves before any login is tried.",),
          explanation="open (syn-ack), the same as the weak version 1.0: a port scan sees that a service "
                      "answers, never whether it is patched or configured well. Updates and configuration "
                      "change what happens after the connection, where the scan does not look.",
          reveal=lambda: _fixed_console_state())
def _scan_tells(answer: object) -> Optional[str]:
    return state_feedback(answer, "open", {
    }, "the fixed console still listens and accepts connections; only the login behaves differently. "
            "Does a port scan ever try to log in?")


def _fixed_console_state() -> str:
    from ..lessons import nb09
    with nb09.ToyAdminConsole(fixed=True) as console:
        return nb09.scan_view(console.port)[0]


@exercise("09-which-service",
            "The site loads (80 and 443 are fine) but its application logs "
            "`connect ETIMEDOUT 192.168.77.20:5432`. Which service can the application not reach? "
            "(its name, e.g. 'redis')",
          kind="text", solution="postgresql",
          hints=("The number after the colon is the port. Look it up.",
            "5432 is one of the database ports of the developer's day above."),
          explanation="5432/tcp is PostgreSQL. ETIMEDOUT (no answer at all) points at a firewall that drops "
            "the packets, not at a stopped service, which would refuse at once (ECONNREFUSED).")
def _which_service(answer: object) -> Optional[str]:
    given = str(answer).strip().lower().replace(" ", "")
    if given in ("postgresql", "postgres", "pgsql", "5432"):
        return None
    if given in ("mysql", "mariadb"):
        return "MySQL listens on 3306. Which database has 5432?"
    if given in ("http", "https", "web"):
        return "the web ports work; the log names another port after the address."
    return "look up the port after the colon (5432) in the registry or the common ports table."


FAULT_CHOICES = ("ETIMEDOUT", "ECONNREFUSED", "EHOSTUNREACH", "no error: it connects")


@exercise("09-fault-param",
          "Set `fault` to \"stopped\" (no firewall, but PostgreSQL is not running on db) and run the cell "
          "again. Which error does the application log now?",
          kind="choice", choices=FAULT_CHOICES, solution="ECONNREFUSED", parameter="fault",
          hints=("Read the line 'the application logs:' of the cell's output after you changed `fault`.",
                 "Follow the walk to db: with nothing listening on 5432, what does db's kernel send back "
                 "to a SYN, and what does connect() make of it?"),
          explanation="ECONNREFUSED, at once: the SYN reaches db, nothing listens on 5432, so db's kernel "
                      "answers with a reset and connect() fails immediately. The firewall's drop gave "
                      "ETIMEDOUT instead, after about two minutes of unanswered retries. So the error tells "
                      "the two faults apart: a timeout says nobody answered (look for a firewall that "
                      "drops), a refusal says the machine answered and nothing listens there (look at the "
                      "service; a firewall that rejects with a reset or an ICMP port unreachable, rather than "
                      "dropping, gives a refusal too).")
def _fault_param(answer: object) -> Optional[str]:
    given = str(answer).strip().upper()
    if given == "ECONNREFUSED":
        return None
    if given == "ETIMEDOUT":
        return ("that is the firewall's error, with `fault` as it starts. Did you set `fault` to \"stopped\" "
                "and run the cell again?")
    if given == "EHOSTUNREACH":
        return "db is reachable: the walk gets to it. Which answer comes back from db itself?"
    if "CONNECT" in given or "NO ERROR" in given:
        return "that is `fault = \"none\"`. With PostgreSQL stopped, something still answers: what?"
    return "answer with one of: " + " | ".join(f'"{c}"' for c in FAULT_CHOICES)
