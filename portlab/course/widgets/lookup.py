"""The lookup box of notebook 01: type a port, a range or a name, see IANA's rows.

The widget is a thin skin over :func:`portlab.registry.search` (the same search as
``portlab lookup``); tests drive it by setting ``.value`` on its controls.
"""

from __future__ import annotations

import html
from typing import Optional

import ipywidgets as widgets

from ... import registry
from ...commands.lookup import NAME_ONLY_NOTE, port_cell
from ...errors import BadInput
from ...ranges import port_range

MAX_ROWS = 40  # a long name or a wide range can match hundreds of rows
ANY = "any"    # the menu's "every protocol" choice (a real value: None would select nothing)

# Inline styles, because a notebook output may not carry a style sheet (untrusted,
# or Voila): cells get padding so columns never run together, text starts at the left.
_CELL = "padding:3px 12px 3px 0;text-align:left;vertical-align:top"
_HEAD = _CELL + ";border-bottom:1px solid currentColor"


def services_html(services: list[registry.Service], limit: int = MAX_ROWS) -> str:
    """An HTML table of registry rows (the first ``limit``), escaped."""
    head = "".join(f"<th style='{_HEAD}'>{h}</th>" for h in ("port", "protocol", "service", "range",
                                                              "description"))
    body = []
    for svc in services[:limit]:
        cells = (
            port_cell(svc), svc.protocol or "any", svc.name or f"({svc.status})",
            port_range(svc.port_start).key if svc.port_start is not None else "-",
            (svc.description or "").splitlines()[0] if svc.description else "",
        )
        body.append("<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(c)}</td>" for c in cells) + "</tr>")
    more = f"<p>... and {len(services) - limit} more rows.</p>" if len(services) > limit else ""
    note = (f"<p style='margin-top:4px'><i>{html.escape(NAME_ONLY_NOTE)}</i></p>"
            if any(svc.port_start is None for svc in services[:limit]) else "")
    return (f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>{more}{note}")


def lookup_result_html(query: str, protocol: Optional[str] = None) -> str:
    """What the lookup box shows for ``query``: a table, 'no entries', or the input error."""
    if not query.strip():
        return "<i>Type a port (443), a range (80-90) or a service name (ssh).</i>"
    protocol = None if protocol == ANY else protocol
    try:
        hits = registry.search(query, protocol)
    except BadInput as err:
        # The learner sees the same one-line message as on the command line.
        # No colour of its own: a fixed red reads badly on one of the two themes.
        return f"<span><b>Not a port, range or name:</b> {html.escape(str(err))}</span>"
    # A query that reaches 49152 or above gets a line for the part the registry leaves out:
    # without it, "49000-" seems to stop at 49151.
    dynamic = registry.dynamic_range_note(query)
    note = f"<p style='margin-top:4px'><i>{html.escape(dynamic)}</i></p>" if dynamic else ""
    if not hits:
        return f"<i>No entries for {html.escape(query.strip())!s} in the IANA registry.</i>{note}"
    return services_html(hits) + note


def lookup_box(initial: str = "443", protocol: str = ANY) -> widgets.VBox:
    """A text box and a protocol menu; the IANA rows for what is typed appear below.

    Layout: ``box.children == (HBox(text, protocol), result)``.  The menu starts on
    "any" (every protocol).  Setting ``text.value = "ssh"`` updates ``result.value``
    (HTML); that is how tests drive it.
    """
    text = widgets.Text(value=initial, description="Port or name", placeholder="443, 80-90 or ssh",
                        continuous_update=True, style={"description_width": "initial"})
    menu = widgets.Dropdown(options=[ANY, *registry.PROTOCOLS], value=protocol, description="Protocol")
    result = widgets.HTML()

    def refresh(_change: object = None) -> None:
        result.value = lookup_result_html(text.value, menu.value)

    text.observe(refresh, names="value")
    menu.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([text, menu]), result])
