"""The instructor's dashboard served by Voilà, in Chromium: widgets without code, and they act.

Voilà runs ``notebooks/demo/dashboard.ipynb`` (a copy) on a free loopback port with
a token, the way ``make demo`` serves it.  The page must show the dashboard's
widgets and the three-scans chart, no source code and no error; switching the
scenario must rebuild the view for the new scenario; the packet stepper must step.
"""

from __future__ import annotations

import re
import secrets
import shutil
import sys

import pytest

from browser_support import NOTEBOOKS, free_port, learner_home, loopback_only, start_server

DASHBOARD = NOTEBOOKS / "demo" / "dashboard.ipynb"


@pytest.fixture(scope="module")
def voila(chromium_or_skip, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser-voila")
    home = learner_home(tmp)
    root = home / "demo"
    root.mkdir()
    shutil.copy(DASHBOARD, root / DASHBOARD.name)
    for path in (root, root / DASHBOARD.name):
        path.chmod(0o777 if path.is_dir() else 0o666)
    port, token = free_port(), secrets.token_hex(16)
    argv = [sys.executable, "-m", "voila", "--no-browser", "--Voila.ip=127.0.0.1", f"--Voila.port={port}",
            "--Voila.port_retries=0", f"--Voila.token={token}", str(root / DASHBOARD.name)]
    # A static file says the server is up without running the notebook for nothing.
    server = start_server(argv, home, port, token, "/voila/static/voila.js", root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(browser, voila):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.route("**/*", loopback_only)
    p = context.new_page()
    p.set_default_timeout(120_000)
    p.goto(voila.url("/"))
    # Voilà runs the notebook and streams the page; the dashboard is up when its chart shows.
    p.locator(".portlab-chart img.pl-light").first.wait_for(state="visible", timeout=180_000)
    yield p
    context.close()


def test_dashboard_shows_widgets_and_no_source(page, output_dir):
    text = page.locator("body").inner_text()
    assert "import" not in text and "dashboard()" not in text, "source code is on the page"
    assert page.locator(".jp-CodeCell .jp-InputArea:visible, .jp-InputArea-editor:visible, .cm-editor:visible,"
                        " .highlight:visible").count() == 0      # the markdown cell's text may show
    assert "Traceback" not in text and "Error displaying widget" not in text and "Loading widget" not in text
    assert page.locator(".jupyter-widgets select").count() >= 2          # scenario and host menus
    assert page.get_by_role("button", name="Run the three scans").count() == 1
    tabs = page.locator(".lm-TabBar-tab, .p-TabBar-tab, .widget-tab .lm-TabBar-tabLabel").all_inner_texts()
    for title in ("Three scans", "Packets", "Firewall", "NAT"):
        assert any(title in t for t in tabs), tabs
    alt = page.locator(".portlab-chart img.pl-light").first.get_attribute("alt")
    assert "10.77.0.2" in alt or "single-host" in alt, alt
    page.screenshot(path=str(output_dir / "demo-dashboard-single-host.png"), full_page=True)


def test_scenario_switch_updates_the_view(page, output_dir):
    before = page.locator(".portlab-chart img.pl-light").first.get_attribute("src")
    scenario_menu = page.locator(".jupyter-widgets select").first
    assert scenario_menu.input_value() == "single-host"
    scenario_menu.select_option("web-server")
    page.get_by_text(re.compile(r"web-server: A web server")).wait_for(timeout=120_000)
    page.wait_for_function(
        "src => { const i = document.querySelector('.portlab-chart img.pl-light'); return i && i.src !== src; }",
        arg=before, timeout=120_000)
    alt = page.locator(".portlab-chart img.pl-light").first.get_attribute("alt")
    assert "10.77.0.10" in alt, alt
    # The three tables are new widgets: they render a moment after the chart.
    table = page.locator("pre", has_text="report for 10.77.0.10").first
    table.wait_for(timeout=60_000)
    assert re.search(r"80/tcp\s+open", table.inner_text()), table.inner_text()
    page.screenshot(path=str(output_dir / "demo-dashboard-web-server.png"), full_page=True)


def test_packet_stepper_steps(page):
    page.locator(".lm-TabBar-tab", has_text="Packets").first.click()
    counter = page.get_by_text(re.compile(r"packet 0 of \d+"))
    counter.wait_for(timeout=60_000)
    page.get_by_role("button", name="Next").click()
    page.get_by_text(re.compile(r"packet 1 of \d+")).wait_for(timeout=60_000)
