"""A test run stopped with `kill` (SIGTERM) tears its fixtures down, as Ctrl-C does:
what the tests made (namespaces, labs, processes) must not outlive the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_sigterm_runs_the_fixtures_teardown(tmp_path):
    marker = tmp_path / "torn-down"
    started = tmp_path / "started"
    test_file = tmp_path / "test_slow.py"
    test_file.write_text(textwrap.dedent(f"""
        import time
        import pytest

        @pytest.fixture
        def resource():
            yield
            open({str(marker)!r}, "w").close()

        def test_slow(resource):
            open({str(started)!r}, "w").close()
            time.sleep(60)
    """))
    # The repository's conftest.py is what installs the handler: loaded here as a plugin
    # (`python -m pytest` puts the working directory, the root, on sys.path), since a
    # test file outside the repository does not pick it up by its path.
    run = subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                            "--rootdir", str(tmp_path), str(test_file)],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.05)
        assert started.exists(), run.communicate(timeout=10)[0]
        os.kill(run.pid, signal.SIGTERM)
        output, _ = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert marker.exists(), output
    assert run.returncode != 0
