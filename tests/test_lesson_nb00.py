"""Notebook 00's helpers and the notebook's own content (course map, links, exercises, mode cell)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import nbformat
import pytest

from portlab.course import syllabus
from portlab.course.exercises import core
from portlab.course.lessons import nb00
from portlab.course.machine import Machine, machine
from portlab.errors import BadInput

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "00-start-here.ipynb"


@pytest.fixture(scope="module")
def nb():
    return nbformat.read(NOTEBOOK, as_version=4)


def test_modes_table_says_why_not():
    learner = Machine(linux=True, root=False, raw_sockets=False, netns=False, nmap=None,
                      why_not={"live-lab": "the live lab needs root, or unprivileged user namespaces"})
    table = nb00.modes_table(learner)
    assert list(table.index) == ["sim", "replay", "live-loopback", "live-lab"]
    assert table.loc["live-lab", "here?"] == "no: the live lab needs root, or unprivileged user namespaces"
    assert (table.loc[["sim", "replay", "live-loopback"], "here?"] == "yes").all()
    # The same words as notebook 00's definition of LIVE, not "root" alone.
    assert table.loc["live-lab", "needs"] == "Linux, with root or a user namespace of your own"


def test_scope_verdict_only_asks_the_guard(monkeypatch):
    def no_sockets(*args, **kwargs):
        raise AssertionError("the scope verdict must not open a socket")
    monkeypatch.setattr(socket, "socket", no_sockets)
    assert nb00.scope_verdict("127.0.0.1") == ("127.0.0.1: allowed. It is in 127.0.0.0/8, loopback: a packet "
                                               "to any address of this block stays inside this computer.")
    assert nb00.scope_verdict("::1").startswith("::1: allowed. It is in ::1/128, loopback")
    refused = nb00.scope_verdict("192.0.2.10")
    assert refused.startswith("192.0.2.10: refused, nothing sent.")
    assert "--allow-target 192.0.2.10" in refused and "\n" not in refused


@pytest.mark.parametrize("bad", ["localhost", "", "127.0.0.256", None])
def test_scope_verdict_bad_input_is_one_clear_line(bad):
    with pytest.raises(BadInput, match=r"^target .*: expected an IP address, such as 127\.0\.0\.1 or ::1"):
        nb00.scope_verdict(bad)


# ---- change a value: the loopback block (00-scope-target) ------------------------------------

def test_the_whole_127_block_is_loopback_to_the_guard_and_a_home_router_is_not():
    for address in ("127.45.6.7", "127.255.255.254", "::ffff:127.8.8.8"):
        assert nb00.scope_verdict(address).startswith(f"{address}: allowed. It is in 127.0.0.0/8, loopback")
    assert nb00.scope_verdict("192.168.1.1").startswith("192.168.1.1: refused, nothing sent.")
    assert nb00.scope_verdict("128.0.0.1").startswith("128.0.0.1: refused")


def test_a_lab_network_is_named_as_a_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTLAB_STATE_DIR", str(tmp_path))
    (tmp_path / "lab1.json").write_text('{"networks": ["10.77.0.0/24"]}')
    assert nb00.scope_verdict("10.77.0.2") == ("10.77.0.2: allowed. It is in 10.77.0.0/24, the network of a lab "
                                               "portlab is running on this machine.")


def test_the_target_exercise_is_what_the_cell_shows_for_127_45_6_7(nb):
    ex = core.get("00-scope-target")
    assert ex.parameter == "target" and '`target` to "127.45.6.7"' in ex.question and ex.solution in ex.choices
    cell = next(c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith("target = "))
    assert re.match(r'target = "127\.0\.0\.1" +# change this: try "127\.45\.6\.7"', cell)
    shown = nb00.scope_verdict("127.45.6.7")
    assert shown.startswith("127.45.6.7: " + ex.solution.split(":")[0] + ".")   # the chosen word, as printed
    assert core.feedback(ex.id, ex.solution) is None and core.feedback(ex.id, "allowed") is None
    assert "Set `target`" in core.feedback(ex.id, "refused: loopback is 127.0.0.1 only")
    assert "192.168.1.1" in core.feedback(ex.id, "refused: it is somebody else's address")
    assert "answer with one of" in core.feedback(ex.id, "maybe")


@pytest.mark.netns
@pytest.mark.skipif(not machine().allows("live-lab"), reason="the live lab needs root and network namespaces")
def test_port_81_in_the_lab_agrees_with_the_simulator():
    real = nb00.port_81_in_the_lab()
    assert (real.state.value, real.reason) == ("closed", "conn-refused")
    assert core.get("00-predict-81").reveal() == real.state.value


def test_first_code_cell_says_the_mode(nb):
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert 'show_mode("sim", wants="live-lab")' in first.source
    assert nb.cells[0].source.startswith("# 00 · Start here") and "You will learn" in nb.cells[0].source


def test_course_map_links_every_notebook_with_its_minutes(nb):
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for book in syllabus.NOTEBOOKS:
        row = re.search(rf"^\| \[{book.number} · [^]]+\]\({re.escape(book.filename)}\) \|.*\| (\d+) min \|$",
                        text, re.M)
        assert row, f"the course map has no row linking {book.filename}"
        assert int(row.group(1)) == book.minutes, f"{book.filename}: the table and the syllabus disagree"
    assert "(01-ports-and-ranges.ipynb)" in next(c.source for c in reversed(nb.cells) if "## Summary" in c.source)   # the summary links the next notebook


def test_every_exercise_of_notebook_00_is_asked_and_none_answered(nb):
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    asked = set(re.findall(r'(?:ask|check)\("(00-[\w-]+)"', code))
    mine = {ex_id for ex_id, ex in core.load_all().items() if ex.notebook == "00"}
    assert asked == mine and len(mine) >= 3
    assert any(core.get(ex_id).kind == "predict" for ex_id in asked)
    # The notebook never gives the answer away: no solution() call, every `answer =` starts as None.
    assert "solution(" not in code
    assert re.findall(r"^answer = (.*?)\s*(?:#.*)?$", code, re.M) == ["None"] * code.count("\nanswer = ")


def test_stored_without_outputs(nb):
    from portlab.course.nbrefs import is_checked
    for cell in nb.cells:
        if cell.cell_type == "code" and not is_checked(cell):   # checked cells keep nbval's reference
            assert cell.outputs == [] and cell.execution_count is None
