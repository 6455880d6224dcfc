"""The simulated network: Linux-like hosts, three firewall styles, NAT, virtual time.

Pure Python, no packets.  :class:`SimNetwork` is built from a scenario;
:class:`portlab.transports.sim.SimTransport` scans it; :mod:`.experiments` holds
the course's what-if helpers.  One concept a module:

* :mod:`.kernel` -- how a Linux stack answers, ICMP errno table, ICMP rate limits
* :mod:`.firewall` -- nftables / AWS security group / Azure NSG decisions
* :mod:`.conntrack` -- stateful tracking (``ct state established,related``)
* :mod:`.nat` -- the RFC 4787 / RFC 5382 NAT table
* :mod:`.clock` -- virtual time
* :mod:`.network` -- machines, routing, the walk of a packet and its answer
"""

from .clock import VirtualClock
from .nat import NatTable
from .network import Answer, SimNetwork

__all__ = ["Answer", "NatTable", "SimNetwork", "VirtualClock"]
