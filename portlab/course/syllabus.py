"""The course map: the notebooks in order, what each teaches, and how long it takes.

One list, read by notebook 00's course map chart, the progress summary (which
notebooks exist), the solutions printout and the instructor's guide.  The times
are for a learner working alone who runs every cell and tries every exercise;
a class with a live demonstration needs about a quarter more.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Notebook:
    number: str          # "03": also the prefix of its exercise ids ("03-...")
    slug: str            # the file name without .ipynb
    title: str
    minutes: int         # estimated time for one learner
    heart: str           # what it is about, in a line

    @property
    def filename(self) -> str:
        return f"{self.slug}.ipynb"


NOTEBOOKS: tuple[Notebook, ...] = (
    Notebook("00", "00-start-here", "Start here", 15,
             "how the course works, the modes, what this machine allows, progress, the rule"),
    Notebook("01", "01-ports-and-ranges", "Ports and port ranges", 40,
             "sockets and the 5-tuple, RFC 6335 ranges, the IANA registry, common ports"),
    Notebook("02", "02-scanning-and-ethics", "Scanning and its ethics", 35,
             "what a scan is, who scans, law and ethics, the scope guard, the six states"),
    Notebook("03", "03-scan-types", "Scan types", 50,
             "connect, SYN and UDP scans, packet sequence diagrams, side by side"),
    Notebook("04", "04-results-and-timing", "Results and timing", 40,
             "retries, timeouts, timing templates, live against recorded, nmap XML"),
    Notebook("05", "05-firewalls", "Firewalls", 50,
             "inbound and outbound rules, default deny, least privilege, DROP against REJECT, state"),
    Notebook("06", "06-cloud-firewalls", "Cloud firewalls", 35,
             "AWS security groups, Azure NSGs, one policy written three ways"),
    Notebook("07", "07-nat-and-port-forwarding", "NAT and port forwarding", 45,
             "the NAT table, unsolicited inbound traffic, port forwarding, RFC 4787"),
    Notebook("08", "08-practice", "Practice", 40,
             "80 to 443, SSH on 2222, \"Address already in use\""),
    Notebook("09", "09-misconceptions", "Misconceptions", 35,
             "three common beliefs about ports, each tested by a demonstration"),
    Notebook("10", "10-capstone", "Capstone: audit a network", 60,
             "find what is exposed, write least-privilege rules, rescan to prove it"),
)

BY_NUMBER: dict[str, Notebook] = {nb.number: nb for nb in NOTEBOOKS}


def total_minutes() -> int:
    return sum(nb.minutes for nb in NOTEBOOKS)


def notebook(number: str) -> Notebook:
    """The notebook numbered ``number`` ("3" and "03" both work)."""
    key = str(number).strip().zfill(2)
    try:
        return BY_NUMBER[key]
    except KeyError:
        raise ValueError(f"notebook {number!r}: expected one of {', '.join(BY_NUMBER)}") from None
