"""The course as a static web site: ``python -m portlab.course.site OUTDIR``.

Every numbered notebook (``notebooks/NN-*.ipynb``) is executed afresh in simulated
mode and written as one HTML page with all its outputs and charts; an
``index.html`` lists the notebooks in course order.  Links between notebooks
(``03-scan-types.ipynb``) become links between pages (``03-scan-types.html``).

*Simulated mode* here means what a learner without root sees: where this runs as
root, the kernel runs with every capability dropped (``setpriv``), so the cells
marked LIVE print why they skip instead of building a namespace lab; nothing but
loopback is ever touched, as in the course itself.  The learner's progress file is
switched off (``PORTLAB_PROGRESS=off``), so building the site records no tries.

Widgets need a running kernel; a static page cannot run one, so each widget's
place says so and points to JupyterLab or Binder.  Charts stay: each is an image
with its alt text and its text description.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import html
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

from ..paths import DATA_DIR

NOTEBOOK_DIR = DATA_DIR.parent / "notebooks"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = ("<div class='portlab-widget-note' style='border:1px dashed #888;padding:6px 10px;margin:4px 0'>"
               "<i>An interactive widget is here. It needs a running Python kernel: open this notebook in "
               "JupyterLab (<code>make lab</code>) or on Binder to use it.</i></div>")
# href="03-scan-types.ipynb" or "./03-scan-types.ipynb#anchor", in markdown links turned HTML
# The lab template loads require.js and MathJax from a CDN; the course uses neither on a static
# page (no widgets run there, no formulas), and a page that loads nothing from elsewhere works offline.
EXTERNAL_SCRIPT = re.compile(r'<script[^>]*\ssrc="https?://[^"]*"[^>]*>\s*</script>\s*')
NOTEBOOK_LINK = re.compile(r'''(href=["'])(?:\./)?(\d\d-[A-Za-z0-9_-]+)\.ipynb(#[^"']*)?(["'])''')


def course_notebooks(directory: Path = NOTEBOOK_DIR) -> list[Path]:
    """The numbered notebooks, in course order."""
    return sorted(directory.glob("[0-9][0-9]-*.ipynb"))


def _learner_kernel(workdir: Path):
    """A kernel manager whose kernel runs as a learner without root would (see the module doc)."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("setpriv"):
        argv = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--ambient-caps=-all", *argv]
    spec_dir = workdir / "kernels" / "portlab-learner"
    spec_dir.mkdir(parents=True, exist_ok=True)
    (spec_dir / "kernel.json").write_text(json.dumps(
        {"argv": argv, "display_name": "Python 3 (portlab, as a learner)", "language": "python",
         "env": {"PORTLAB_PROGRESS": "off"}}))
    ksm = KernelSpecManager(kernel_dirs=[str(workdir / "kernels")])
    return KernelManager(kernel_name="portlab-learner", kernel_spec_manager=ksm)


def execute(path: Path, workdir: Path, timeout: int = 300):
    """Run notebook *path* top to bottom in its own directory; returns the executed notebook.

    A cell that raises stops the run (``NotebookExecutionError`` names the cell), as it
    would stop a learner: the site is only built from a course that runs.
    """
    import nbformat
    from nbconvert.preprocessors import ExecutePreprocessor

    nb = nbformat.read(path, as_version=4)
    ep = ExecutePreprocessor(timeout=timeout, kernel_name="portlab-learner", allow_errors=False)
    km = _learner_kernel(workdir)
    try:
        ep.preprocess(nb, {"metadata": {"path": str(path.parent)}}, km=km)
    finally:   # a kernel manager handed in is ours to stop
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return nb


def replace_widgets(nb) -> int:
    """Put a note where each widget was (a static page has no kernel to draw it); returns how many."""
    count = 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data and WIDGET_MIME in data:
                output["data"] = {"text/html": WIDGET_NOTE}
                count += 1
    return count


def rewrite_links(text: str) -> str:
    """Links to course notebooks point at their pages."""
    return NOTEBOOK_LINK.sub(lambda m: f"{m.group(1)}{m.group(2)}.html{m.group(3) or ''}{m.group(4)}", text)


def to_html(nb) -> str:
    from nbconvert import HTMLExporter
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    return rewrite_links(EXTERNAL_SCRIPT.sub("", body))


def _title(nb, fallback: str) -> str:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return fallback


def index_html(pages: Sequence[dict]) -> str:
    """The contents page: the notebooks in course order, with what each is about and its time."""
    from .syllabus import BY_NUMBER
    rows = []
    for page in pages:
        known = BY_NUMBER.get(page["number"])
        about = f" <span>{html.escape(known.heart)} (about {known.minutes} min)</span>" if known else ""
        rows.append(f"<li><a href='{html.escape(page['file'])}'>{html.escape(page['number'])}. "
                    f"{html.escape(known.title if known else page['title'])}</a>{about}</li>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>portlab: the course</title>
<style>body{{font-family:system-ui,sans-serif;max-width:50em;margin:2em auto;padding:0 1em;line-height:1.5}}
li{{margin:.4em 0}} li span{{color:#555}}</style></head>
<body><h1>portlab: ports and port scanning, the course</h1>
<p>The notebooks in course order, as run on the simulator (no packet sent, no root). Charts carry a text
description; the interactive widgets need a running notebook: clone the repository and run <code>make lab</code>,
or open it on Binder.</p>
<ol start="0" style="list-style:none;padding-left:0">
{chr(10).join(rows)}
</ol></body></html>
"""


def build(outdir: Path, notebooks: Optional[Iterable[Path]] = None, jobs: int = 2, timeout: int = 300,
          log=print) -> list[dict]:
    """Execute and write every notebook's page and the index; returns one dict per page."""
    import nbformat

    outdir.mkdir(parents=True, exist_ok=True)
    paths = list(notebooks) if notebooks is not None else course_notebooks()
    with tempfile.TemporaryDirectory(prefix="portlab-site-") as tmp:
        def one(path: Path) -> dict:
            start = time.monotonic()
            nb = execute(path, Path(tmp) / path.stem, timeout)
            widgets = replace_widgets(nb)
            page = {"number": path.name[:2], "file": path.stem + ".html", "title": _title(nb, path.stem),
                    "widgets": widgets, "seconds": round(time.monotonic() - start, 1)}
            nbformat.validate(nb)
            (outdir / page["file"]).write_text(to_html(nb), encoding="utf-8")
            log(f"{page['file']}: {page['seconds']} s, {widgets} widget(s) noted")
            return page
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            pages = list(pool.map(one, paths))
    (outdir / "index.html").write_text(index_html(pages), encoding="utf-8")
    return pages


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m portlab.course.site",
                                     description="Execute the course on the simulator and write it as a static site.")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("notebooks", nargs="*", type=Path, help="only these notebooks (default: the whole course)")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="notebooks run at once")
    parser.add_argument("--timeout", type=int, default=300, help="seconds a cell may take")
    args = parser.parse_args(argv)
    try:
        pages = build(args.outdir, args.notebooks or None, args.jobs, args.timeout)
    except Exception as err:   # a failing cell: say which, in one message, and fail
        print(f"site: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"wrote {len(pages)} pages and index.html to {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
