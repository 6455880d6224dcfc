"""The scope guard: which addresses portlab may send packets to.

Scanning is only legitimate on hosts you own or are authorized to test.  By default
portlab scans loopback, the networks of labs portlab itself is running, and (for
``scenario=`` scans, which send nothing) the scenario's own networks.  Anything else
needs an explicit ``allow=["CIDR"]`` / ``--allow-target CIDR``: the user states they
are authorized.  The guard runs before any transport is built, so a refused scan
sends nothing at all.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path
from typing import Iterable, NamedTuple, Optional, Union

from .errors import BadInput, ScopeRefused

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]
Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]

LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))
DEFAULT_STATE_DIR = "/run/portlab/labs"


def state_dir() -> Path:
    """Where running labs leave a JSON file each (``{"networks": ["10.77.0.0/24", ...]}``).

    ``$PORTLAB_STATE_DIR`` if set; root's labs in ``/run/portlab/labs``; an ordinary
    user's (rootless) labs in their own runtime directory, ``$XDG_RUNTIME_DIR/portlab/labs``,
    else ``/tmp/portlab-UID/labs``: each user's scope holds only their own labs.
    """
    if os.environ.get("PORTLAB_STATE_DIR"):
        return Path(os.environ["PORTLAB_STATE_DIR"])
    if os.geteuid() == 0:
        return Path(DEFAULT_STATE_DIR)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.stat(runtime).st_uid == os.geteuid():
        return Path(runtime) / "portlab" / "labs"
    return Path(f"/tmp/portlab-{os.geteuid()}") / "labs"


class RunningLab(NamedTuple):
    prefix: str
    scanner_netns: Optional[str]
    networks: list[Network]
    holder: Optional[dict] = None      # a rootless lab's lab process: {"pid", "start", "uid"}


def lab_records(directory: Optional[Path] = None) -> list[dict]:
    """The one reader of the labs' state files: every record this user (or root) wrote,
    as the lab wrote it.  A file that cannot be read, is not a lab's record or belongs
    to another user is skipped: a half-written or foreign file must not widen the scope."""
    directory = state_dir() if directory is None else Path(directory)
    try:
        files = sorted(directory.glob("*.json"))
    except OSError:
        return []
    records = []
    for path in files:
        try:
            if path.stat().st_uid not in (os.geteuid(), 0):
                continue              # another user's file: never this user's lab (root's labs are root's)
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            data.setdefault("prefix", path.stem)
            records.append(data)
    return records


def running_labs(directory: Optional[Path] = None) -> list[RunningLab]:
    """What the scope guard needs of every running lab on record: its networks and
    scanner namespace.  (A lab writes its ``networks`` last, once it is complete;
    ``portlab.lab.run.lab_status`` gives the whole records, with age and health.)"""
    labs: list[RunningLab] = []
    for data in lab_records(directory):
        try:
            networks = [ipaddress.ip_network(cidr, strict=False) for cidr in data.get("networks", [])]
            netns = data.get("scanner_netns")
            holder = data.get("rootless")
            if holder is not None:
                from .lab.userns import holder_alive
                if not holder_alive(holder):
                    continue          # its lab process is gone, and its namespaces with it
        except (OSError, ValueError, AttributeError, TypeError):
            continue
        labs.append(RunningLab(str(data["prefix"]),
                               netns if isinstance(netns, str) and netns else None, networks,
                               holder if isinstance(holder, dict) else None))
    return labs


def lab_networks(directory: Optional[Path] = None) -> list[Network]:
    """The networks of every running lab."""
    return [net for lab in running_labs(directory) for net in lab.networks]


def parse_allow(allow: Union[str, Iterable[str], None]) -> list[Network]:
    """The user's ``--allow-target`` blocks; a bad one is BadInput naming it."""
    if allow is None:
        return []
    if isinstance(allow, str):
        allow = [allow]
    networks = []
    for cidr in allow:
        try:
            networks.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError:
            raise BadInput(f"--allow-target {cidr!r}: expected a CIDR block like 10.0.0.0/24 "
                           f"or an address") from None
    return networks


def _effective(address: Address) -> Address:
    # ::ffff:10.0.0.1 reaches 10.0.0.1: judge the IPv4 address it really goes to.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_scope(address: Union[str, Address], networks: Iterable[Network]) -> bool:
    ip = _effective(ipaddress.ip_address(address))
    return any(ip.version == net.version and ip in net for net in networks)


class ScopeGuard:
    """The allowed networks for one scan; :meth:`check` refuses the first target outside."""

    def __init__(self, allow: Union[str, Iterable[str], None] = (),
                 extra_networks: Iterable[Union[str, Network]] = (),
                 include_labs: bool = True, extra_label: str = ""):
        self.extra_label = extra_label
        self.allowed: list[Network] = list(LOOPBACK)
        if include_labs:
            self.allowed += lab_networks()
        self.allowed += [ipaddress.ip_network(n, strict=False) if isinstance(n, str) else n
                         for n in extra_networks]
        self.allowed += parse_allow(allow)

    def check(self, addresses: Iterable[str], names: Optional[dict[str, Optional[str]]] = None) -> None:
        """*names* maps an address to the hostname it was resolved from, for the message."""
        for address in addresses:
            if not in_scope(address, self.allowed):
                name = (names or {}).get(address)
                shown = f"{name} ({address})" if name else address
                raise ScopeRefused(
                    f"target {shown} is outside the default scope (loopback, running portlab "
                    f"labs{self.extra_label}); scan only hosts you are authorized to test, and say so with "
                    f"--allow-target {address} (allow=['{address}'] in Python)")


def check_scope(addresses: Iterable[str], allow: Union[str, Iterable[str], None] = (),
                extra_networks: Iterable[Union[str, Network]] = ()) -> None:
    """Raise ScopeRefused for the first address outside the allowed networks."""
    ScopeGuard(allow, extra_networks).check(addresses)
