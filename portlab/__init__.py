"""portlab: ports, port scanning, firewalls and NAT, for learning.

Heavy parts (pandas, the scanner, the simulator) are imported only when used, so
that ``import portlab`` and a first registry lookup stay fast.
"""

__version__ = "0.1.0"
