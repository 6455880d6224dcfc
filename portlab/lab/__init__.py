"""The live lab: a scenario built as real Linux network namespaces with nftables.

Pure parts (:mod:`.names`, :mod:`.nftables`, :mod:`.plan`) turn a scenario into
text and commands; :mod:`.run` executes them and tears them down; :mod:`.services`
is the little daemon each host runs; :mod:`.recording` scans a lab and saves it.
"""

from __future__ import annotations

__all__ = ["Lab", "lab_status", "teardown", "state_dir"]


def __getattr__(name: str):
    # The runner pulls in subprocess and the engine; import it only when asked,
    # so that `import portlab.lab.plan` in a pure test stays pure.
    if name in __all__:
        from . import run

        return getattr(run, name)
    raise AttributeError(name)
