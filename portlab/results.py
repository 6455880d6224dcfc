"""Scan results: what a scan found, per host and per port, and the scan as a whole.

The engine builds these; the replay transport and `portlab show` read them back
from portlab JSON or nmap XML.  Formats (JSON, CSV, XML, table, DataFrame) hang
off ScanResult.  (Skeleton by the lead; the formats are filled in separately.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Optional

from . import __version__
from .states import PortState, ScanType
from .transports.base import TraceEvent


@dataclass
class PortResult:
    port: int
    protocol: str                 # "tcp" | "udp"
    state: PortState
    reason: str
    service: Optional[str] = None  # the registry's name for (port, protocol)
    tries: int = 1
    rtt: Optional[float] = None
    trace: tuple[TraceEvent, ...] = ()


@dataclass
class HostResult:
    address: str
    name: Optional[str] = None
    ports: list[PortResult] = field(default_factory=list)


@dataclass
class ScanResult:
    scan_type: ScanType
    transport: str                # "connect" | "raw" | "sim" | "replay" | "nmap"
    started: datetime             # timezone-aware UTC
    elapsed_s: float
    hosts: list[HostResult] = field(default_factory=list)
    probes_sent: int = 0
    retries: int = 0
    portlab: str = __version__
    source: Optional[str] = None  # where a replayed result came from (a file path)
