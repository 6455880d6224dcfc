"""nbval reads each course notebook with its checked cells' reference outputs put back
from ``tests/notebook-references/`` (the notebooks themselves are stored without
outputs): see :mod:`portlab.course.nbrefs`.  At the repository's root, not in
``notebooks/``, so that a learner's file browser shows notebooks only."""

import threading
from pathlib import Path

try:
    import nbformat
    import nbval.plugin
except ImportError:      # the test extra is not installed: no notebook is collected either
    nbval = None

if nbval is not None:
    from portlab.course.nbrefs import with_references

    class _NbformatWithReferences:
        def __getattr__(self, name):
            return getattr(nbformat, name)

        @staticmethod
        def read(path, *args, **kwargs):
            return with_references(nbformat.read(path, *args, **kwargs), Path(path))

    nbval.plugin.nbformat = _NbformatWithReferences()


def pytest_configure(config):
    # `kill` ends the run as Ctrl-C does: pytest then tears the fixtures down, so the
    # namespaces, labs and processes the tests made go with it.
    if threading.current_thread() is threading.main_thread():
        from portlab.cli import sigterm_as_ctrl_c
        sigterm_as_ctrl_c()
