"""Notebook 07 (NAT and port forwarding): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from .core import STATES, as_port, exercise, state_feedback

def _nas_smb_from_outside() -> str:
    from ...engine import scan
    result = scan("192.168.77.20", [445], "syn", scenario="home-nat", keep_trace=False)
    return result.hosts[0].ports[0].state.value


@exercise("07-predict-nas",
          "In home-nat, the NAS (192.168.77.20) shares files on 445/tcp and nothing on it has a firewall. "
          "Predict: what does a SYN scan from outside (10.77.0.1) report for 192.168.77.20 port 445?",
          kind="predict", choices=STATES, solution="filtered",
          hints=("The packet has to pass through the home router first. Besides NAT, what does a home "
                 "router's firewall do with a new connection from outside that is on its way to the inside?",
                 "Its firewall rule drops it without a word. What does a SYN scan call a port that never "
                 "answers?"),
          explanation="The router's firewall has a rule in its forward path (forward_drop_new_from = "
                      "\"internet\"): a new connection from outside on its way to the inside is dropped, "
                      "silently: no SYN/ACK, no RST, no ICMP. A SYN scan that gets nothing says filtered "
                      "(no-response), though the NAS itself would have answered. NAT did not do this: "
                      "without that rule (scenario home-nat-nofirewall) the same scan finds 445 open.",
          reveal=_nas_smb_from_outside)
def _predict_nas(answer: object) -> Optional[str]:
    return state_feedback(answer, "filtered", {
        "open": "the NAS would answer, but does the SYN ever reach it? Think about the router between "
            "the Internet and the home network.",
        "closed": "closed needs a RST back. Does anything answer at all?",
    }, "this is a TCP SYN scan: it says open, closed or filtered.")


@exercise("07-forward-count",
          "home-nat-forward adds one port forward to the router. How many TCP ports will a scan of ALL "
          "65535 ports of the router's outside address 10.77.0.2 find open?",
          kind="number", solution=1,
          hints=("A forward opens exactly the one outside port it names; the router's own admin page "
                 "stays behind its firewall.",),
          explanation="One: 8080, the forward to the NAS's web page. The router's admin page (80) and "
                      "every other inside service stay unreachable.")
def _forward_count(answer: object) -> Optional[str]:
    n = as_port(answer)
    if n is None:
        return "answer with a number."
    if n == 1:
        return None
    if n == 0:
        return "a port forward is a door opened on purpose: what is behind it answers."
    return ("fewer: the forward does not open the router's own services (its firewall still drops the "
            "outside) nor any other inside service.")


@exercise("07-eim-same-port",
          "With endpoint-independent mapping (Linux's, and what RFC 4787 requires), the laptop's port "
          "50000 talks to two different servers. Do both servers see the same outside port?",
          kind="choice", choices=("same", "different"), solution="same",
          hints=("'Endpoint-independent' means the mapping does not depend on the remote endpoint.",),
          explanation="Endpoint-independent mapping reuses one outside port for every remote the inside "
                      "endpoint talks to, so both see 10.77.0.2:50000. That is what lets peer-to-peer "
                      "programs learn their outside address from one server and use it with another.")
def _eim_same(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given in ("same", "the same", "yes"):
        return None
    if given in ("different", "no"):
        return ("that is address-and-port-dependent mapping. What does 'independent' of the endpoint "
                "suggest?")
    return "answer 'same' or 'different'."


@exercise("07-apdf-filter",
          "Linux filters address-and-port-dependently (APDF). The laptop sent only to 203.0.113.10:443. "
          "A packet from 203.0.113.10:8443 arrives on that mapping's outside port. Does it get in?",
          kind="choice", choices=("yes", "no"), solution="no",
          hints=("Address-AND-port-dependent: both the remote's address and its port must be ones the "
                 "laptop has sent to.",),
          explanation="No: the laptop never sent to 203.0.113.10:8443, so address-and-port-dependent "
                      "filtering does not translate the packet to the laptop; it is left for the router "
                      "itself (in home-nat its firewall drops it). An address-dependent filter would let it "
                      "in; an endpoint-independent one would let anybody in.")
def _apdf(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given in ("no", "dropped", "drop"):
        return None
    if given in ("yes", "in"):
        return "the address matches, but the port does not. Which behaviour checks both?"
    return "answer 'yes' or 'no'."


LATE_CHOICES = ("it reaches the NAS", "the router drops it", "the router answers with an ICMP error")


@exercise("07-wait-param",
          "The DNS server is slow. Set `wait` to 60 (its answer comes a minute after the NAS's question) "
          "and run the cell again. What happens to the answer?",
          kind="choice", choices=LATE_CHOICES, solution="the router drops it", parameter="wait",
          hints=("Look at the table the cell printed: is the NAS's udp row still in it when the answer "
                 "arrives?",
                 "Without a row, NAT has nothing to translate the answer with, so it is for the router "
                 "itself, like the knock of section 2 (a). What does home-nat's router do with a packet "
                 "from outside that is meant for itself?"),
          explanation="The router drops it. The NAS's row was idle past Linux's 30 s for a UDP exchange "
                      "(nf_conntrack_udp_timeout) and was forgotten at 32 s, so at 62 s nothing translates "
                      "the answer back: it is a packet for the router itself, and home-nat's input rules "
                      "drop it. The NAS never hears back, as if the server had not answered. Without the "
                      "firewall (home-nat-nofirewall) the router would answer with an ICMP port "
                      "unreachable instead; either way the NAS gets nothing.")
def _wait_param(answer: object) -> Optional[str]:
    given = " ".join(str(answer).strip().lower().split())
    if given in ("the router drops it", "router drops it", "drops it", "dropped", "drop"):
        return None
    if given.startswith("it reaches") or given in ("nas", "reaches the nas", "yes"):
        return ("that is what happens with `wait` at 10. At 60, look for the NAS's udp row in the table "
                "the cell printed.")
    if "icmp" in given:
        return ("that is what a router without a firewall does (scenario home-nat-nofirewall). This is "
                "home-nat: read the cell's last line.")
    return "answer with one of: " + " | ".join(f'"{c}"' for c in LATE_CHOICES)
