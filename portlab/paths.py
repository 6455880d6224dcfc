"""Where portlab's data lives: IANA's CSV, the scenarios, the recordings.

The course runs from a checkout (``pip install -e .``, as the Makefile and
environment.yml do), so the data sits in ``data/`` beside the package.  For any
other layout, point ``PORTLAB_DATA`` at a copy of that folder.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("PORTLAB_DATA") or Path(__file__).resolve().parent.parent / "data")
