"""The scenario model: a small network described once, in TOML, for the simulator and the lab.

Pure: reading text and building frozen dataclasses, no sockets and no subprocesses.
``docs/scenario-format.md`` is the schema; this module is its only reader and writer.
Every mistake in a file becomes one :class:`~portlab.errors.BadInput` line,
``FILE: KEY.PATH: what is wrong (expected ...)``, because a typo in a firewall rule
must never silently build a different network.

The package: :mod:`.model` (the dataclasses), :mod:`.reader` (TOML to model, checked;
:func:`resolve`), :mod:`.writer` (model to TOML).  Everything is importable from here.
"""

from __future__ import annotations

from .model import (ACTIONS, ALLOWED_RANGES, AZURE_LOAD_BALANCER, AZURE_TAGS, FIREWALL_STYLES,
                    NAT_BEHAVIOURS, PORT_ALLOCATIONS, REJECT_TYPES, SCENARIO_DIR, Address, Firewall, Forward,
                    Host, Interface, Nat, Network, PortSet, Router, Rule, Scanner, Scenario, match_address)
from .reader import _Reader, from_dict, load, loads, resolve, shipped
from .writer import to_toml

__all__ = [
    "PortSet", "Rule", "Firewall", "Network", "Scanner", "Host", "Interface", "Forward",
    "Nat", "Router", "Scenario", "load", "loads", "to_toml", "shipped", "match_address",
    "ACTIONS", "REJECT_TYPES", "NAT_BEHAVIOURS", "PORT_ALLOCATIONS", "FIREWALL_STYLES",
    "AZURE_TAGS", "SCENARIO_DIR", "ALLOWED_RANGES", "AZURE_LOAD_BALANCER", "Address", "from_dict", "resolve",
    "_Reader",
]

