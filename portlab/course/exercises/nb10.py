"""Notebook 10 (the capstone audit): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from ...errors import BadInput
from ..lessons.nb10 import SOLUTION
from .core import STATES, as_port, exercise, state_feedback

def _web_mysql_from_internet() -> str:
    from ...engine import scan
    result = scan("10.77.20.10", [3306], "connect", scenario="capstone", keep_trace=False)
    return result.hosts[0].ports[0].state.value


@exercise("10-predict-mysql",
          "In the capstone network as it is now, predict: what does a connect scan from the Internet "
          "(10.77.0.1) report for MySQL, port 3306/tcp on the web server 10.77.20.10?",
          kind="predict", choices=STATES, solution="open",
          hints=("Look at web's firewall in the scenario: what is its policy, and which single rule does it have?",
                 "A policy of accept lets in everything no rule stops; the one rule is about port 23."),
          explanation="web's firewall has policy accept and one reject rule for port 23, so MySQL on 3306 "
                      "answers anyone: open (syn-ack). A busy-looking firewall is not the same as a tight one.",
          reveal=_web_mysql_from_internet)
def _predict_mysql(answer: object) -> Optional[str]:
    return state_feedback(answer, "open", {
        "filtered": "that is what a careful admin would want. Does web's firewall actually stop 3306? "
            "Read its rules: policy first, then the one rule it has.",
        "closed": "that is what a careful admin would want. Does web's firewall actually stop 3306? "
            "Read its rules: policy first, then the one rule it has.",
    }, "this is a TCP connect scan: it says open, closed or filtered.")


@exercise("10-internet-needs",
          "Read the requirement table: how many of the 13 services must be reachable from the Internet?",
          kind="number", solution=2,
          hints=("Count the rows whose 'who must reach it' says everyone.",),
          explanation="Only the public web site: web 80/tcp (HTTP, which redirects) and 443/tcp (HTTPS). "
                      "Everything else is for one machine, for the admins, or for nobody.")
def _internet_needs(answer: object) -> Optional[str]:
    from ..lessons import nb10
    right = sum(1 for n in nb10.REQUIREMENT if "internet" in n.allowed_from)
    n = as_port(answer)
    if n is None:
        return "answer with a number, such as 5."
    if n == right:
        return None
    if n == len(nb10.REQUIREMENT):
        return "that is how many the Internet reaches today. How many should it?"
    if n > right:
        return "too many: SSH and admin pages are for the admin workstation only, not for the Internet."
    return "too few: the public web site has two ports, plain HTTP (which redirects) and HTTPS."


@exercise("10-who-reaches-db",
          "Which place must reach PostgreSQL (5432/tcp) on db, and no other?",
          kind="choice", choices=("internet", "web", "db", "ws", "nobody"), solution="web",
          hints=("Who is the database's client? Look at the 'why' column.",),
          explanation="The web site's application is the database's only client, so only 10.77.20.10 may "
                      "connect to 5432. The admins reach db with SSH, not with a database client.")
def _who_reaches_db(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given == "web":
        return None
    if given == "ws":
        return "admins reach db over SSH (22), but the database itself has one client. Which one?"
    if given == "internet":
        return "a database facing the Internet is exactly what this audit is about to fix."
    if given in ("nobody", "db"):
        return "then the web site would have no data. Which machine runs the application that uses it?"
    return "answer with one of: internet, web, db, ws, nobody."


@exercise("10-least-privilege",
          "Write least-privilege firewall rules (TOML, one table per machine: [web], [db], [ws], [core]) "
          "so that every service is reachable from exactly the places the requirement names.",
          kind="text",
          hints=("Start each machine with policy = \"drop\", then add one accept rule per line of the requirement.",
                 "A source of one address is written like source = \"192.168.77.50\" (that is the admin "
                 "workstation); the web server is 10.77.20.10.",
                 "Don't forget the router, core: its own SSH, web page and SNMP face every network it joins."),
          explanation="Default deny on every machine, then one accept rule per need: web 80,443 from anywhere "
                      "and 22,8080 from 192.168.77.50; db 5432 from 10.77.20.10 and 22 from 192.168.77.50; "
                      "ws nothing; core 22,80 from 192.168.77.50. Replies still get back because the "
                      "firewalls are stateful.",
          solution=SOLUTION)
def _least_privilege(answer: object) -> Optional[str]:
    from ..lessons import nb10
    try:
        result = nb10.audit(answer)
    except BadInput as err:
        return f"your rules could not be read: {err}"
    if result.passed:
        return None
    shown = result.failures[:4]
    more = f" (and {len(result.failures) - len(shown)} more: run nb10.audit(answer) to see all)" \
        if len(result.failures) > len(shown) else ""
    return (f"{len(result.failures)} of {len(result.findings)} checks fail{more}. "
            + " | ".join(f.explain() for f in shown))


PLACE_CHOICES = ("internet", "web", "db", "ws", "nobody")


@exercise("10-admin-source-param",
          "Set `admin_source` to \"192.168.77.0/24\" (the whole office network) and run the cell again. "
          "Which place now reaches web's SSH although the requirement does not allow it?",
          kind="choice", choices=PLACE_CHOICES, solution="db", parameter="admin_source",
          hints=("Look for the line marked EXPOSED in the cell's output.",
                 "Which places have an address from 192.168.77.0 to 192.168.77.255? The cell's output gives "
                 "each place's address in brackets."),
          explanation="db: its address 192.168.77.20 is in 192.168.77.0/24 as well as the admin "
                      "workstation's, so the rule lets the database server log in to web's SSH. Were db "
                      "ever broken into, that would be the attacker's next step. Least privilege names the "
                      "one address that needs the service (192.168.77.50), not the network it sits in; the "
                      "audit checks from every place, so it finds a rule that is too wide inside, too.")
def _admin_source_param(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given == "db":
        return None
    if given == "ws":
        return "ws must reach web's SSH (the requirement says so): its line says ok. Which line says EXPOSED?"
    if given == "nobody":
        return ("with \"192.168.77.50\" that is right. Did you set `admin_source` to \"192.168.77.0/24\" "
                "and run the cell again?")
    if given == "internet":
        return "the Internet (10.77.0.1) is not in 192.168.77.0/24; that is what \"0.0.0.0/0\" lets in."
    if given == "web":
        return "the audit never tries a machine's service from the machine itself. Which other place is in the office?"
    return "answer with one place: " + " | ".join(f'"{c}"' for c in PLACE_CHOICES)
