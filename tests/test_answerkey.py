"""The teacher's answer key (python -m portlab.course.answerkey, make answer-key) is generated
from the exercise registry, so it names every exercise there is, with its question and an answer
that passes the check. No id is written here: the registry is the list."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from portlab.course import answerkey, syllabus
from portlab.course.exercises import is_correct, load_all

ROOT = Path(__file__).resolve().parents[1]


def _flat(text: str) -> str:
    return " ".join(str(text).split())


def _section(key: str, ex_id: str) -> str:
    m = re.search(rf"^### {re.escape(ex_id)}\n(.*?)(?=^##+ |\Z)", key, re.M | re.S)
    assert m, f"no section '### {ex_id}' in the answer key"
    return m.group(1)


@pytest.fixture(scope="module")
def key(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("key") / "answer-key.md"
    done = subprocess.run([sys.executable, "-m", "portlab.course.answerkey", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{out}: {len(load_all())} exercises"
    return out.read_text(encoding="utf-8")


def test_every_exercise_has_its_question_and_answer(key):
    registry = load_all()
    assert len(registry) >= 30
    for ex_id, ex in registry.items():
        body = _section(key, ex_id)
        flat = _flat(body)
        assert _flat(ex.question) in flat, f"{ex_id}: question missing"
        sol = ex.solution
        if isinstance(sol, str) and "\n" in sol:
            for line in sol.strip().splitlines():
                assert line in body, f"{ex_id}: solution line {line!r} missing"
        elif isinstance(sol, dict) and "rules" in sol:
            for rule in sol["rules"]:
                assert re.search(rf"^\| {re.escape(rule['action'])} \|.*\| {re.escape(str(rule['ports']))} \|",
                                 body, re.M), f"{ex_id}: rule {rule} missing"
        elif isinstance(sol, list):
            for rule in sol:
                assert f"| {rule['priority']} | {rule['name']} |" in body, f"{ex_id}: rule {rule} missing"
        else:
            assert f"**Answer:** `{sol}`" in body, f"{ex_id}: answer {sol!r} missing"
        if ex.explanation:
            assert _flat(ex.explanation) in flat
        for hint in ex.hints:
            assert _flat(hint) in flat, f"{ex_id}: hint missing"
        # The overview table at the top links each exercise.
        assert f"| [{ex_id}](#{ex_id}) | {ex.kind} |" in key


def test_every_answer_in_the_key_passes_its_check():
    for ex_id, ex in load_all().items():
        if ex.kind in ("number", "choice", "predict") or isinstance(ex.solution, str):
            assert is_correct(ex_id, ex.solution), f"{ex_id}: the key's answer fails its own check"


def test_the_key_follows_the_notebooks_order_and_says_where_each_is_asked(key):
    heads = re.findall(r"^## (\d\d) · (.+)$", key, re.M)
    assert heads == [(nb.number, nb.title) for nb in syllabus.NOTEBOOKS]
    asked = answerkey.where_asked(load_all())
    assert {i.split("-", 1)[0] for i in asked} == set(syllabus.BY_NUMBER), "some notebook asks no exercise it defines"
    for ex_id, places in asked.items():
        assert f"asked in: {'; '.join(places)}" in _section(key, ex_id)


def test_a_few_notebooks_only():
    text = answerkey.answer_key(["3", "05"])
    ids = re.findall(r"^### (\S+)$", text, re.M)
    expected = [i for i, ex in load_all().items() if ex.notebook in ("03", "05")]
    assert ids == expected


@pytest.mark.parametrize("args, says", [
    ([], "give the file to write"),
    (["key.txt"], "ending in .md"),
    (["key.md", "42"], "notebook '42'"),
])
def test_bad_input_is_one_line(args, says, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert answerkey.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err
    assert not (tmp_path / "key.md").exists()


def test_the_makefile_has_the_target():
    text = (ROOT / "Makefile").read_text()
    assert re.search(r"^answer-key:.*\n\t.*-m portlab\.course\.answerkey build/answer-key\.md$", text, re.M)
