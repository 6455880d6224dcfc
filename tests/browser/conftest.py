"""Fixtures of the browser tests: one JupyterLab server and one Chromium for the session.

See browser_support.py for what they run and why (a copy of the notebooks, a kernel
without root's capabilities, loopback only).
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from browser_support import (CHROMIUM, CHROMIUM_ARGS, NOTEBOOKS, OUT, chromium_skip_reason,  # noqa: E402
                             free_port, learner_home, start_server, write_settings)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_or_skip():
    reason = chromium_skip_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def output_dir() -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    return OUT


@pytest.fixture(scope="session")
def lab_root(tmp_path_factory) -> Path:
    """The server's notebooks: a copy, so that nothing is written into the repository."""
    tmp = tmp_path_factory.mktemp("browser-lab")
    home = learner_home(tmp)
    root = home / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    for path in [root, *root.rglob("*")]:
        path.chmod(0o777 if path.is_dir() else 0o666)
    return root


@pytest.fixture(scope="session")
def jupyterlab(chromium_or_skip, lab_root: Path):
    home = lab_root.parent
    settings = home / "lab-settings"
    write_settings(settings)
    (home / "lab-workspaces").mkdir()
    for d in (settings, *settings.rglob("*"), home / "lab-workspaces"):
        d.chmod(0o777 if d.is_dir() else 0o666)
    port, token = free_port(), secrets.token_hex(16)
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={lab_root}", "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={home / 'lab-workspaces'}",
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    server = start_server(argv, home, port, token, "/api/status", lab_root)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def browser(chromium_or_skip):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
