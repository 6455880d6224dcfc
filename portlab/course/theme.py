"""One look for every chart of the course: colours by meaning, light and dark themes.

Colours come from the Okabe-Ito and Paul Tol palettes, chosen to stay apart for
the common kinds of colour blindness and to be mid-bright, so that the same fill
reads on JupyterLab's white and on its near-black background.  One colour means
one thing throughout the course (an open port is always the same green); text,
axes and grid take the theme's foreground colour.

Charts are shown through :class:`Chart`, which renders its figure once per
theme and lets the page pick: JupyterLab marks its ``<body>`` with
``data-jp-theme-light``, and a small style rule shows the matching image.  Where
styles are stripped (an untrusted notebook), the light image shows alone.  Every
chart carries a text equivalent for learners who cannot see it, as the images'
alt text and in a "Text description" fold below them.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import matplotlib
from matplotlib.figure import Figure

# ---- colours by meaning ----------------------------------------------------------

#: nmap's six port states.
STATE_COLOURS: dict[str, str] = {
    "open": "#009E73",             # bluish green
    "closed": "#0072B2",           # blue
    "filtered": "#E69F00",         # orange
    "unfiltered": "#56B4E9",       # sky blue
    "open|filtered": "#CC79A7",    # reddish purple
    "closed|filtered": "#D55E00",  # vermillion
}

#: The three scan types, when a chart compares them (lines, bar groups).
SCAN_COLOURS: dict[str, str] = {"connect": "#44AA99", "syn": "#882255", "udp": "#DDCC77"}

#: Packets in a sequence diagram: by what they carry.
PACKET_COLOURS: dict[str, str] = {
    "syn": "#44AA99", "syn-ack": "#009E73", "ack": "#999933", "rst": "#0072B2",
    "udp": "#DDCC77", "icmp": "#D55E00", "timeout": "#888888", "call": "#AA4499",
}

#: Firewall verdicts (rule evaluation, before/after diffs).
VERDICT_COLOURS: dict[str, str] = {"accept": "#009E73", "drop": "#E69F00", "reject": "#D55E00",
                                   "policy": "#888888", "unchanged": "#888888"}

#: Everything else a chart may colour; a key here means one thing in every chart.
COLOURS: dict[str, str] = {**STATE_COLOURS}


@dataclass(frozen=True)
class Theme:
    name: str
    foreground: str      # text, axes, arrows
    muted: str           # grid, secondary text
    background: str      # what the page behind the chart looks like (for contrast checks)
    rc: Mapping[str, Any] = field(default_factory=dict)


def _rc(fg: str, muted: str) -> dict[str, Any]:
    return {
        "text.color": fg, "axes.labelcolor": fg, "axes.edgecolor": fg, "axes.titlecolor": fg,
        "xtick.color": fg, "ytick.color": fg, "xtick.labelcolor": fg, "ytick.labelcolor": fg,
        "grid.color": muted, "legend.edgecolor": muted, "legend.labelcolor": fg,
        "figure.facecolor": "none", "axes.facecolor": "none", "savefig.facecolor": "none",
        "legend.facecolor": "none", "legend.framealpha": 0.0,
        "font.size": 10.5, "axes.titlesize": 12, "axes.labelsize": 10.5,
        "xtick.labelsize": 9.5, "ytick.labelsize": 9.5, "legend.fontsize": 9.5,
        "axes.spines.top": False, "axes.spines.right": False,
    }


LIGHT = Theme("light", "#1b1b1b", "#b0b0b0", "#ffffff", _rc("#1b1b1b", "#b0b0b0"))
DARK = Theme("dark", "#e8e8e8", "#6a6a6a", "#111111", _rc("#e8e8e8", "#6a6a6a"))
THEMES = {"light": LIGHT, "dark": DARK}


def theme(name: "str | Theme") -> Theme:
    if isinstance(name, Theme):
        return name
    try:
        return THEMES[name]
    except KeyError:
        raise ValueError(f"theme {name!r}: expected one of {', '.join(THEMES)}") from None


# ---- charts ------------------------------------------------------------------------

Builder = Callable[[Theme], Figure]


class Chart:
    """A figure in both themes, its numbers, and its text equivalent.

    ``build(theme)`` draws the figure (without pyplot); it runs inside the
    theme's matplotlib settings, so text and axes take the theme's colours without
    the builder naming them.  ``data`` is what the chart plots (the pure
    function's result), ``text`` one paragraph that says the same in words.
    """

    def __init__(self, build: Builder, text: str, data: Any = None, title: str = ""):
        self._build = build
        self._png: dict[tuple[str, int], bytes] = {}   # Jupyter asks for HTML and PNG: draw once
        self.text = text
        self.data = data
        self.title = title

    def figure(self, theme_name: "str | Theme" = "light") -> Figure:
        th = theme(theme_name)
        with matplotlib.rc_context(dict(th.rc)):
            return self._build(th)

    def png(self, theme_name: "str | Theme" = "light", dpi: int = 100) -> bytes:
        th = theme(theme_name)
        key = (th.name, dpi)
        if key not in self._png:
            self._png[key] = self._render_png(th, dpi)
        return self._png[key]

    def _render_png(self, th: Theme, dpi: int) -> bytes:
        fig = self.figure(th)
        buf = io.BytesIO()
        with matplotlib.rc_context(dict(th.rc)):
            fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", pad_inches=0.08)
        return buf.getvalue()

    def save(self, path: str, theme_name: "str | Theme" = "light", dpi: int = 100) -> None:
        with open(path, "wb") as out:
            out.write(self.png(theme_name, dpi))

    # Jupyter shows the richest form it can: the HTML with both themes, else the light PNG.
    def _repr_html_(self) -> str:
        alt = html.escape(self.text, quote=True)
        light = base64.b64encode(self.png("light")).decode()
        dark = base64.b64encode(self.png("dark")).decode()
        return (
            "<div class='portlab-chart' role='figure'>"
            "<style>body[data-jp-theme-light='false'] .portlab-chart .pl-light{display:none!important}"
            "body[data-jp-theme-light='false'] .portlab-chart .pl-dark{display:block!important}</style>"
            f"<img class='pl-light' style='max-width:100%' alt='{alt}' src='data:image/png;base64,{light}'>"
            f"<img class='pl-dark' style='display:none;max-width:100%' alt='{alt}' src='data:image/png;base64,{dark}'>"
            f"<details><summary>Text description</summary><p>{html.escape(self.text)}</p></details></div>"
        )

    def _repr_png_(self) -> bytes:
        return self.png("light")

    def __repr__(self) -> str:
        return f"<Chart {self.title or ''}: {self.text[:80]}...>"


def new_figure(width: float = 9.0, height: float = 3.5) -> Figure:
    """A pyplot-free figure with the course's layout; call inside a Chart builder."""
    return Figure(figsize=(width, height), layout="constrained")


# ---- contrast (WCAG 2), for tests and for choosing text on a fill -------------------

def _luminance(colour: str) -> float:
    r, g, b = matplotlib.colors.to_rgb(colour)

    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two colours (1 to 21)."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(fill: str) -> str:
    """Black or white, whichever reads better on ``fill`` (labels inside bars)."""
    return "#000000" if contrast(fill, "#000000") >= contrast(fill, "#ffffff") else "#ffffff"
