"""Notebook 00 (start here): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from .. import syllabus
from .core import as_port, exercise, state_feedback

ROOT_MODE_CHOICES = ("sim", "replay", "live-loopback", "live-lab")


@exercise("00-root-mode", "Which of the four modes builds something new inside the operating system (as root, "
          "or on Linux inside a user namespace of your own)?", kind="choice",
          choices=ROOT_MODE_CHOICES,
          hints=("Ask of each mode: does it only compute or read a file, does it use an ordinary socket, "
                 "or does it build something new inside the operating system?",
                 "Creating network namespaces (small separate networks inside one Linux machine) is an "
                 "administrator's job, or, without root, the job of a user namespace that makes you "
                 "administrator of your own small world."),
          solution="live-lab",
          explanation="The live lab creates network namespaces and firewall rules: root may do that anywhere, an "
                      "ordinary Linux user inside a user namespace of their own. The simulator and the recordings "
                      "send nothing, and loopback needs only an ordinary socket.")
def _root_mode(answer: object) -> Optional[str]:
    given = str(answer).strip().lower().replace(" ", "-")
    if given in ("live-lab", "lab", "live"):
        return None
    if given in ("sim", "simulated", "simulator"):
        return "the simulator computes every packet in Python and sends nothing, so anyone may run it."
    if given in ("replay", "recorded", "recording"):
        return "a recording is only a file that is read back; reading a file needs no special rights."
    if given in ("live-loopback", "loopback"):
        return "notebook 01 opens loopback sockets as an ordinary user: loopback needs no root."
    return f"answer with one of the mode names: {', '.join(ROOT_MODE_CHOICES)}."


FRIEND_CHOICES = (
    "yes: a scan only looks, it changes nothing",
    "yes, if I scan only ports 80 and 443",
    "no: not without my friend's permission, for the addresses they name",
)


@exercise("00-friends-server", "A friend runs a web server at home and says it is secure. May you scan it to "
          "check, without asking first?", kind="choice", choices=FRIEND_CHOICES,
          hints=("The rule of the course is about who owns the machine, not about how gentle the scan is.",
                 "Even a scan of two ports knocks on someone else's doors; in many countries that is an offence "
                 "without the owner's consent."),
          solution=FRIEND_CHOICES[2],
          explanation="Scan only what you own or are authorized to scan. Ask first, and get the addresses and "
                      "the time in writing; then your friend also knows that the traffic is you.")
def _friends_server(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given == FRIEND_CHOICES[2] or given in ("no", "no.", "not without permission"):
        return None
    if given == FRIEND_CHOICES[1] or "80" in given:
        return "fewer ports do not make it your server: permission is about whose machine it is."
    if given == FRIEND_CHOICES[0] or given.startswith("yes"):
        return ("a scan sends packets to someone else's machine; the owner (and the law) decide whether you "
                "may, not you.")
    return "pick one of the three answers."


def _port_81_state() -> str:
    """A connect scan of port 81 on the single-host scenario's target, in the simulator."""
    from ... import scan
    result = scan("10.77.0.2", ports="81", scan_type="connect", scenario="single-host")
    return result.hosts[0].ports[0].state.value


@exercise("00-predict-81", "In the simulated network 'single-host', no program listens on TCP port 81 of the "
          "target 10.77.0.2, and no firewall rule mentions port 81. Predict: which state will a scan report "
          "for port 81?", kind="predict",
          choices=("open", "closed", "filtered", "unfiltered", "open|filtered", "closed|filtered"),
          hints=("The host is up and nothing stands in the way, so the host itself answers.",
                 "A reachable host with nobody behind a door answers 'nobody here' at once (a TCP reset)."),
          solution="closed", reveal=_port_81_state,
          explanation="The host answers at once that nobody listens (the connection is refused): that is "
                      "'closed'. 'filtered' needs something in the way, 'open' a program that accepts.")
def _predict_81(answer: object) -> Optional[str]:
    return state_feedback(answer, "closed", {
        "open": "open means a program accepted the connection, and the question says none listens on 81.",
        "filtered": "filtered means a firewall dropped or refused the probe, and no rule mentions port 81.",
    }, "'{state}' is a state for scans that cannot tell two answers apart (notebook 03); "
            "a plain connect scan gets a clear answer here.")


@exercise("00-course-hours", "By the time estimates in the course map, about how many hours does the whole "
            "course take one learner? Round to whole hours.", kind="number",
          hints=("Add up the minutes in the course map (or read its chart's text description).",
            "Divide the minutes by 60 and round to the nearest whole number."),
          solution=round(syllabus.total_minutes() / 60),
          explanation=f"The notebooks add up to {syllabus.total_minutes()} minutes, a little over "
            f"{syllabus.total_minutes() // 60} hours.")
def _course_hours(answer: object) -> Optional[str]:
    minutes = syllabus.total_minutes()
    if isinstance(answer, str):
        try:
            answer = float(answer.strip().replace(",", "."))
        except ValueError:
            return "the answer is a number of hours, such as 3."
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        return "the answer is a number of hours, such as 3."
    if abs(answer * 60 - minutes) <= 30:
        return None
    if as_port(answer) is not None and abs(answer - minutes) <= 45:
        return "that is the number of minutes; the question asks for hours."
    return "too many hours." if answer * 60 > minutes else "too few hours."


LOOPBACK_CHOICES = ("refused: loopback is 127.0.0.1 only", "allowed: it is loopback too",
                    "refused: it is somebody else's address")


@exercise("00-scope-target",
          "Set `target` to \"127.45.6.7\" and run the cell again. What does the scope guard say about "
          "scanning it?",
          kind="choice", choices=LOOPBACK_CHOICES, solution=LOOPBACK_CHOICES[1], parameter="target",
          hints=("Read the line the cell printed after you changed `target`: does it start with allowed or "
                 "with refused, and which block does it name?",
                 "Loopback is not one address but a whole block: the number after the slash in 127.0.0.0/8 "
                 "says that only the first 8 bits (the 127) are fixed."),
          explanation="Allowed: loopback is the whole block 127.0.0.0/8, every address from 127.0.0.0 to "
                      "127.255.255.255 (RFC 1122, section 3.2.1.3, says a packet to any of them must never "
                      "leave the host; on Linux a program may listen on 127.45.6.7 just as on 127.0.0.1). "
                      "127.0.0.1 is only the one everybody uses. The guard lets in what cannot leave your "
                      "computer; 192.168.1.1, the address many home routers give themselves, is refused "
                      "even if the router is yours: the guard cannot know what you own, so it is you who "
                      "says so, with --allow-target.")
def _scope_target(answer: object) -> Optional[str]:
    given = " ".join(str(answer).strip().lower().split())
    if given.startswith("allowed") or given in ("yes", "allow"):
        return None
    if "127.0.0.1 only" in given or given in ("refused", "no", "refuse"):
        return ("that is what most people expect from section 3. Set `target` to \"127.45.6.7\", run the "
                "cell again and read what the guard answers.")
    if "somebody" in given or "someone" in given:
        return ("the guard refuses 192.168.1.1 and 8.8.8.8. Is that what the line for 127.45.6.7 says? "
                "Which block does it name?")
    return "answer with one of: " + " | ".join(f'"{c}"' for c in LOOPBACK_CHOICES)
