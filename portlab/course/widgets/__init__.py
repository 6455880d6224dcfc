"""ipywidgets for the course, one module per widget.  Each is a thin skin: the logic it
runs is plain functions elsewhere in the package, and tests drive a widget by setting
``.value`` on its controls and calling ``button.click()``."""
