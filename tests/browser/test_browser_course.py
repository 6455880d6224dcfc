"""Every course notebook in JupyterLab, as a learner sees it, in the light and the dark theme.

For each ``notebooks/NN-*.ipynb`` (new notebooks are picked up as they land): open
it, Run All, wait until the kernel is idle and every code cell has run, then
check the page: no error output and no traceback, every widget rendered as a
widget (not "Loading widget..." nor "Error displaying widget"), every chart's
images loaded with alt text and the image of the current theme the visible one.
The light run happens first; the dark run switches the same page to JupyterLab
Dark (``apputils:change-theme``), so the notebook runs once.  Full-page
screenshots of both go to ``build/test-output/browser/``.

Then the widgets that act, clicked as a learner clicks them, in a notebook of our
own: the scan panel's Run fills its progress bar and shows the table and the
chart; the firewall editor's Apply changes the states shown; an exercise
answered wrong shows a hint, answered right says "correct".
"""

from __future__ import annotations

import json
import re

import nbformat
import pytest

from browser_support import course_notebooks, loopback_only
from jlab import DARK, LIGHT, close, open_and_run, start_lab

NOTEBOOKS = [p.name for p in course_notebooks()]
CASES = [(name, theme) for name in NOTEBOOKS for theme in ("light", "dark")]


@pytest.fixture(scope="module")
def lab_page(browser, jupyterlab):
    """One JupyterLab page for the module; notebooks open and close inside it."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route("**/*", loopback_only)
    page = context.new_page()
    page.set_default_timeout(60_000)
    start_lab(page, jupyterlab)
    yield page
    context.close()
    jupyterlab.shutdown_kernels()


@pytest.fixture(scope="module")
def runs(lab_page):
    """One open notebook at a time: the light test runs it, the dark test reuses it.
    Moving on to the next notebook closes it and shuts its kernel down."""
    state = {"name": None, "run": None}

    def get(name: str):
        if state["name"] != name:
            done()
            state["name"] = name
            state["run"] = open_and_run(lab_page, name)
        return state["run"]

    def done():
        if state["name"] is not None:
            close(lab_page)
        state.update(name=None, run=None)

    get.close = done
    yield get
    done()


def problems(report: dict, theme: str) -> list[str]:
    found = []
    for cell in report["cells"]:
        for err in cell["errors"]:
            found.append(f"code cell {cell['index']} ({cell['head']!r}): {err}")
        for text in cell["stderr"]:
            if re.search(r"Traceback|\b\w*(Error|Exception)\b", text):
                found.append(f"code cell {cell['index']} ({cell['head']!r}) stderr: {text}")
    found += report["widget_problems"] + report["chart_problems"]
    charts = report["charts"]
    visible = report["dark_visible"] if theme == "dark" else report["light_visible"]
    if visible != charts:
        found.append(f"{theme} theme: {visible} of {charts} charts show their {theme} image alone")
    return found


@pytest.mark.parametrize("name,theme", CASES, ids=[f"{n[:-6]}-{t}" for n, t in CASES])
def test_notebook_renders(runs, output_dir, name, theme):
    run = runs(name)
    if theme == "dark":
        run.set_theme(DARK)
    else:
        run.set_theme(LIGHT)
    report = run.report()
    shot = run.screenshot(output_dir / f"{name[:-6]}-{theme}.png")
    (output_dir / f"{name[:-6]}-{theme}.json").write_text(json.dumps(
        {"seconds": round(run.seconds, 1), "status": run.status, **report}, indent=1))
    assert run.kernel == "python3", f"kernel {run.kernel!r}"
    found = problems(report, theme)
    assert not found, f"{name} in the {theme} theme (screenshot {shot}):\n" + "\n".join(found)
    assert run.status["done"] == run.status["cells"], f"not every code cell ran: {run.status}"
    # A course notebook has at least one chart and one widget (docs/syllabus.md, "How every notebook works").
    assert report["charts"] >= 1, f"{name}: no chart on the page"
    assert report["widgets"] >= 1, f"{name}: no widget on the page"


# ---- the widgets that act, in a notebook of our own ------------------------------------------------

def exercise_to_try() -> tuple[str, str, str]:
    """A number or text exercise, a wrong answer with a hint, and its solution."""
    from portlab.course.exercises import core
    for ex_id, ex in sorted(core.load_all().items()):
        if ex.kind in ("number", "text") and isinstance(ex.solution, (int, str)) and "\n" not in str(ex.solution):
            for wrong in ("80", "7", "nothing"):
                if core.feedback(ex_id, wrong) and not core.is_blank(wrong):
                    return ex_id, wrong, str(ex.solution)
    pytest.skip("no number or text exercise registered yet")


@pytest.fixture(scope="module")
def widgets_run(jupyterlab, lab_page, runs):
    runs.close()      # one kernel at a time
    ex_id, wrong, right = exercise_to_try()
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell('from portlab.course.widgets.scanpanel import scan_panel\n'
                                  'scan_panel("single-host", ports="1-200")'),
        nbformat.v4.new_code_cell('from portlab.course.widgets.firewall_editor import firewall_editor\n'
                                  'firewall_editor("web-server", "web")'),
        nbformat.v4.new_code_cell(f'from portlab.course.widgets.exercise import ask\nask("{ex_id}")'),
        # notebook 05's exercise editor, holding a correct "SSH only from the admin" policy
        nbformat.v4.new_code_cell('from portlab.course.lessons import nb05\n'
                                  'policy_editor = firewall_editor(nb05.policy_start(), "web")\n'
                                  'policy_editor.set_rules(nb05.policy_solution()["rules"], "drop")\n'
                                  'policy_editor'),
        nbformat.v4.new_code_cell('ask("00-predict-81")'),
    ]
    path = jupyterlab.root / "browser-widgets.ipynb"
    nbformat.write(nb, path)
    path.chmod(0o666)
    run = open_and_run(lab_page, path.name)
    assert run.status["errors"] == 0, run.report()
    run.set_theme(LIGHT)
    yield run, (ex_id, wrong, right)
    close(lab_page)


def shoot(run, cell, path) -> None:
    """A cell's screenshot, whole: the viewport is made tall enough for it first."""
    run.page.set_viewport_size({"width": 1280, "height": 3000})
    cell.scroll_into_view_if_needed()
    cell.screenshot(path=str(path))
    run.page.set_viewport_size({"width": 1280, "height": 900})


def test_scan_panel_run_fills_the_progress_bar_and_shows_table_and_chart(widgets_run, output_dir):
    run, _ = widgets_run
    cell = run.code_cell(0)
    bar = cell.locator(".progress-bar")
    assert bar.count() == 1
    assert cell.locator(".portlab-chart").count() == 0   # nothing scanned yet
    cell.get_by_role("button", name="Run").click()
    cell.locator(".progress-bar.progress-bar-success").wait_for(timeout=60_000)
    width = bar.evaluate("b => b.style.width || getComputedStyle(b).width")
    assert width in ("100%", "100.0%") or width.startswith("100"), f"progress bar width {width}"
    table = cell.locator("pre").first.inner_text()
    assert re.search(r"PORT\s+STATE", table) and "open" in table, table
    images = cell.locator(".portlab-chart img.pl-light")
    images.first.wait_for(state="visible")
    assert images.first.evaluate("i => i.complete && i.naturalWidth > 0")
    shoot(run, cell, output_dir / "widget-scanpanel-after-run.png")


def test_firewall_editor_apply_changes_the_states_shown(widgets_run, output_dir):
    run, _ = widgets_run
    cell = run.code_cell(1)
    assert cell.locator("table").count() == 0     # before Apply: only the instruction line
    # The first rule lets the web in; make it drop, as a learner would in its menu.
    action = cell.locator("select").nth(1)       # [0] is the policy, [1] the first rule's action
    assert action.input_value() == "accept"
    action.select_option("drop")
    cell.get_by_role("button", name="Apply and rescan").click()
    cell.locator("table").wait_for(timeout=60_000)
    text = cell.inner_text()
    changed = re.search(r"(\d+) of (\d+) port checks changed", text)
    assert changed and int(changed.group(1)) >= 2, text
    rows = cell.locator("tbody tr").all_inner_texts()
    assert any("tcp 80" in r and "open" in r and "filtered" in r and "changed" in r for r in rows), rows
    shoot(run, cell, output_dir / "widget-firewall-editor-after-apply.png")


def test_exercise_wrong_then_right_shows_hint_then_correct(widgets_run, output_dir):
    run, (ex_id, wrong, right) = widgets_run
    cell = run.code_cell(2)
    box = cell.locator("input[type='text']")
    check = cell.get_by_role("button", name="Check")
    box.fill(wrong)
    box.press("Enter")      # ipywidgets sends a Text's value on Enter or blur
    check.click()
    feedback = cell.locator("text=/not yet:/")
    feedback.wait_for(timeout=30_000)
    hint = feedback.inner_text()
    assert len(hint) > len("not yet: ") + 5, hint
    box.fill(right)
    box.press("Enter")
    check.click()
    cell.locator("text=/^correct/").wait_for(timeout=30_000)
    assert "not yet" not in cell.inner_text()
    shoot(run, cell, output_dir / "widget-exercise-correct.png")


def test_firewall_editor_says_where_it_rescans_from_and_rescans_from_the_admin(widgets_run, output_dir):
    run, _ = widgets_run
    cell = run.code_cell(3)
    cell.get_by_role("button", name="Apply and rescan").click()
    cell.locator("table").wait_for(timeout=60_000)
    text = " ".join(cell.inner_text().split())
    assert "Rescanned web (10.77.0.10) from the scanner, 10.77.0.1" in text, text
    # 22 is filtered from the scanner, and the page says that is the admin-only rule working
    ssh = next(r for r in cell.locator("tbody tr").all_inner_texts() if r.startswith("tcp 22"))
    assert "filtered" in ssh and "lets in 10.77.0.5 only" in ssh and "working, not failing" in ssh, ssh
    source = cell.locator("select").last            # "Rescan from", after the rules' menus
    places = source.inner_text().replace("\xa0", " ").splitlines()   # ipywidgets writes no-break spaces
    assert places[:2] == ["the scanner, 10.77.0.1 (dmz network)", "admin, 10.77.0.5"], places
    shoot(run, cell, output_dir / "widget-firewall-editor-from-scanner.png")
    source.select_option(index=1)
    cell.get_by_role("button", name="Apply and rescan").click()
    cell.get_by_text("Rescanned web (10.77.0.10) from admin, 10.77.0.5").wait_for(timeout=60_000)
    ssh = next(r for r in cell.locator("tbody tr").all_inner_texts() if r.startswith("tcp 22"))
    assert "open" in ssh and "filtered" not in ssh and "#1 accept tcp 22" in ssh, ssh
    shoot(run, cell, output_dir / "widget-firewall-editor-from-admin-light.png")
    run.set_theme(DARK)
    shoot(run, cell, output_dir / "widget-firewall-editor-from-admin-dark.png")
    run.set_theme(LIGHT)


def test_a_right_prediction_clears_the_wrong_ones_line(widgets_run, output_dir):
    run, _ = widgets_run
    cell = run.code_cell(4)
    menu = cell.locator("select")
    menu.select_option("open")
    cell.get_by_role("button", name="Scan").click()
    cell.get_by_text("You predicted open: look at the hint").wait_for(timeout=30_000)
    menu.select_option("closed")
    cell.get_by_role("button", name="Check").click()
    cell.locator("text=/^correct/").wait_for(timeout=30_000)
    cell.get_by_text("You predicted closed: right.").wait_for(timeout=30_000)
    assert "You predicted open:" not in cell.inner_text() and "look at the hint" not in cell.inner_text()
    shoot(run, cell, output_dir / "widget-exercise-predict-cleared.png")


def test_capstone_audit_shows_once_and_wraps_between_words(jupyterlab, lab_page, runs, widgets_run, output_dir):
    """Notebook 10's audit cell as the lead's new source has it (`mine = nb10.audit(answer)`, then
    `mine`): the report shows once, as HTML whose words never break across lines."""
    close(lab_page)                                  # the widgets notebook's kernel goes first
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("from portlab.course.lessons import nb10\n"
                                          "answer = nb10.STARTER\nmine = nb10.audit(answer)\nmine"),
                nbformat.v4.new_code_cell("nb10.audit(None)")]
    path = jupyterlab.root / "browser-audit.ipynb"
    nbformat.write(nb, path)
    path.chmod(0o666)
    run = open_and_run(lab_page, path.name)
    try:
        cell = run.code_cell(0)
        out = cell.locator(".jp-OutputArea-output")
        assert out.count() == 1 and out.locator("pre").count() == 0
        assert cell.inner_text().count("FAIL (sim)") == 1
        items = out.locator("li")
        assert items.count() == len(nb10_failures())
        assert items.first.evaluate("e => getComputedStyle(e).wordBreak") == "normal"
        shoot(run, cell, output_dir / "capstone-audit-html.png")
        short = run.code_cell(1)
        assert "No rules of yours yet" in short.inner_text() and short.locator("details").count() == 1
    finally:
        close(lab_page)


def nb10_failures():
    from portlab.course.lessons import nb10
    return nb10.audit(nb10.STARTER).failures
