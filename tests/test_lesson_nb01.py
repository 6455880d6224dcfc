"""Notebook 01's helper: several clients of one server on loopback, as 5-tuples, and the
change-a-value exercise built on it (01-clients-param)."""

from __future__ import annotations

import errno
import os
import re
import socket
from pathlib import Path

import nbformat
import pytest

from portlab.course.exercises import core
from portlab.course.lessons import nb01
from portlab.errors import BadInput

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "01-ports-and-ranges.ipynb"


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _varying(frame) -> set[str]:
    return {column for column in frame.columns if frame[column].nunique() > 1}


def test_three_clients_differ_in_the_client_port_only():
    frame = nb01.many_clients(3)
    assert list(frame.index) == [1, 2, 3] and list(frame.columns) == nb01.COLUMNS
    assert _varying(frame) == {"client port"}
    assert set(frame["protocol"]) == {"tcp"}
    assert set(frame["client address"]) == set(frame["server address"]) == {"127.0.0.1"}
    assert frame["client port"].is_unique


def test_one_client_is_one_row():
    frame = nb01.many_clients()
    assert len(frame) == 1 and _varying(frame) == set()


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_every_socket_is_closed_and_the_server_is_gone():
    before = _open_fds()
    frame = nb01.many_clients(5)
    assert _open_fds() == before
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        assert probe.connect_ex(("127.0.0.1", int(frame["server port"].iloc[0]))) == errno.ECONNREFUSED


@pytest.mark.parametrize("bad", [0, -1, 51, 2.5, "3", True, None])
def test_bad_input_is_one_clear_line(bad):
    with pytest.raises(BadInput, match=r"^clients .*: expected a whole number from 1 to 50$"):
        nb01.many_clients(bad)


def test_the_clients_exercise_is_what_the_cell_shows_with_three():
    ex = core.get("01-clients-param")
    assert ex.parameter == "clients" and "Set `clients` to 3" in ex.question and ex.solution in ex.choices
    (column,) = _varying(nb01.many_clients(3))
    assert ex.solution == "the " + column.replace("client port", "client's port")
    assert core.feedback(ex.id, ex.solution) is None and core.feedback(ex.id, "source port") is None
    assert "not a new port" in core.feedback(ex.id, "the server's port")
    assert "Set it to 3" in core.feedback(ex.id, "nothing: it is the same 5-tuple")
    assert "127.0.0.1" in core.feedback(ex.id, "the client's address")


def test_the_notebook_starts_with_one_client_and_asks_after_the_cell():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    at = next(i for i, cell in enumerate(code) if re.search(r"^clients = 1 +# change this: try 3", cell, re.M))
    assert "nb01.many_clients(clients)" in code[at].splitlines()[-1]
    assert code[at + 1] == 'ask("01-clients-param")'
    asked = set(re.findall(r'ask\("(01-[\w-]+)"\)', "\n".join(code)))
    assert asked == {ex_id for ex_id, ex in core.load_all().items() if ex.notebook == "01"}
