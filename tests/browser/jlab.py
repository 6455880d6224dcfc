"""Driving a notebook in JupyterLab from Playwright, and reading back what the page shows.

The server runs with ``expose_app_in_browser``, so ``window.jupyterapp`` is the
JupyterLab application: commands (run all cells, change theme) go through it, and
the cells' models tell when execution is over.  What a learner *sees* is read
from the DOM: outputs, widgets, the chart images and which of them is visible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

LIGHT, DARK = "JupyterLab Light", "JupyterLab Dark"

APP_READY = "() => !!(window.jupyterapp && document.querySelector('.jp-LabShell'))"

PREPARE = """async () => {
  const app = window.jupyterapp;
  await app.restored;
  await app.commands.execute('application:set-mode', {mode: 'single-document'});
  if (!app.shell.leftCollapsed) app.shell.collapseLeft();
  if (!app.shell.rightCollapsed) app.shell.collapseRight();
  return true;
}"""

# The notebook under test is kept as window.__nb, so nothing depends on which tab has focus.
OPEN = """async (path) => {
  const app = window.jupyterapp;
  const w = await app.commands.execute('docmanager:open', {path, factory: 'Notebook'});
  window.__nb = w;
  await w.context.ready;
  await w.sessionContext.ready;
  app.shell.activateById(w.id);
  return w.sessionContext.session ? w.sessionContext.session.kernel.name : null;
}"""

RUN_ALL = """async () => {
  const app = window.jupyterapp;
  app.shell.activateById(window.__nb.id);
  await app.commands.execute('notebook:clear-all-cell-outputs');
  app.commands.execute('notebook:run-all-cells');   // not awaited: the page is polled instead
  return true;
}"""

CLOSE = """async () => {
  const w = window.__nb;
  if (!w) return;
  window.__nb = null;
  try { await w.sessionContext.shutdown(); } catch (e) {}
  w.context.model.dirty = false;
  w.dispose();
}"""

# Done: kernel idle, no cell queued or running, and every code cell has run (or one failed,
# after which JupyterLab stops running the rest).
STATUS = """() => {
  const w = window.__nb;
  const kernel = w.sessionContext.session && w.sessionContext.session.kernel;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  let done = 0, errors = 0, busy = 0;
  for (const c of cells) {
    if (c.model.executionCount !== null && c.model.executionCount !== undefined) done++;
    const outs = c.model.outputs;
    for (let i = 0; i < outs.length; i++) if (outs.get(i).type === 'error') errors++;
    if (c.promptNode && c.promptNode.textContent.includes('*')) busy++;
  }
  const status = kernel ? kernel.status : 'no kernel';
  const finished = status === 'idle' && busy === 0 && (done === cells.length || errors > 0);
  return {status, cells: cells.length, done, errors, busy, finished};
}"""

# What the page shows, cell by cell.
REPORT = """() => {
  const w = window.__nb;
  const out = {cells: [], widgets: 0, widget_problems: [], charts: 0, chart_problems: [], dark_visible: 0,
               light_visible: 0, theme_light: document.body.dataset.jpThemeLight};
  const code = w.content.widgets.filter(c => c.model.type === 'code');
  code.forEach((c, i) => {
    const cell = {index: i, count: c.model.executionCount, errors: [], stderr: [], head: c.model.sharedModel.getSource().split('\\n')[0].slice(0, 80)};
    const outs = c.model.outputs;
    for (let k = 0; k < outs.length; k++) {
      const o = outs.get(k).toJSON();
      if (o.output_type === 'error') cell.errors.push(o.ename + ': ' + o.evalue);
      if (o.output_type === 'stream' && o.name === 'stderr') cell.stderr.push(String(o.text).slice(0, 400));
    }
    for (const node of c.node.querySelectorAll('.jp-OutputArea-output')) {
      const text = node.innerText || '';
      if (text.includes('Traceback (most recent call last)')) cell.errors.push('Traceback shown: ' + text.slice(0, 300));
    }
    const children = c.outputArea.node.querySelectorAll(':scope > .jp-OutputArea-child');
    for (let k = 0; k < outs.length; k++) {
      const o = outs.get(k);
      if (!(o.data && o.data['application/vnd.jupyter.widget-view+json'])) continue;
      out.widgets++;
      const node = children[k];
      const text = node ? (node.innerText || '') : '';
      if (!node) out.widget_problems.push(`cell ${i}: widget output ${k} not on the page`);
      else if (text.includes('Loading widget')) out.widget_problems.push(`cell ${i}: Loading widget...`);
      else if (text.includes('Error displaying widget')) out.widget_problems.push(`cell ${i}: ${text.slice(0, 200)}`);
      else if (!node.querySelector('.jupyter-widgets, [class*="widget-"]')) out.widget_problems.push(`cell ${i}: no widget element`);
    }
    for (const chart of c.node.querySelectorAll('.portlab-chart')) {
      out.charts++;
      const imgs = chart.querySelectorAll(':scope > img');
      const light = chart.querySelector(':scope > img.pl-light'), dark = chart.querySelector(':scope > img.pl-dark');
      if (!light || !dark) { out.chart_problems.push(`cell ${i}: chart without its two images`); return; }
      for (const img of imgs) {
        if (!img.complete || img.naturalWidth === 0) out.chart_problems.push(`cell ${i}: image did not load`);
        if (!(img.getAttribute('alt') || '').trim()) out.chart_problems.push(`cell ${i}: image without alt text`);
      }
      const shown = img => getComputedStyle(img).display !== 'none';
      if (shown(dark) && !shown(light)) out.dark_visible++;
      if (shown(light) && !shown(dark)) out.light_visible++;
    }
    out.cells.push(cell);
  });
  return out;
}"""


@dataclass
class NotebookRun:
    name: str
    page: object
    seconds: float = 0.0
    status: dict = field(default_factory=dict)
    kernel: str = ""

    def report(self) -> dict:
        return self.page.evaluate(REPORT)

    def wait_for_widgets(self, timeout: float = 30) -> None:
        """Widget views render after the cell is done: give them time to leave 'Loading widget...'."""
        try:
            self.page.wait_for_function(
                "() => ![...document.querySelectorAll('.jp-OutputArea-output')]"
                ".some(n => (n.innerText || '').includes('Loading widget'))", timeout=timeout * 1000, polling=250)
        except Exception:   # the report says which widget is still loading
            pass

    def set_theme(self, theme: str) -> None:
        light = "true" if theme == LIGHT else "false"
        self.page.evaluate("t => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme)
        self.page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'", timeout=30_000)
        self.page.wait_for_timeout(500)   # the theme's style sheet applies after the attribute

    def screenshot(self, path: Path, width: int = 1280) -> Path:
        """The whole notebook: the viewport is made as tall as the notebook's content."""
        height = self.page.evaluate(
            "() => { const w = window.__nb;"
            " const s = w.node.querySelector('.jp-WindowedPanel-outer') || w.content.node; s.scrollTop = 0;"
            " return s.scrollHeight + (window.innerHeight - s.clientHeight); }")
        self.page.set_viewport_size({"width": width, "height": max(600, min(int(height) + 20, 16000))})
        self.page.wait_for_timeout(400)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(path), full_page=True)
        self.page.set_viewport_size({"width": width, "height": 900})
        return path

    def code_cell(self, index: int):
        """The index-th code cell's element."""
        return self.page.locator(".jp-Notebook .jp-CodeCell").nth(index)


def start_lab(page, server) -> None:
    """Load JupyterLab once (a page load is the slow part); notebooks then open inside it."""
    server.api("PUT", "/lab/api/settings/@jupyterlab/apputils-extension:themes", {"raw": '{"theme": "%s"}' % LIGHT})
    page.goto(server.url("/lab", reset=""))
    page.wait_for_function(APP_READY, timeout=120_000, polling=200)
    page.evaluate(PREPARE)


def open_and_run(page, name: str, timeout: float = 240) -> NotebookRun:
    """Open notebook *name* in the running JupyterLab, run all its cells, wait until done."""
    start = time.monotonic()
    run = NotebookRun(name, page)
    run.kernel = page.evaluate(OPEN, name) or ""
    page.evaluate(RUN_ALL)
    page.wait_for_function(f"() => ({STATUS})().finished", timeout=timeout * 1000, polling=500)
    run.status = page.evaluate(STATUS)
    run.wait_for_widgets()
    run.seconds = time.monotonic() - start
    return run


def close(page) -> None:
    """Close the notebook under test and shut its kernel down."""
    page.evaluate(CLOSE)
