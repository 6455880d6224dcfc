"""A scan result as a pandas DataFrame: one row per (host, port).

pandas is imported here, not at the top of portlab, so the command line and the
engine do not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..results import STATE_ORDER, ScanResult

if TYPE_CHECKING:  # pragma: no cover
    import pandas

COLUMNS = ("address", "name", "port", "protocol", "state", "reason", "service", "tries", "rtt")


def to_dataframe(result: ScanResult) -> "pandas.DataFrame":
    import pandas as pd

    rows = [(host.address, host.name, port.port, port.protocol, str(port.state), port.reason,
             port.service, port.tries, port.rtt)
            for host, port in result.ports()]
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    # An ordered categorical sorts and plots states in nmap's order (open first)
    # instead of alphabetically, and value_counts() lists all six, zeros included.
    frame["state"] = pd.Categorical(frame["state"], categories=list(STATE_ORDER), ordered=True)
    frame["port"] = frame["port"].astype("int64")
    frame["tries"] = frame["tries"].astype("int64")
    frame["rtt"] = frame["rtt"].astype("float64")
    return frame
