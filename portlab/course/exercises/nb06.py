"""Notebook 06 (cloud firewalls): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from ...errors import BadInput
from .core import STATES, exercise, state_feedback

NSG_NAMES = ("AllowHTTPS", "AllowSSHFromAdmins", "DenyAppPorts", "AllowAppTLS", "DenyRDP", "AllowVnetInBound",
             "AllowAzureLoadBalancerInBound", "DenyAllInBound")


def _sg_database_state() -> str:
    from ..lessons import nb05
    return nb05.states(nb05.scan_from("cloud-sg", "10.77.0.1", "10.77.0.10", [5432], "syn"))[5432][0]


@exercise("06-predict-sg",
          "In cloud-sg, PostgreSQL listens on 5432, and no rule of the VM's security group mentions 5432. "
          "Predict: what does a SYN scan from 10.77.0.1 report for it?",
          kind="predict", choices=STATES, solution="filtered",
          hints=("A security group only has allow rules. What happens to a packet none of them allows?",
                 "It is dropped silently: no RST, no ICMP."),
          explanation="Nothing allows 5432, so the security group drops the SYN without an answer: filtered "
                      "(no-response), exactly like any port nobody uses. The service behind it is invisible.",
          reveal=_sg_database_state)
def _predict_sg(answer: object) -> Optional[str]:
    return state_feedback(answer, "filtered", {
        "open": "the service listens, but the probe never reaches it: no rule of the group lets it in.",
        "closed": "closed needs an answer (a RST). Does a security group answer what it does not allow, or drop it?",
    }, "this is a TCP SYN scan: it reports open, closed or filtered.")


@exercise("06-which-rule",
          "In cloud-nsg, 8443 has an allow rule (AllowAppTLS, priority 300), yet a scan from the Internet "
          "finds 8443 filtered. Which rule really decides a SYN to 8443 from the Internet? Give its name.",
          kind="choice", choices=NSG_NAMES, solution="DenyAppPorts",
          hints=("Read the rules by priority, lowest number first, and stop at the first one that matches "
                 "TCP 8443 from the Internet.",),
          explanation="DenyAppPorts (priority 200) denies TCP 8000-8999 from anywhere, 8443 included, and "
                      "200 is read before 300: AllowAppTLS is never reached. A broad deny with a lower "
                      "number shadows every narrower allow behind it.")
def _which_rule(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given == "denyappports":
        return None
    if given == "allowapptls":
        return ("AllowAppTLS would allow it, but Azure stops at the first match. Is there a rule with a lower "
                "number that also matches 8443?")
    if given == "denyallinbound":
        return "65500 is the last resort, read only when nothing before it matched. Something earlier matches 8443."
    if given in {n.lower() for n in NSG_NAMES}:
        return "that rule does not match TCP 8443 from the Internet. Check each rule's ports."
    return f"answer with a rule name: one of {', '.join(NSG_NAMES)}."


@exercise("06-vnet-default",
          "With the NSG written for the policy (AllowHTTPS 100, AllowSSHFromAdmins 110, nothing else), a VM in "
          "the same virtual network still reaches 3389 on our VM. Which rule lets it in?",
          kind="choice", choices=NSG_NAMES[:2] + NSG_NAMES[5:], solution="AllowVnetInBound",
          hints=("None of the two rules we wrote matches 3389. What comes after them?",),
          explanation="Azure appends default rules to every NSG: 65000 AllowVnetInBound allows anything from "
                      "the VirtualNetwork tag (the VNet and every network joined to it: peered VNets, on-premises "
                      "networks behind a gateway), and it is read before 65500 DenyAllInBound. To shut them out, "
                      "write a deny of your own with a number below 65000.")
def _vnet_default(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given == "allowvnetinbound":
        return None
    if given in ("allowhttps", "allowsshfromadmins"):
        return "that rule names port 443 or 22 only. Which rule matches any port?"
    if given == "allowazureloadbalancerinbound":
        return "that one allows only Azure's load balancer address (168.63.129.16), not a VM of the VNet."
    if given == "denyallinbound":
        return "that rule denies; the neighbour got in. Which rule allows, and is read before 65500?"
    return f"answer with a rule name: one of {', '.join(NSG_NAMES[:2] + NSG_NAMES[5:])}."


@exercise("06-nsg-fix",
          "Fix cloud-nsg's NSG: 8443 (the app's TLS port) must be reachable from the Internet; the rest of "
          "8000-8999 stays shut to everyone, the virtual network included; everything else stays as it is. "
          "A rescan from the Internet, an admin address and a VM of the VNet checks it.",
          kind="text",
          hints=("Azure reads the lowest priority number first. Which of the two rules about 8443 must come first?",
                 "Deleting DenyAppPorts opens 8000-8999 to the VNet: Azure's AllowVnetInBound (65000) lets it in."),
          solution=[
              {"priority": 100, "name": "AllowHTTPS", "action": "allow", "protocol": "tcp", "ports": "443",
               "source": "Internet"},
              {"priority": 110, "name": "AllowSSHFromAdmins", "action": "allow", "protocol": "tcp", "ports": "22",
               "source": "10.77.0.64/26"},
              {"priority": 150, "name": "AllowAppTLS", "action": "allow", "protocol": "tcp", "ports": "8443",
               "source": "Internet"},
              {"priority": 200, "name": "DenyAppPorts", "action": "deny", "protocol": "tcp", "ports": "8000-8999",
               "source": "*"},
              {"priority": 4000, "name": "DenyRDP", "action": "deny", "protocol": "tcp", "ports": "3389",
               "source": "*"},
          ],
          explanation="Give AllowAppTLS a number below DenyAppPorts' 200 (here 150): Azure reads it first, so 8443 "
                      "from the Internet is allowed, and the deny still shuts the other app ports, for the VNet "
                      "too. (Narrowing the deny to 8000-8442,8444-8999 works as well.)")
def _nsg_fix(answer: object) -> Optional[str]:
    from ..lessons import nb06
    try:
        failures = nb06.fix_failures(answer)
    except BadInput as err:
        return f"the rescan could not read your NSG: {err}"
    if not failures:
        return None
    more = f" (and {len(failures) - 2} more)" if len(failures) > 2 else ""
    return " ".join(failures[:2]) + more


REACH_CHOICES = ("none", "443 only", "22 only", "22 and 443")


@exercise("06-priority-param",
          "Set `priority` to 105 and run the cell again. Which of the VM's ports can 10.77.0.66 still reach "
          "(open)?",
          kind="choice", choices=REACH_CHOICES, solution="443 only", parameter="priority",
          hints=("Change the cell's first line to `priority = 105`, run the cell, and read the rows whose state "
                 "is open, with the rule that decided each.",
                 "Azure reads the rules lowest number first. Which rules have a number below 105, and does one "
                 "of them allow something from 10.77.0.66?"),
          explanation="443 only. At 105 the deny comes before AllowSSHFromAdmins (110), so 10.77.0.66's SYN to "
                      "22 is denied. But AllowHTTPS has 100, a lower number than 105: Azure reads it first, and "
                      "it allows 443 from `Internet`, which in this scenario holds 10.77.0.66 too. That is the "
                      "mirror image of section 4's mistake: an allow with a lower number hides the deny behind it. "
                      "To shut 10.77.0.66 out of HTTPS as well, the deny needs a lower number than AllowHTTPS, and "
                      "100 is the lowest Azure takes: give AllowHTTPS another number (120, say) and the deny 100. "
                      "At 150 the deny came after both allows: it decided only ports that were shut anyway, so a "
                      "scan saw no change at all.")
def _priority(answer: object) -> Optional[str]:
    given = " ".join(str(answer).strip().lower().split())
    if given in ("443 only", "443", "only 443", "443/tcp"):
        return None
    if given in ("22 and 443", "443 and 22", "22, 443", "22,443", "both"):
        return ("that is what the deny at 150 leaves open, where the cell starts. Set `priority = 105`, run "
                "the cell again and read the state column.")
    if given in ("none", "nothing", "no port", "0"):
        return ("a deny of every port from 10.77.0.66 sounds like none, but read 443's row: which rule decided "
                "it, and what is its number?")
    if given in ("22 only", "22", "only 22"):
        return ("at 105 the deny comes before the SSH rule (110), so 22 is shut: read 22's row again, and then "
                "443's.")
    return "answer with one of: " + " | ".join(f'"{c}"' for c in REACH_CHOICES)
