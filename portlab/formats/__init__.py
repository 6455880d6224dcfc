"""The formats a scan result is written in and read from, one module each.

| module | format | reads | writes |
|---|---|---|---|
| jsonfmt | portlab JSON (docs/design.md; lossless, the recording format) | yes | yes |
| nmapxml | nmap ``-oX`` XML (nmaprun, xmloutputversion 1.05) | yes | yes |
| csvfmt | one row per port, for spreadsheets and ``pandas.read_csv`` | no | yes |
| table | nmap's terminal table (``Not shown: ...``) | no | yes |
| grepable | nmap ``-oG`` grepable lines (``Host: ... Ports: 22/open/tcp//ssh///``) | no | yes |
| frame | a pandas DataFrame | no | yes |

:func:`load` tells portlab JSON from nmap XML by the file's content, never by its name.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from ..errors import BadInput, from_os_error
from ..gcpause import paused

if TYPE_CHECKING:  # pragma: no cover
    from ..results import ScanResult

#: file extension -> format name understood by :func:`render`.
EXTENSIONS = {".json": "json", ".csv": "csv", ".xml": "xml", ".txt": "table", ".nmap": "table",
              ".gnmap": "grepable"}
FORMATS = ("table", "json", "csv", "xml", "grepable")


def render(result: "ScanResult", format: str, wall_s: Optional[float] = None, *,
           only_open: bool = False, command: str = "portlab scan") -> str:
    """The result as text in one of :data:`FORMATS`; the table's last line gives
    *wall_s*, the whole command's time, when the command line passes it.  *only_open*
    (nmap's ``--open``) lists only open and open|filtered ports in the table and the
    grepable lines; *command* is the command line the grepable header quotes."""
    with paused():
        return _render(result, format, wall_s, only_open, command)


def _render(result: "ScanResult", format: str, wall_s: Optional[float], only_open: bool = False,
            command: str = "portlab scan") -> str:
    if format == "json":
        return result.to_json() + "\n"
    if format == "csv":
        return result.to_csv()
    if format == "xml":
        return result.to_xml()
    if format == "table":
        from . import table
        return table.render(result, wall_s=wall_s, only_open=only_open).rstrip("\n") + "\n"
    if format == "grepable":
        from . import grepable
        return grepable.dumps(result, command=command, only_open=only_open)
    raise BadInput(f"output format {format!r}: expected one of {', '.join(FORMATS)}")


def format_for(path: Union[str, Path], default: Optional[str] = None) -> str:
    """The format a file name implies (by extension); *default* when it implies none,
    else one BadInput line."""
    path = Path(path)
    found = EXTENSIONS.get(path.suffix.lower(), default)
    if found is None:
        raise BadInput(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                       f"expected one of {', '.join(EXTENSIONS)} or pass format=")
    return found


def save(result: "ScanResult", path: Union[str, Path], format: Optional[str] = None) -> Path:
    path = Path(path)
    if format is None:
        format = format_for(path)
    from ..atomic import write_text_atomically
    return write_text_atomically(path, render(result, format))


def detect(text: str) -> str:
    """``"json"`` or ``"xml"`` from the first meaningful character; BadInput otherwise."""
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith("{"):
        return "json"
    if head.startswith("<"):
        return "xml"
    if not head:
        raise ValueError("the file is empty; expected portlab JSON or nmap -oX XML")
    raise ValueError("neither portlab JSON (starts with '{') nor nmap XML (starts with '<')")


def read_text(path: Union[str, Path]) -> str:
    """A file's text, with every way of failing turned into one BadInput line."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadInput(f"{path}: is a directory, expected a portlab JSON or nmap XML file") from None
    except OSError as err:
        raise from_os_error(err, f"{path}: cannot read") from None
    try:
        return data.decode("utf-8-sig")  # a BOM (Windows editors add one) is not content
    except UnicodeDecodeError as err:
        raise BadInput(f"{path}: not UTF-8 text (byte {err.start}); expected portlab JSON or nmap XML") from None


def loads(text: str, where: str = "input") -> "ScanResult":
    """Parse portlab JSON or nmap XML text, detected by content."""
    from . import jsonfmt, nmapxml

    try:
        kind = detect(text)
    except ValueError as err:
        raise BadInput(f"{where}: {err}") from None
    if kind == "json":
        return jsonfmt.loads(text, where=where)
    return nmapxml.loads(text, where=where)


def load(path: Union[str, Path]) -> "ScanResult":
    """Read a recorded scan; ``result.source`` is set to the path it came from."""
    result = loads(read_text(path), where=str(path))
    result.source = str(path)
    return result
