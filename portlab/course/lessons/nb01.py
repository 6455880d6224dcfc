"""Notebook 01 (ports and ranges): several clients connected to one server, as 5-tuples.

:func:`many_clients` starts a real TCP server on ``127.0.0.1`` (on a port the OS
chooses, so nothing can clash), connects some clients to it, and shows each
connection as the server sees it, as the five parts of its 5-tuple.  Every socket
is closed before it returns, whatever happens; nothing leaves the machine.
"""

from __future__ import annotations

import socket

import pandas as pd

from ...errors import BadInput

LOOPBACK = "127.0.0.1"
MAX_CLIENTS = 50
TIMEOUT_S = 5.0
COLUMNS = ["protocol", "client address", "client port", "server address", "server port"]


def many_clients(clients: int = 1) -> pd.DataFrame:
    """Connect a number of clients to one server on loopback and show each connection's 5-tuple.

    Each row is read from the server's side: the socket ``accept()`` returned for that
    connection (its own address and port, and its peer's).
    """
    if isinstance(clients, bool) or not isinstance(clients, int) or not 1 <= clients <= MAX_CLIENTS:
        raise BadInput(f"clients {clients!r}: expected a whole number from 1 to {MAX_CLIENTS}")
    opened: list[socket.socket] = []
    rows = []
    try:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        opened.append(server)
        server.bind((LOOPBACK, 0))
        server.listen(clients)
        server.settimeout(TIMEOUT_S)
        for _ in range(clients):
            client = socket.create_connection(server.getsockname(), timeout=TIMEOUT_S)
            opened.append(client)
            conn, _peer = server.accept()     # the server's socket for this one connection
            opened.append(conn)
            (server_ip, server_port), (client_ip, client_port) = conn.getsockname(), conn.getpeername()
            rows.append(("tcp", client_ip, client_port, server_ip, server_port))
    finally:
        for sock in reversed(opened):
            sock.close()
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame.index = pd.RangeIndex(1, len(rows) + 1, name="connection")
    return frame
