"""nbval reads each notebook with its checked cells' reference outputs put back from
``references/`` (the notebooks themselves are stored without outputs): see
:mod:`portlab.course.nbrefs`."""

from pathlib import Path

import nbformat
import nbval.plugin

from portlab.course.nbrefs import with_references


class _NbformatWithReferences:
    def __getattr__(self, name):
        return getattr(nbformat, name)

    @staticmethod
    def read(path, *args, **kwargs):
        return with_references(nbformat.read(path, *args, **kwargs), Path(path))


nbval.plugin.nbformat = _NbformatWithReferences()
