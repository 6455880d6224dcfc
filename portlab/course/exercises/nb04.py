"""Notebook 04 (scan results and timing): its exercises' checks."""

from __future__ import annotations

from typing import Optional

from .core import STATES, exercise, simulated_state, state_feedback

@exercise("04-predict-udp-silence",
          "In the single-host scenario the firewall drops every UDP datagram to port 9000: no answer, no ICMP "
          "error. The scanner tries twice and hears nothing. Predict: what state does a UDP scan give 9000/udp?",
          kind="predict", choices=STATES, solution="open|filtered",
          hints=("A UDP service that is open may well say nothing back to a datagram it does not understand.",
                 "So silence fits two stories: a service that kept quiet, or a firewall that ate the datagram."),
          explanation="To a UDP scan, silence after the retries is open|filtered (no-response): an open service "
                      "may ignore the probe, and a dropping firewall looks exactly the same. Only an ICMP port "
                      "unreachable proves closed, and only a UDP reply proves open.",
          reveal=simulated_state("10.77.0.2", 9000, "udp", timing=4))
def _predict_udp_silence(answer: object) -> Optional[str]:
    return state_feedback(answer, "open|filtered", {
        "filtered": "that is what a TCP scan says about silence. A UDP service may be open and still stay silent: "
            "can the scanner rule that out?",
        "open": "open needs a UDP answer from the service, and nothing came back.",
        "closed": "closed needs an ICMP port-unreachable from the host; here the firewall sends nothing at all.",
    }, "that state needs some answer from the host, and here there is none: what is left?")


def _minutes(answer: object) -> Optional[float]:
    if isinstance(answer, bool):
        return None
    if isinstance(answer, (int, float)):
        return float(answer)
    text = str(answer).strip().lower()
    for unit in ("minutes", "minute", "mins", "min", "m"):
        if text.endswith(unit):
            text = text[: -len(unit)].strip()
            break
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


@exercise("04-polite-minutes",
          "-T2 (polite) sends one probe at a time and waits 0.4 s between probes. At least how many MINUTES "
          "does a -T2 scan of 1000 ports take, even if every port answers at once? (a number; about is fine)",
          kind="number", solution=6.7,
          hints=("Count the pauses: one per probe.", "1000 probes x 0.4 s, then divide the seconds by 60."),
          explanation="1000 probes x 0.4 s = 400 s, about 6.7 minutes, before any timeout is counted: that "
                      "is why -T2 is for when you must not load the target, and why -T0 and -T1 take hours.")
def _polite_minutes(answer: object) -> Optional[str]:
    value = _minutes(answer)
    if value is None:
        return "the answer is a number of minutes, such as 12 or 2.5."
    if 6.0 <= value <= 7.5:
        return None
    if 390 <= value <= 410:
        return "that is the right number of seconds; the question asks for minutes."
    if value < 1:
        return ("that is how long -T4 takes, with many probes in flight. -T2 sends one at a time and pauses "
                "after each: how many pauses?")
    return "multiply the number of probes by the pause between them, then turn seconds into minutes."


SLOWEST_CHOICES = (
    "10000 ports, every one closed, -T4",
    "1000 ports, half of them dropped by a firewall, -T4",
    "100 ports on a host whose firewall drops everything, -T4",
)


@exercise("04-slowest-scan", "Which of these simulated scans takes the longest?", kind="choice",
          choices=SLOWEST_CHOICES, solution=SLOWEST_CHOICES[2],
          hints=("Closed ports answer at once; only silent ports cost timeouts.",
                 "Until a host has answered anything, the scanner cannot measure a round-trip time: which "
                 "timeout does it wait then, initial_timeout or min_timeout?"),
          explanation="A host that never answers leaves the scanner without a round-trip time, so every "
                      "silent probe waits the long initial timeout (0.5 s at -T4, twice: about 1 s), while a "
                      "host that answers some ports gets the short minimum timeout (0.1 s). 10000 closed ports "
                      "answer at once and take about 0.1 s.")
def _slowest(answer: object) -> Optional[str]:
    given = str(answer).strip().lower()
    if given in (SLOWEST_CHOICES[2].lower(), "3", "c") or given.startswith("100 ports"):
        return None
    if given.startswith("10000") or given in ("1", "a"):
        return "closed ports answer with RST at once: 10000 of them are only 10000 packets, about 0.1 s."
    if given.startswith("1000 ") or given in ("2", "b"):
        return ("500 silent ports cost timeouts, but this host answers the other half, so the scanner knows "
                "its round-trip time and waits only the minimum timeout. What about a host that answers nothing?")
    return "pick one of the three answers (copy its text)."


def _open_in_web_server() -> int:
    from ...paths import DATA_DIR
    from ...results import load
    result = load(DATA_DIR / "recordings" / "web-server" / "nmap-syn.xml")
    return len(result.open_ports())


@exercise("04-open-in-recording",
          "Load data/recordings/web-server/nmap-syn.xml into a DataFrame. How many of its rows are open ports?",
          kind="number", solution=2,
          hints=("df[df['state'] == 'open'] keeps only the open rows; len() counts them.",
                 "Or: df.groupby('state').size()."),
          explanation="nmap found two open ports on the web server, 80 (http) and 443 (https); of the other "
                      "206 ports, 104 are closed and 102 filtered.")
def _open_in_recording(answer: object) -> Optional[str]:
    value = _minutes(answer)
    right = _open_in_web_server()
    if value is None:
        return "the answer is a whole number (how many rows)."
    if value == right:
        return None
    if value > 100:
        return "that counts every row, or the closed or filtered ones. Keep only the rows whose state is 'open'."
    return "filter the rows with df[df['state'] == 'open'] and count them with len()."


def _seconds(answer: object) -> tuple[Optional[float], bool]:
    """A number of seconds from an answer, and whether it was written in minutes."""
    text = str(answer).strip().lower()
    if text.endswith(("min", "mins", "minute", "minutes")):
        value = _minutes(text)
        return value, True
    for unit in ("seconds", "second", "secs", "sec", "s"):
        if text.endswith(unit):
            text = text[: -len(unit)].strip()
            break
    return _minutes(text), False


#: What the silent host's scan takes under the other templates (tests check them against the cell).
SILENT_SECONDS = {0: 120000.0, 1: 6000.0, 3: 2.0, 4: 1.0, 5: 0.5}


@exercise("04-silent-host-param",
          "-T2 and -T3 wait the same 1 s for an answer. Set `template` to 2 and run the cell again: how many "
          "seconds does the -T2 scan of the 100 silent ports take? (a whole number)",
          kind="number", solution=280, parameter="template",
          hints=("Change the cell's first line to `template = 2`, run the cell (Shift+Enter) and read its last "
                 "line.",
                 "-T2 keeps one probe waiting at a time, so nothing overlaps: 200 tries that each wait 1 s, "
                 "one after the other, and a 0.4 s pause after each of the 200 probes."),
          explanation="280 s (4.7 minutes): -T2 keeps one probe in flight, so the 200 tries (a try and a retry "
                      "per port) wait their 1 s one after another, 200 s, and the 0.4 s pause after each probe "
                      "adds 80 s. -T3 waits the same 1 s per try but lets all 100 probes wait at once, so the "
                      "waits overlap: 2 s in all. The same timeout, 140 times the time: on a silent host, how "
                      "many probes wait at once matters more than how long each one waits.")
def _silent_host(answer: object) -> Optional[str]:
    value, in_minutes = _seconds(answer)
    if value is None:
        return "the answer is a whole number of seconds, such as 45."
    if abs(value - 280 / 60) < 0.1:
        return "that is the right time in minutes; the question asks for seconds."
    if in_minutes:
        value *= 60
    if abs(value - 280) < 1:
        return None
    for level, seconds in SILENT_SECONDS.items():
        if abs(value - seconds) < 1e-6:
            return (f"{seconds:g} s is what -T{level} takes. Set `template = 2` (not {level}) and run the cell "
                    f"again.")
    if abs(value - 200) < 1:
        return ("200 s counts the waits alone (200 tries x 1 s). Read the cell's last line: the pause after "
                "each probe adds to it.")
    if abs(value - 240) < 1:
        return ("that counts the 0.4 s pause once per port; it comes after every probe, retries included: "
                "read the cell's last line.")
    if abs(value - 80) < 1:
        return "80 s is the pauses alone (200 x 0.4 s): the waits for the answers come on top."
    return "not that one: set `template` to 2, run the cell again, and read the time on its last line."
