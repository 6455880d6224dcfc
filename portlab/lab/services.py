"""The service daemon each lab host runs: ``python -m portlab.lab.services --tcp 22,80 --udp 53``.

It listens on every TCP port given (accepts a connection, then closes it: a port
scan only needs the handshake) and answers every UDP datagram with a short reply,
which is what makes a UDP scan call a port open.  Binds 0.0.0.0 inside its own
namespace.  Prints ``ready`` on stdout once every socket is bound, so the lab
starts scanning only after the services exist; exits cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import selectors
import signal
import socket
import struct
import sys

UDP_REPLY = b"portlab\n"
# Linux's IP_PKTINFO (socket.IP_PKTINFO is missing from some Python builds).
IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)
PKTINFO = struct.Struct("=i4s4s")      # struct in_pktinfo: ifindex, spec_dst, addr


def _ports(text: str) -> list[int]:
    ports = []
    for part in filter(None, text.split(",")):
        a, _, b = part.partition("-")
        ports += range(int(a), int(b or a) + 1)
    if any(not 1 <= p <= 65535 for p in ports):
        raise argparse.ArgumentTypeError(f"{text!r}: ports must be 1-65535")
    return ports


def open_sockets(tcp: list[int], udp: list[int], address: str = "0.0.0.0") -> list[socket.socket]:
    socks: list[socket.socket] = []
    try:
        for port in tcp:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((address, port))
            s.listen(128)
            s.setblocking(False)
        for port in udp:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(s)
            # On a machine with several addresses (a router), the reply must come from
            # the address the datagram was sent to, or the scanner ignores it; a socket
            # bound to 0.0.0.0 would pick the source by route.  Real UDP daemons do this too.
            s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            s.bind((address, port))
            s.setblocking(False)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def answer_udp(s: socket.socket) -> None:
    """Reply to one datagram, from the address it was sent to."""
    _, ancdata, _, peer = s.recvmsg(2048, socket.CMSG_SPACE(PKTINFO.size))
    cmsgs = []
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= PKTINFO.size:
            _, _, destination = PKTINFO.unpack_from(data)
            cmsgs = [(socket.IPPROTO_IP, IP_PKTINFO, PKTINFO.pack(0, destination, b"\0" * 4))]
    s.sendmsg([UDP_REPLY], cmsgs, 0, peer)


def serve(socks: list[socket.socket], stop) -> None:
    """Answer until *stop()* is true.  Each wake-up handles what is ready, nothing blocks."""
    with selectors.DefaultSelector() as sel:
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        while not stop():
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    if s.type == socket.SOCK_STREAM:
                        conn, _ = s.accept()
                        conn.close()
                    else:
                        answer_udp(s)
                except (BlockingIOError, InterruptedError, ConnectionError):
                    # The peer gave up (a SYN scan's RST) or a stale ICMP error: not our problem.
                    continue


class _Stop(Exception):
    """Raised by the signal handler, so a stop interrupts select() at once."""


def _stop(*_args) -> None:
    raise _Stop


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="portlab.lab.services", description=__doc__.splitlines()[0])
    parser.add_argument("--tcp", type=_ports, default=[], help="TCP ports to listen on, e.g. 22,80,8000-8010")
    parser.add_argument("--udp", type=_ports, default=[], help="UDP ports to answer on")
    parser.add_argument("--address", default="0.0.0.0")
    args = parser.parse_args(argv)
    # Teardown sends SIGTERM and waits for the exit; a flag checked between select()
    # timeouts would cost every lab teardown up to one timeout per daemon.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    socks: list[socket.socket] = []
    try:
        socks = open_sockets(args.tcp, args.udp, args.address)
        print("ready", flush=True)
        serve(socks, lambda: False)
    except _Stop:
        pass
    except OSError as err:
        print(f"portlab.lab.services: cannot bind: {err}", file=sys.stderr)
        return 1
    finally:
        for s in socks:
            s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
