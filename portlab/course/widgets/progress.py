"""The progress summary: per notebook, how many exercises there are and how many you solved.

:func:`summary` does the counting (the exercise registry against the progress
file) and knows nothing about widgets; :func:`progress_summary` shows it as a
table with bars and a Refresh button.  When progress cannot be kept (switched
off, a file that is not a progress file, a place that cannot be written), one
line under the table says so and the rest still works.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import ipywidgets as widgets

from .. import syllabus
from ..exercises import core, progress


@dataclass(frozen=True)
class NotebookProgress:
    number: str
    title: str
    exercises: int    # registered for this notebook
    tried: int        # of those, answered at least once
    solved: int

    @property
    def share(self) -> float:
        return self.solved / self.exercises if self.exercises else 0.0


def summary(done: Optional[Mapping[str, dict]] = None,
            registry: Optional[Mapping[str, core.Exercise]] = None) -> list[NotebookProgress]:
    """One row per course notebook (00..10), in order.

    ``done`` is the progress file's content (default: read it now), ``registry``
    the exercises (default: every notebook's, :func:`core.load_all`).  Entries in
    ``done`` for exercises that no longer exist are not counted.
    """
    done = progress.load() if done is None else done
    registry = core.load_all() if registry is None else registry
    rows = []
    for nb in syllabus.NOTEBOOKS:
        ids = [ex_id for ex_id, ex in registry.items() if ex.notebook == nb.number]
        entries = [done.get(ex_id) or {} for ex_id in ids]
        rows.append(NotebookProgress(nb.number, nb.title, len(ids),
                                     sum(1 for e in entries if int(e.get("tries", 0) or 0) > 0 or e.get("solved")),
                                     sum(1 for e in entries if e.get("solved") is True)))
    return rows


def totals(rows: list[NotebookProgress]) -> tuple[int, int]:
    """``(solved, exercises)`` over the whole course."""
    return sum(r.solved for r in rows), sum(r.exercises for r in rows)


def unwritable(where: Path) -> Optional[str]:
    """Why progress could not be written to ``where`` (without writing), or None if it can."""
    if where.exists():
        if where.is_dir():
            return f"{where} is a folder, not a file"
        if not os.access(where.parent, os.W_OK | os.X_OK):
            return f"no permission to write in {where.parent}"
        return None
    folder = where.parent
    while not folder.exists():          # the first folder that exists is where one would be made
        folder = folder.parent
    if not folder.is_dir():
        return f"{folder} is a file, so no folder can be made under it"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"no permission to write in {folder}"
    return None


def status_line() -> Optional[str]:
    """One line when progress is not being kept (and why), else None."""
    where = progress.path()
    if where is None:
        return "not saved: progress is switched off (PORTLAB_PROGRESS=off)"
    progress.last_problem = None        # sticky across calls: only this read counts
    progress.load()
    if progress.last_problem:
        return "not saved: " + progress.last_problem.split(" (starting afresh")[0] + \
               " (your next answer starts a new file)"
    why = unwritable(where)
    return f"not saved: {why}" if why else None


# The bar's fill: a colour no chart of the course uses for anything else.
SOLVED_COLOUR = "#44BB99"


def table_html(rows: list[NotebookProgress]) -> str:
    """The summary as an HTML table: notebook, solved / exercises, a bar."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{h}</th>"
                   for h in ("notebook", "solved", "tried", "progress"))
    body = []
    for r in rows:
        width = round(100 * r.share)
        bar = (f"<div style='width:160px;height:0.9em;border:1px solid #888;border-radius:2px'>"
               f"<div style='width:{width}%;height:100%;background:{SOLVED_COLOUR}'></div></div>")
        count = f"{r.solved} of {r.exercises}" if r.exercises else "no exercises yet"
        cells = (html.escape(f"{r.number} · {r.title}"), count, str(r.tried), bar)
        body.append("<tr>" + "".join(f"<td style='text-align:left;padding:2px 8px'>{c}</td>" for c in cells)
                    + "</tr>")
    solved, total = totals(rows)
    foot = f"<p>{solved} of {total} exercises solved in the whole course.</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{foot}"


class ProgressWidget(widgets.VBox):
    """``table`` (HTML), ``status`` (the one "not saved" line, or empty), ``refresh_button``."""

    def __init__(self) -> None:
        self.table = widgets.HTML()
        self.status = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        super().__init__([self.table, self.status, self.refresh_button])
        self.refresh_button.on_click(self.refresh)
        self.refresh()

    def refresh(self, _button: object = None) -> None:
        line = status_line()
        self.table.value = table_html(summary())
        self.status.value = (f"<div style='color:#888888;font-size:90%'>{html.escape(line)}</div>"
                             if line else "")


def progress_summary() -> ProgressWidget:
    """Your progress across the course's notebooks (press Refresh after answering more)."""
    return ProgressWidget()
