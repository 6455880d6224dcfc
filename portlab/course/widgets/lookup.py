"""Interactive pieces for the notebooks (ipywidgets).

Each function returns a ready widget; the logic it runs lives elsewhere in the
package, so that the widget stays a thin skin that tests can drive by setting
``.value`` on its controls.
"""

from __future__ import annotations

import html
from typing import Optional

import ipywidgets as widgets

from ... import registry
from ...errors import BadInput
from ...ranges import port_range

MAX_ROWS = 40  # a long name or a wide range can match hundreds of rows


def services_html(services: list[registry.Service], limit: int = MAX_ROWS) -> str:
    """An HTML table of registry rows (the first ``limit``), escaped."""
    head = "".join(f"<th style='text-align:left'>{h}</th>" for h in ("port", "protocol", "service", "range",
                                                                     "description"))
    body = []
    for svc in services[:limit]:
        cells = (
            svc.port_text or "-", svc.protocol or "any", svc.name or f"({svc.status})",
            port_range(svc.port_start).key if svc.port_start is not None else "-",
            (svc.description or "").splitlines()[0] if svc.description else "",
        )
        body.append("<tr>" + "".join(f"<td style='text-align:left'>{html.escape(c)}</td>" for c in cells) + "</tr>")
    more = f"<p>... and {len(services) - limit} more rows.</p>" if len(services) > limit else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def lookup_result_html(query: str, protocol: Optional[str] = None) -> str:
    """What the lookup box shows for ``query``: a table, 'no entries', or the input error."""
    if not query.strip():
        return "<i>Type a port (443), a range (80-90) or a service name (ssh).</i>"
    try:
        hits = registry.search(query, protocol)
    except BadInput as err:
        # The learner sees the same one-line message as on the command line.
        return f"<span style='color:#b00020'>{html.escape(str(err))}</span>"
    if not hits:
        return f"<i>No entries for {html.escape(query.strip())!s} in the IANA registry.</i>"
    return services_html(hits)


def lookup_box(initial: str = "443") -> widgets.VBox:
    """A text box and a protocol menu; the IANA rows for what is typed appear below.

    Layout: ``box.children == (HBox(text, protocol), result)``.  Setting
    ``text.value = "ssh"`` updates ``result.value`` (HTML); that is how tests drive it.
    """
    text = widgets.Text(value=initial, description="Port or name", placeholder="443, 80-90 or ssh",
                        continuous_update=True, style={"description_width": "initial"})
    protocol = widgets.Dropdown(options=[("any", None)] + [(p, p) for p in registry.PROTOCOLS], value=None,
                                description="Protocol")
    result = widgets.HTML()

    def refresh(_change: object = None) -> None:
        result.value = lookup_result_html(text.value, protocol.value)

    text.observe(refresh, names="value")
    protocol.observe(refresh, names="value")
    refresh()
    return widgets.VBox([widgets.HBox([text, protocol]), result])
