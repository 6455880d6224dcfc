"""The README's command-line section, run exactly as written, line by line, as a newcomer
would paste it: in a fresh directory where ``.venv`` is this checkout's environment.

Each fenced ``sh`` block of the section "The command line" runs in one bash process
(so ``source .venv/bin/activate`` and ``kill $!`` act on what came before); after each
line the script prints its exit status, so every line is checked on its own.  The
``sudo`` block runs only as root, and inside a lab state directory of its own, so it
cannot meet another test's lab.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(sys.executable).parent.parent
MARK = "@@README-LINE"


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def blocks(title: str = "The command line") -> list[list[str]]:
    """The command lines of each fenced sh block of the section, in order."""
    found = re.findall(r"```sh\n(.*?)```", section(title), re.S)
    return [[line for line in block.splitlines() if line.strip()] for block in found]


def run_block(lines: list[str], workdir: Path, env: dict, strip_sudo: bool = False,
              timeout: int = 300) -> list[tuple[str, int, str]]:
    """Run the lines in one bash; return (line, exit status, output) for each."""
    script = []
    for i, line in enumerate(lines):
        command = line
        if strip_sudo and line.startswith("sudo "):
            # Root without a sudo binary: sudo would run the command unchanged (the README
            # gives the full path because sudo resets PATH, so nothing else differs).
            command = line[len("sudo "):]
        script += [command, f'echo "{MARK} {i} $?"']
    proc = subprocess.run(["bash", "-c", "\n".join(script)], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=timeout)
    results, output, start = [], proc.stdout + proc.stderr, 0
    for match in re.finditer(rf"^{MARK} (\d+) (\d+)$", proc.stdout, re.M):
        index, status = int(match[1]), int(match[2])
        results.append((lines[index], status, proc.stdout[start:match.start()].lstrip("\n")))
        start = match.end()
    assert len(results) == len(lines), f"the block stopped early:\n{output[-3000:]}"
    return results


@pytest.fixture
def newcomer_dir(tmp_path):
    """A directory laid out like the checkout after `make lab`: .venv is this environment."""
    (tmp_path / ".venv").symlink_to(VENV)
    return tmp_path


def clean_env(tmp_path: Path) -> dict:
    # A newcomer's shell: no venv on PATH yet (the README's first line puts it there).
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if not p.startswith(str(VENV)))
    keep = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return {**keep, "PATH": path, "HOME": str(tmp_path), "PORTLAB_STATE_DIR": str(tmp_path / "labs")}


def test_the_readme_gives_user_commands_then_the_lab_then_root_commands():
    user, lab, root = blocks()
    assert user[0].startswith("source .venv/bin/activate")
    assert all(not line.startswith("sudo") for line in user + lab)
    assert all(line.startswith("portlab ") for line in lab)               # no root needed for the lab
    assert all(line.startswith("sudo .venv/bin/portlab ") for line in root)  # sudo resets PATH


def test_user_commands_do_what_the_readme_says(newcomer_dir):
    user = blocks()[0]
    results = run_block(user, newcomer_dir, clean_env(newcomer_dir))
    by_line = {line.split("#")[0].strip(): (status, out) for line, status, out in results}
    for line, status, out in results:
        assert status == 0, f"{line!r} exited {status}:\n{out[-2000:]}"

    def out(prefix: str) -> str:
        return next(o for cmd, (s, o) in by_line.items() if cmd.startswith(prefix))

    assert '"service": "https"' in out("portlab lookup 443")
    assert "5432" in out("portlab lookup postgresql")
    first_scan = out("portlab scan 127.0.0.1 -p 1-10000")
    assert re.search(r"^8000/tcp\s+open\s+irdmi\s+syn-ack$", first_scan, re.M), first_scan
    assert "Not shown: " in first_scan and "closed tcp ports (conn-refused)" in first_scan
    assert "TCP connect scan, live" in first_scan.splitlines()[0]
    saved = newcomer_dir / "scan.json"
    assert saved.is_file() and saved.stat().st_size < 3_000_000
    assert "portlab scan report for 127.0.0.1" in out("portlab show scan.json")
    simulated = out("portlab scan 10.77.0.2 --scenario single-host")
    assert "simulated" in simulated and re.search(r"^53/udp\s+open\s+domain", simulated, re.M)


def lab_skip_reason():
    if not shutil.which("ip") or not shutil.which("nft"):
        return "the live lab needs iproute2 and nftables (apt-get install iproute2 nftables)"
    from portlab.course.machine import machine
    m = machine()
    return None if m.allows("live-lab") else m.why_not["live-lab"]


@pytest.mark.netns
@pytest.mark.slow
def test_lab_commands_do_what_the_readme_says(newcomer_dir):
    reason = lab_skip_reason()
    if reason:
        pytest.skip(reason)
    lab = blocks()[1]
    env = clean_env(newcomer_dir)
    env["PATH"] = f"{VENV / 'bin'}{os.pathsep}{env['PATH']}"   # the first block activated the environment
    try:
        results = run_block(lab, newcomer_dir, env)
    finally:
        # Never leave a lab behind, whatever failed.
        subprocess.run([str(VENV / "bin" / "portlab"), "lab", "down", "--all"], env=env,
                       capture_output=True, timeout=120)
    for line, status, out in results:
        assert status == 0, f"{line!r} exited {status}:\n{out[-2000:]}"
    outputs = [out for _, _, out in results]
    assert "up: scenario home-nat-forward" in outputs[0]
    assert "portlab scan report for 10.77.0.2" in outputs[1]
    assert re.search(r"^8080/tcp\s+open\s", outputs[1], re.M), outputs[1]
    assert "no lab is running" not in outputs[2]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="the README's sudo commands need root")
def test_root_commands_do_what_the_readme_says(newcomer_dir):
    root = blocks()[2]
    results = run_block(root, newcomer_dir, clean_env(newcomer_dir), strip_sudo=shutil.which("sudo") is None)
    for line, status, out in results:
        assert status == 0, f"{line!r} exited {status}:\n{out[-2000:]}"
    assert "TCP SYN scan, live" in results[0][2]
