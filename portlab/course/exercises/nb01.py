"""Notebook 01 (ports and ranges): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from ... import registry
from ...ranges import PortRange, port_range
from .core import as_port, exercise, parameter_exercise


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


parameter_exercise('01-range-param',
                   'Set `port` to 50000 and run the cell again. Which RFC 6335 range holds port 50000?',
                   parameter='port', kind='choice', solution='Dynamic Ports',
                   choices=('System Ports', 'User Ports', 'Dynamic Ports'),
                   hints=('The ranges end at 1023 and at 49151.', '50000 is above 49151.'),
                   explanation='Dynamic Ports (49152-65535): IANA assigns nothing there, and operating systems that follow RFC 6335 take their client ports from it.')
