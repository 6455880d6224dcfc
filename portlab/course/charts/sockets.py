"""A picture of one connection: the client, the server, and the 5-tuple between them.

:func:`connection` draws a real connection from its sockets (``getsockname`` and
``getpeername`` say who is who), so notebook 01 shows the very pair it opened on
loopback.  :func:`five_tuple` is the pure part: what the chart draws, as data.
"""

from __future__ import annotations

import socket
from typing import Optional

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ...ranges import ephemeral_range, port_range
from ..theme import Chart, Theme, new_figure, text_on

# One colour per end of the connection (Paul Tol's muted indigo/cyan family is taken by
# the port ranges, so the two ends take neutral outlines and one accent: the client's port,
# the only number the operating system chose).
CHOSEN_COLOUR = "#FFAABB"   # the ephemeral range's colour in the range chart: the same meaning
LABEL_SIZE = 10.5


def five_tuple(client: tuple[str, int], server: tuple[str, int], protocol: str = "tcp",
               ephemeral: Optional[tuple[int, int]] = None) -> dict:
    """The connection as data: the 5-tuple, and where the client's port comes from."""
    lo, hi = ephemeral or ephemeral_range()
    return {
        "protocol": protocol,
        "source": {"address": client[0], "port": client[1]},
        "destination": {"address": server[0], "port": server[1]},
        "tuple": (protocol, client[0], client[1], server[0], server[1]),
        "ephemeral_range": (lo, hi),
        "client_port_in_ephemeral_range": lo <= client[1] <= hi,
        "client_port_iana_range": port_range(client[1]).key,
    }


def connection(client_sock: socket.socket, ephemeral: Optional[tuple[int, int]] = None) -> Chart:
    """The chart of the connection ``client_sock`` has open (its own end and its peer)."""
    client = client_sock.getsockname()[:2]
    server = client_sock.getpeername()[:2]
    protocol = "tcp" if client_sock.type == socket.SOCK_STREAM else "udp"
    return picture(client, server, protocol, ephemeral)


def picture(client: tuple[str, int], server: tuple[str, int], protocol: str = "tcp",
            ephemeral: Optional[tuple[int, int]] = None) -> Chart:
    """Client box, server box, the connection between them, and its 5-tuple below."""
    data = five_tuple(client, server, protocol, ephemeral)
    lo, hi = data["ephemeral_range"]

    def box(ax, th: Theme, x: float, title: str, lines: list[str]) -> None:
        ax.add_patch(FancyBboxPatch((x, 2.1), 3.8, 2.3, boxstyle="round,pad=0.05", fill=False,
                                    edgecolor=th.foreground, linewidth=1.4))
        ax.text(x + 1.9, 4.1, title, ha="center", va="top", fontsize=LABEL_SIZE + 1, fontweight="bold")
        for i, line in enumerate(lines):
            ax.text(x + 1.9, 3.5 - 0.45 * i, line, ha="center", va="top", fontsize=LABEL_SIZE)

    def build(th: Theme):
        fig = new_figure(9.5, 4.4)
        ax = fig.add_subplot()
        ax.set_xlim(0, 12)
        ax.set_ylim(0, 4.8)
        ax.axis("off")
        box(ax, th, 0.1, "client", ["socket(), connect()", f"address {client[0]}",
                                    f"port {client[1]} (ephemeral)"])
        box(ax, th, 8.1, "server", ["socket(), bind(), listen()", f"address {server[0]}",
                                    f"port {server[1]} (listening)"])
        ax.add_patch(FancyArrowPatch((4.0, 3.5), (8.0, 3.5), arrowstyle="-|>", mutation_scale=16,
                                     color=th.foreground, linewidth=1.4))
        ax.text(6.0, 3.65, f"connect to {server[0]}:{server[1]}", ha="center", va="bottom", fontsize=LABEL_SIZE)
        ax.add_patch(FancyArrowPatch((8.0, 2.9), (4.0, 2.9), arrowstyle="-|>", mutation_scale=16,
                                     color=th.foreground, linewidth=1.4, linestyle="--"))
        ax.text(6.0, 2.75, f"replies to {client[0]}:{client[1]}", ha="center", va="top",
                fontsize=LABEL_SIZE)
        # The 5-tuple as five cells; the client's port (the OS's choice) is the highlighted one.
        cells = [("protocol", protocol), ("source address", client[0]), ("source port", str(client[1])),
                 ("destination address", server[0]), ("destination port", str(server[1]))]
        width, x0 = 2.3, 0.25
        for i, (name, value) in enumerate(cells):
            x = x0 + i * width
            chosen = name == "source port"
            ax.add_patch(FancyBboxPatch((x, 0.55), width - 0.1, 0.75, boxstyle="square,pad=0",
                                        facecolor=CHOSEN_COLOUR if chosen else "none", edgecolor=th.foreground))
            ax.text(x + (width - 0.1) / 2, 0.92, value, ha="center", va="center", fontsize=LABEL_SIZE + 0.5,
                    color=text_on(CHOSEN_COLOUR) if chosen else th.foreground, fontweight="bold")
            ax.text(x + (width - 0.1) / 2, 1.4, name, ha="center", va="bottom", fontsize=LABEL_SIZE)
        ax.text(0.25, 0.35, f"The OS picked source port {client[1]} from its ephemeral range {lo}-{hi}.", ha="left", va="top", fontsize=LABEL_SIZE)
        ax.set_title("A client, a server, and the 5-tuple of their connection")
        return fig

    text = (f"A client box on the left and a server box on the right. The server created a socket, bound it "
            f"to {server[0]} port {server[1]} and listens. The client created a socket and called connect() "
            f"to {server[0]}:{server[1]}; the operating system gave the client port {client[1]}, from its "
            f"ephemeral range {lo}-{hi}. Below, the 5-tuple of the connection: protocol {protocol}, source "
            f"address {client[0]}, source port {client[1]}, destination address {server[0]}, destination "
            f"port {server[1]}.")
    return Chart(build, text, data, "five-tuple")


def gallery() -> dict[str, Chart]:
    """A real connection on loopback, as notebook 01 opens it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5) as client:
            conn, _ = server.accept()
            with conn:
                chart = connection(client)
    return {"loopback-connection": chart}
