"""A scan result as a pandas DataFrame: one row per (host, port).

pandas is imported here, not at the top of portlab, so the command line and the
engine do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..portcolumns import PortColumns, columns_of
from ..results import STATE_ORDER, ScanResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas

COLUMNS = ("address", "name", "port", "protocol", "state", "reason", "service", "tries", "rtt")


def to_dataframe(result: ScanResult) -> "pandas.DataFrame":
    import pandas as pd

    parts = []
    for host in result.hosts:
        columns = columns_of(host.ports)
        if columns is not None:
            parts.append(_from_columns(pd, host.address, host.name, columns))
        else:
            rows = [(host.address, host.name, port.port, port.protocol, str(port.state), port.reason,
                     port.service, port.tries, port.rtt) for port in host.ports]
            parts.append(pd.DataFrame.from_records(rows, columns=list(COLUMNS)))
    if not parts:
        frame = pd.DataFrame.from_records([], columns=list(COLUMNS))
    elif len(parts) == 1:
        frame = parts[0]
    else:
        frame = pd.concat(parts, ignore_index=True)
    # An ordered categorical sorts and plots states in nmap's order (open first)
    # instead of alphabetically, and value_counts() lists all six, zeros included.
    frame["state"] = pd.Categorical(frame["state"], categories=list(STATE_ORDER), ordered=True)
    frame["port"] = frame["port"].astype("int64")
    frame["tries"] = frame["tries"].astype("int64")
    frame["rtt"] = frame["rtt"].astype("float64")
    return frame


def _from_columns(pd, address: str, name, columns: PortColumns) -> "pandas.DataFrame":
    """One host's rows straight from the engine's columns (no PortResult per port)."""
    n = len(columns)
    return pd.DataFrame({
        "address": [address] * n, "name": [name] * n,
        "port": list(columns.numbers), "protocol": [columns.protocol] * n,
        "state": list(map(str, columns.states())), "reason": columns.reasons(),
        "service": columns.services(), "tries": list(columns.tries), "rtt": list(columns.rtt),
    }, columns=list(COLUMNS))
