"""portlab: ports, port scanning, firewalls and NAT, for learning.

Heavy parts (pandas, the scanner, the simulator) are imported only when used, so
that ``import portlab`` and a first registry lookup stay fast.
"""

__version__ = "0.1.0"

__all__ = ["scan", "scan_async", "__version__"]


def __getattr__(name):
    # portlab.scan / portlab.scan_async without importing the engine at `import portlab`.
    if name in ("scan", "scan_async"):
        from . import engine
        return getattr(engine, name)
    raise AttributeError(f"module 'portlab' has no attribute {name!r}")
