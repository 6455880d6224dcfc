"""CSV: one row per port, the columns docs/design.md names, for ``pandas.read_csv``.

Ports held only as a count (an nmap file's extraports, or the folded answers of
a scan larger than ``portlab.engine.FOLD_PORTS``) have no row; the JSON keeps them.
"""

from __future__ import annotations

import csv
import io

from ..results import ScanResult

COLUMNS = ("address", "name", "port", "protocol", "state", "reason", "service")


def dumps(result: ScanResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for host, port in result.ports():
        writer.writerow([host.address, host.name or "", port.port, port.protocol,
                         str(port.state), port.reason, port.service or ""])
    return buffer.getvalue()
