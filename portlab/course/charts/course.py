"""Charts of the course itself: the course map (notebooks and their minutes) and a learner's progress.

:func:`course_minutes` and :func:`progress_counts` are the pure functions that
give the numbers; :func:`course_map` and :func:`progress_chart` draw them.
"""

from __future__ import annotations

from typing import Optional, Sequence

from .. import syllabus
from ..theme import Chart, Theme, new_figure, text_on

# Colours with one meaning each, used by no other chart of the course.
MINUTES_COLOUR = "#77AADD"   # time to spend on a notebook
SOLVED_COLOUR = "#44BB99"    # exercises solved (the same green as the progress table's bars)


def course_minutes() -> list[dict]:
    """One row per notebook in course order: number, title, minutes, and the minute it starts at."""
    rows, start = [], 0
    for nb in syllabus.NOTEBOOKS:
        rows.append({"number": nb.number, "title": nb.title, "minutes": nb.minutes, "starts_at": start})
        start += nb.minutes
    return rows


def _hours(minutes: int) -> str:
    return f"{minutes // 60} h {minutes % 60:02d} min"


def course_map() -> Chart:
    """A bar per notebook, its estimated minutes, and the running total on the right."""
    rows = course_minutes()
    total = sum(r["minutes"] for r in rows)
    longest = max(rows, key=lambda r: r["minutes"])

    def build(th: Theme):
        fig = new_figure(8.5, 4.4)
        ax = fig.add_subplot()
        labels = [f"{r['number']} · {r['title']}" for r in rows]
        ys = range(len(rows))
        bars = ax.barh(ys, [r["minutes"] for r in rows], color=MINUTES_COLOUR, height=0.7)
        for bar, r in zip(bars, rows):
            ax.text(bar.get_width() - 1.5, bar.get_y() + bar.get_height() / 2, f"{r['minutes']} min",
                    ha="right", va="center", fontsize=9, color=text_on(MINUTES_COLOUR))
            done_by = r["starts_at"] + r["minutes"]
            ax.text(bar.get_width() + 1.5, bar.get_y() + bar.get_height() / 2, f"total {_hours(done_by)}",
                    ha="left", va="center", fontsize=8.5, color=th.foreground)
        ax.set_yticks(list(ys), labels)
        ax.invert_yaxis()          # notebook 00 on top: read the course from top to bottom
        ax.set_xlim(0, max(r["minutes"] for r in rows) * 1.45)
        ax.set_xlabel("estimated minutes for one learner")
        ax.set_title(f"The course map: {len(rows)} notebooks, about {_hours(total)} in all")
        ax.grid(axis="x", alpha=0.4)
        return fig

    text = (f"A horizontal bar chart of the {len(rows)} notebooks in course order with their estimated time: "
            + "; ".join(f"{r['number']} {r['title']} {r['minutes']} minutes" for r in rows)
            + f". Together about {total} minutes ({_hours(total)}); the longest is {longest['number']} "
              f"{longest['title']} with {longest['minutes']} minutes.")
    return Chart(build, text, rows, "Course map")


def progress_counts(rows: Optional[Sequence] = None) -> list[dict]:
    """Per notebook: exercises and solved, from :func:`portlab.course.widgets.progress.summary` rows
    (default: the learner's progress now)."""
    if rows is None:
        from ..widgets.progress import summary
        rows = summary()
    return [{"number": r.number, "title": r.title, "exercises": r.exercises, "solved": r.solved} for r in rows]


def progress_chart(rows: Optional[Sequence] = None) -> Chart:
    """Your progress per notebook: a bar of all its exercises with the solved part filled in."""
    data = progress_counts(rows)
    solved, total = sum(d["solved"] for d in data), sum(d["exercises"] for d in data)

    def build(th: Theme):
        fig = new_figure(8.5, 3.4)
        ax = fig.add_subplot()
        xs = range(len(data))
        ax.bar(xs, [d["exercises"] for d in data], width=0.7, color="none", edgecolor=th.foreground,
               linewidth=1.0, label="exercises")
        ax.bar(xs, [d["solved"] for d in data], width=0.7, color=SOLVED_COLOUR, label="solved")
        for x, d in zip(xs, data):
            if d["exercises"]:
                ax.text(x, d["exercises"] + 0.1, f"{d['solved']}/{d['exercises']}", ha="center", va="bottom",
                        fontsize=8.5)
        ax.set_xticks(list(xs), [d["number"] for d in data])
        ax.set_xlabel("notebook")
        ax.set_ylabel("exercises")
        ax.set_ylim(0, max([d["exercises"] for d in data] + [1]) + 1)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_title(f"Your progress: {solved} of {total} exercises solved")
        ax.legend(loc="upper right")
        return fig

    per = "; ".join(f"notebook {d['number']}: {d['solved']} of {d['exercises']}" for d in data if d["exercises"])
    text = (f"A bar chart with one bar per notebook (00 to 10): the outline is how many exercises it has, the "
            f"filled part how many you solved. {solved} of {total} solved in all. {per or 'No exercises yet'}.")
    return Chart(build, text, data, "Progress")


def gallery() -> dict[str, Chart]:
    """The course map, and the progress chart of an example learner who finished notebook 00
    (built from the real exercise registry, not from anyone's progress file)."""
    from ..exercises import core
    from ..widgets.progress import summary
    registry = core.load_all()
    example = {ex_id: {"tries": 1, "solved": True} for ex_id, ex in registry.items() if ex.notebook == "00"}
    return {"course-map": course_map(), "progress-example": progress_chart(summary(example, registry))}
