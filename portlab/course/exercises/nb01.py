"""Notebook 01 (ports and ranges): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from ... import registry
from ...ranges import PortRange, port_range
from .core import as_port, exercise


@exercise("01-range-of-5432", "In which RFC 6335 range is port 5432 (PostgreSQL)?", kind="choice",
          choices=("system", "user", "dynamic"), solution="user",
          explanation="5432 lies between 1024 and 49151: the User Ports (older name: Registered Ports).")
def _range_of_5432(answer: object) -> Optional[str]:
    right = port_range(5432)
    if isinstance(answer, PortRange):
        given = answer.key
    else:
        given = str(answer).strip().lower().removesuffix(" ports").removesuffix(" port")
    accepted = {right.key, *(name.lower().removesuffix(" ports")
                             for name in (right.rfc6335_name, right.older_name, *right.aliases))}
    if given in accepted:
        return None
    if given in ("system", "well known", "well-known"):
        return "system ports stop at 1023, and 5432 is bigger than that."
    if given in ("dynamic", "private", "ephemeral", "dynamic and/or private"):
        return "the dynamic range starts at 49152; IANA assigns nothing there, yet PostgreSQL has an assignment."
    return "answer with a range name such as 'system', 'user' or 'dynamic' (or try port_range(5432))."


@exercise("01-imaps-port", "Which TCP port does the IANA service 'imaps' (IMAP over TLS) use?", kind="number",
          solution=993, explanation="IANA lists imaps on 993/tcp; plain IMAP is 143.")
def _imaps_port(answer: object) -> Optional[str]:
    right = {svc.port for svc in registry.by_name("imaps", "tcp") if svc.port is not None}
    port = as_port(answer)
    if port in right:
        return None
    if port is None:
        return "the answer is a port number, such as 443."
    if port == registry.by_name("imap", "tcp")[0].port:
        return f"{port} is plain IMAP. Look up the name 'imaps' (the s stands for TLS)."
    return "type imaps into the lookup box above, or run registry.by_name('imaps', 'tcp')."


CLIENTS_CHOICES = ("the server's port", "the client's address", "the client's port", "nothing: it is the same 5-tuple")


@exercise("01-clients-param",
          "Set `clients` to 3 and run the cell again: three clients connected to the same server. Which part "
          "of the 5-tuple is different in each of the three connections?",
          kind="choice", choices=CLIENTS_CHOICES, solution=CLIENTS_CHOICES[2], parameter="clients",
          hints=("Go through the table column by column: in which column do the three rows differ?",
                 "The server listens on one port; each client's port was picked by the operating system "
                 "when that client connected."),
          explanation="The client's port. Protocol, both addresses and the server's port are the same in all "
                      "three rows, so the client's port is what tells the connections apart: the operating "
                      "system gives each connection a port of its own from its ephemeral range. The server "
                      "gets no new port per client: accept() hands it a new socket for each connection, and "
                      "every one of those sockets is on the port it listens on. That is how a web server on "
                      "port 443 talks to thousands of browsers at once.")
def _clients_param(answer: object) -> Optional[str]:
    given = " ".join(str(answer).strip().lower().replace("\u2019", "'").split())
    if given in ("the client's port", "client's port", "client port", "the client port", "source port",
                 "the source port"):
        return None
    if "server" in given:
        return ("look at the server port column: the same number in every row, the port the server listens "
                "on. accept() gives the server a new socket for each connection, not a new port.")
    if "address" in given:
        return "on loopback both ends are 127.0.0.1 in every row. Which column does change?"
    if "nothing" in given or "same" in given:
        return ("with `clients` at 1 there is only one row to compare. Set it to 3, run the cell again, and "
                "compare the three rows.")
    return "answer with one of: " + " | ".join(f'"{c}"' for c in CLIENTS_CHOICES)
