"""Render every chart gallery, light and dark, for review: ``python -m portlab.course.figures OUTDIR``.

Each module in :mod:`portlab.course.charts` may define ``gallery() -> dict[str, Chart]``
(examples built from real simulated, recorded or loopback results).  This writes
``OUTDIR/<module>-<name>-light.png`` and ``-dark.png`` for each, prints the paths,
and carries on past a module whose gallery fails (naming it), so one broken
chart does not hide the rest; the exit status says whether any failed.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import traceback
from pathlib import Path
from typing import Iterable, Optional

from . import charts
from .theme import THEMES


def chart_modules() -> list[str]:
    """The names of the modules in portlab.course.charts, sorted."""
    return sorted(info.name for info in pkgutil.iter_modules(charts.__path__) if not info.name.startswith("_"))


def render(outdir: Path, modules: Optional[Iterable[str]] = None, out=sys.stdout) -> tuple[list[Path], list[str]]:
    """Write every gallery chart in every theme; return (paths written, modules that failed)."""
    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    failed: list[str] = []
    for name in modules or chart_modules():
        try:
            module = importlib.import_module(f"{charts.__name__}.{name}")
            gallery = getattr(module, "gallery", None)
            if gallery is None:
                continue
            for chart_name, chart in gallery().items():
                for theme_name in THEMES:
                    path = outdir / f"{name}-{chart_name}-{theme_name}.png"
                    chart.save(str(path), theme_name)
                    written.append(path)
                    print(path, file=out)
        except Exception:  # a review tool: report the module and go on to the next
            failed.append(name)
            print(f"{name}: gallery failed:\n{traceback.format_exc()}", file=sys.stderr)
    return written, failed


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 1 or args[0] in ("-h", "--help"):
        print("usage: python -m portlab.course.figures OUTDIR [MODULE...]", file=sys.stderr)
        return 2
    _written, failed = render(Path(args[0]), args[1:] or None)
    if failed:
        print(f"galleries that failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
