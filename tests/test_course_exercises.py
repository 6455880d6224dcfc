"""The exercise widget, the learner's progress file and summary, and every exercise's solution.

Widgets are driven as a learner would: set the input's value, click a button,
read what the widget shows.  Progress goes to a file under tmp_path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from portlab.course import syllabus
from portlab.course.charts import course as course_charts
from portlab.course.exercises import core, progress
from portlab.course.widgets import exercise as exw
from portlab.course.widgets import progress as progw
from portlab.course.widgets.exercise import ask
from portlab.course.widgets.progress import progress_summary, summary

ALL = core.load_all()
ALL_IDS = sorted(ALL)


@pytest.fixture
def progress_file(tmp_path, monkeypatch):
    where = tmp_path / "data" / "progress.json"
    monkeypatch.setenv("PORTLAB_PROGRESS", str(where))
    monkeypatch.setattr(progress, "last_problem", None)
    return where


def saved(where) -> dict:
    return json.loads(where.read_text())["exercises"]


def text_of(html_widget) -> str:
    return html_widget.value.replace("&#x27;", "'").replace("&quot;", '"')


# ---- answering ------------------------------------------------------------------------------

def test_wrong_then_right_shows_the_hint_then_correct(progress_file):
    w = ask("00-root-mode")
    w.answer.value = "sim"
    w.check_button.click()
    assert "not yet" in w.feedback.value and "sends nothing" in text_of(w.feedback)
    w.answer.value = "live-lab"
    w.check_button.click()
    assert "correct" in w.feedback.value and "not yet" not in w.feedback.value
    assert saved(progress_file)["00-root-mode"] == {"tries": 2, "wrong": 1, "solved": True, "solution_seen": False,
                                                    "when": saved(progress_file)["00-root-mode"]["when"]}
    assert w.status.value == ""          # saved: no "not saved" line


def test_each_wrong_try_gives_a_longer_hint(progress_file):
    w = ask("00-friends-server")
    hints = []
    for _ in range(3):
        w.answer.value = core.get("00-friends-server").choices[0]
        w.check_button.click()
        hints.append(text_of(w.feedback))
    assert len(hints[0]) < len(hints[1]) < len(hints[2])
    assert core.get("00-friends-server").hints[0] not in hints[0]
    assert core.get("00-friends-server").hints[0] in hints[1]
    assert core.get("00-friends-server").hints[1] in hints[2]
    assert saved(progress_file)["00-friends-server"]["tries"] == 3
    assert saved(progress_file)["00-friends-server"]["solved"] is False


def test_no_answer_is_not_a_try(progress_file):
    w = ask("00-root-mode")
    w.check_button.click()
    assert "pick an answer" in w.feedback.value
    assert not progress_file.exists()


def test_number_answers_come_from_a_text_box(progress_file):
    w = ask("01-imaps-port")
    w.answer.value = " 143 "
    w.check_button.click()
    assert "plain IMAP" in w.feedback.value
    w.answer.value = "nine hundred"
    w.check_button.click()
    assert "port number" in w.feedback.value
    w.answer.value = "993"
    w.check_button.click()
    assert "correct" in w.feedback.value
    assert exw.parse_answer("number", "1.5") == 1.5 and exw.parse_answer("number", "  ") is None


def test_free_form_answer(progress_file, monkeypatch):
    def checker(answer):
        return None if str(answer).lower() == "tcp" else "the protocol with a handshake."
    ex = core.Exercise("99-free", "Which protocol does a connect scan use?", checker, kind="text",
                       hints=("Three letters.",), solution="tcp")
    monkeypatch.setitem(core.EXERCISES, ex.id, ex)
    w = ask(ex.id)
    assert w.scan_button is None
    w.answer.value = "udp"
    w.check_button.click()
    assert "handshake" in w.feedback.value
    w.answer.value = "TCP"
    w.check_button.click()
    assert "correct" in w.feedback.value


def test_solution_needs_a_second_click(progress_file):
    w = ask("00-root-mode")
    w.solution_button.click()
    assert exw.CONFIRM in w.solution_box.value
    assert "live-lab" not in w.solution_box.value and not w.solution_button.disabled
    w.solution_button.click()
    assert "live-lab" in w.solution_box.value and "network namespaces" in w.solution_box.value
    assert not w.solution_button.disabled and w.solution_button.description == "Hide solution"
    entry = saved(progress_file)["00-root-mode"]    # looking at a solution is not a try
    assert entry["tries"] == 0 and entry["solution_seen"] is True


def test_predict_then_scan(progress_file):
    w = ask("00-predict-81")
    # The menu starts on a visible "choose..." (no answer), then nmap's six states.
    assert w.answer.label == "choose..." and w.answer.value is None
    assert tuple(w.answer.options)[1:] == (("open", "open"), ("closed", "closed"), ("filtered", "filtered"),
                                          ("unfiltered", "unfiltered"), ("open|filtered", "open|filtered"),
                                          ("closed|filtered", "closed|filtered"))
    w.scan_button.click()
    assert exw.PREDICT_FIRST in text_of(w.scan_result)      # no scan before a prediction
    assert not progress_file.exists()
    w.answer.value = "open"
    w.scan_button.click()                                     # Scan checks the prediction, then scans
    assert "not yet" in w.feedback.value
    assert "The scan says: closed" in w.scan_result.value and "You predicted open" in w.scan_result.value
    w.answer.value = "closed"
    w.check_button.click()
    w.scan_button.click()                                     # already checked: not counted twice
    assert "correct" in w.feedback.value and "right." in w.scan_result.value
    assert saved(progress_file)["00-predict-81"]["tries"] == 2


# ---- the widget and the code route share one answer ---------------------------------------------

PREDICTS = [i for i in ALL_IDS if ALL[i].kind == "predict"]


@pytest.mark.parametrize("ex_id", PREDICTS)
def test_a_right_prediction_after_a_wrong_one_clears_the_old_line(ex_id, progress_file):
    ex = ALL[ex_id]
    wrong = next(c for c in ex.choices if core.feedback(ex_id, c) is not None)
    w = ask(ex_id)
    w.answer.value = wrong
    w.scan_button.click()                                  # wrong, and the scan shows the truth
    assert f"You predicted {wrong}: look at the hint" in text_of(w.scan_result)
    w.answer.value = ex.solution
    w.check_button.click()                                 # then right, with Check
    assert text_of(w.feedback).startswith("<div style='color:#009E73'>correct")
    assert f"You predicted {wrong}:" not in text_of(w.scan_result)
    assert "look at the hint" not in text_of(w.scan_result)
    assert f"You predicted {ex.solution}: right." in text_of(w.scan_result)


def code_check(capsys, ex_id, answer) -> str:
    core.check(ex_id, answer)
    return capsys.readouterr().out


def test_code_check_after_the_widget_said_correct_says_solved(progress_file, capsys):
    ex = ALL["00-root-mode"]
    w = ask(ex.id)
    w.answer.value = ex.solution
    w.check_button.click()
    assert "correct" in w.feedback.value
    out = code_check(capsys, ex.id, None)                  # the notebook's `answer = None` cell, run next
    assert "not yet" not in out and "no answer yet" not in out
    assert "solved already" in out and ex.explanation in out


def test_a_correct_code_check_says_what_the_widget_says(progress_file, capsys):
    ex = ALL["01-imaps-port"]
    out = code_check(capsys, ex.id, ex.solution)
    assert out.splitlines()[0] == f"[{ex.id}] {ex.question}"     # the question, then the verdict
    assert out.splitlines()[1] == core.correct_message(ex.id) and ex.explanation in out
    w = ask("01-range-of-5432")
    w.answer.value = "user"
    w.check_button.click()
    assert core.correct_message("01-range-of-5432") in text_of(w.feedback)


def test_check_prints_the_question_so_the_port_count_is_there(progress_file, capsys):
    out = code_check(capsys, "04-polite-minutes", None)
    assert "1000 ports" in out.splitlines()[0] and "not yet: no answer yet" in out


def test_hints_grow_with_wrong_tries_of_either_route(progress_file, capsys):
    ex = ALL["00-friends-server"]
    wrong = ex.choices[0]
    first = code_check(capsys, ex.id, wrong)
    assert "1 wrong try so far" in first and ex.hints[0] not in first
    assert f'solution("{ex.id}")' in first                 # where the solution is, after a wrong try
    second = code_check(capsys, ex.id, wrong)
    assert "2 wrong tries" in second and ex.hints[0] in second and ex.hints[1] not in second
    w = ask(ex.id)                                         # the widget goes on from there
    w.answer.value = wrong
    w.check_button.click()
    assert ex.hints[1] in text_of(w.feedback)
    assert saved(progress_file)[ex.id]["wrong"] == 3
    w.answer.value = ex.solution
    w.check_button.click()
    assert "correct" in w.feedback.value
    assert "solved already" in code_check(capsys, ex.id, None)


def test_after_a_correct_answer_the_solution_shows_at_once_and_hides_again(progress_file):
    ex = ALL["00-root-mode"]
    w = ask(ex.id)
    w.answer.value = ex.solution
    w.check_button.click()
    w.solution_button.click()
    assert exw.CONFIRM not in w.solution_box.value and "network namespaces" in w.solution_box.value
    assert not w.solution_button.disabled and w.solution_button.description == "Hide solution"
    w.solution_button.click()
    assert w.solution_box.value == "" and w.solution_button.description == "Show solution"
    w.solution_button.click()
    assert "network namespaces" in w.solution_box.value


def test_solved_in_code_is_solved_in_the_widget(progress_file, capsys):
    ex = ALL["01-imaps-port"]
    code_check(capsys, ex.id, ex.solution)
    w = ask(ex.id)
    assert "solved this one already" in w.feedback.value
    w.solution_button.click()
    assert exw.CONFIRM not in w.solution_box.value and "993" in w.solution_box.value


def test_the_solution_function_is_text_and_counts_as_seen(progress_file):
    ex = ALL["03-syn-reply"]
    shown = core.solution(ex.id)
    assert str(shown) == core.solution_text(ex.id) == repr(shown)
    assert repr(ex.solution) in str(shown) and "<b>" in shown._repr_html_()
    assert saved(progress_file)[ex.id] == {**saved(progress_file)[ex.id], "tries": 0, "solution_seen": True}
    w = ask(ex.id)
    w.solution_button.click()                              # seen in code: no "are you sure?" here
    assert exw.CONFIRM not in w.solution_box.value and repr(ex.solution) in text_of(w.solution_box)


def test_with_progress_off_the_routes_still_share_this_session(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PORTLAB_PROGRESS", "off")
    monkeypatch.setenv("HOME", str(tmp_path))
    progress.forget_session()
    ex = ALL["00-root-mode"]
    w = ask(ex.id)
    w.answer.value = ex.solution
    w.check_button.click()
    assert "solved already" in code_check(capsys, ex.id, None)
    assert list(tmp_path.iterdir()) == []
    progress.forget_session()


# ---- the progress file ----------------------------------------------------------------------

def test_progress_is_written_whole_or_not_at_all(progress_file, monkeypatch):
    w = ask("00-root-mode")
    w.answer.value = "live-lab"
    w.check_button.click()
    before = progress_file.read_bytes()

    def half_then_disk_full(obj, out, **kwargs):
        out.write('{"portlab_progress": 1, "exerc')
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(progress.json, "dump", half_then_disk_full)
    w.answer.value = "sim"
    w.check_button.click()
    assert "not yet" in w.feedback.value                       # the lesson goes on
    assert w.status.value.count("not saved") == 1 and "No space left on device" in w.status.value
    assert progress_file.read_bytes() == before                # the old file, untouched
    assert [p.name for p in progress_file.parent.iterdir()] == ["progress.json"]   # no temp file left


def test_corrupt_file_degrades_with_one_line_and_is_started_afresh(progress_file):
    progress_file.parent.mkdir(parents=True)
    progress_file.write_text("{this is not json")
    p = progress_summary()
    assert "not saved" in p.status.value and "\n" not in p.status.value
    from portlab.course.exercises import core
    in_00 = sum(ex.notebook == "00" for ex in core.load_all().values())
    assert f"0 of {in_00}" in p.table.value                     # the table still shows
    w = ask("00-root-mode")
    w.answer.value = "live-lab"
    w.check_button.click()
    assert "correct" in w.feedback.value
    assert "not a progress file" in w.status.value and "\n" not in w.status.value
    assert saved(progress_file)["00-root-mode"]["solved"] is True
    p.refresh_button.click()
    assert p.status.value == "" and f"1 of {in_00}" in p.table.value


def test_path_under_a_file_is_unwritable(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("PORTLAB_PROGRESS", str(blocker / "sub" / "progress.json"))
    assert "is a file" in progress_summary().status.value
    w = ask("00-root-mode")
    w.answer.value = "live-lab"
    w.check_button.click()
    assert "correct" in w.feedback.value
    line = text_of(w.status)
    assert line.count("not saved") == 1 and str(blocker) in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a chmod 500 folder")
def test_read_only_folder_is_unwritable(tmp_path, monkeypatch):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        monkeypatch.setenv("PORTLAB_PROGRESS", str(folder / "progress.json"))
        assert "no permission" in progress_summary().status.value
        w = ask("00-root-mode")
        w.answer.value = "sim"
        w.check_button.click()
        assert "not yet" in w.feedback.value and "Permission denied" in w.status.value
    finally:
        folder.chmod(0o700)


def test_progress_off_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTLAB_PROGRESS", "off")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    w = ask("00-root-mode")
    w.answer.value = "live-lab"
    w.check_button.click()
    assert "correct" in w.feedback.value and "switched off" in w.status.value
    assert "switched off" in progress_summary().status.value
    assert list(tmp_path.iterdir()) == []


# ---- the summary ----------------------------------------------------------------------------

def test_summary_counts_per_notebook():
    done = {"00-root-mode": {"tries": 3, "solved": True}, "00-friends-server": {"tries": 1, "solved": False},
            "00-gone": {"tries": 1, "solved": True}}            # an exercise that no longer exists
    rows = summary(done, ALL)
    assert [r.number for r in rows] == [nb.number for nb in syllabus.NOTEBOOKS]
    nb00 = rows[0]
    assert (nb00.exercises, nb00.tried, nb00.solved) == (sum(ex.notebook == "00" for ex in ALL.values()), 2, 1)
    assert sum(r.exercises for r in rows) == sum(ex.notebook in syllabus.BY_NUMBER for ex in ALL.values())
    assert progw.totals(rows) == (1, sum(r.exercises for r in rows))
    html = progw.table_html(rows)
    assert html.count("<tr>") == 1 + len(syllabus.NOTEBOOKS) and f"width:{round(100 / nb00.exercises)}%" in html


def test_progress_chart_plots_the_summary(tmp_path):
    rows = summary({"01-imaps-port": {"tries": 1, "solved": True}}, ALL)
    chart = course_charts.progress_chart(rows)
    assert [d["solved"] for d in chart.data] == [r.solved for r in rows]
    fig = chart.figure("dark")
    ax = fig.axes[0]
    assert len(ax.patches) == 2 * len(syllabus.NOTEBOOKS)    # an outline and a filled bar per notebook
    assert sorted(p.get_height() for p in ax.patches)[-1] == max(r.exercises for r in rows)
    chart.save(str(tmp_path / "p.png"), "dark")
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert "1 of" in chart.text


def test_course_map_chart():
    chart = course_charts.course_map()
    assert sum(r["minutes"] for r in chart.data) == syllabus.total_minutes()
    assert chart.data[-1]["starts_at"] + chart.data[-1]["minutes"] == syllabus.total_minutes()
    ax = chart.figure("light").axes[0]
    assert [round(p.get_width()) for p in ax.patches] == [nb.minutes for nb in syllabus.NOTEBOOKS]
    assert [t.get_text() for t in ax.get_yticklabels()][0] == "00 · Start here"
    assert all(nb.title in chart.text for nb in syllabus.NOTEBOOKS)
    assert set(course_charts.gallery()) == {"course-map", "progress-example"}


# ---- every exercise of the course -----------------------------------------------------------

@pytest.mark.parametrize("ex_id", ALL_IDS)
def test_every_solution_passes_its_own_check(ex_id):
    ex = ALL[ex_id]
    assert ex.solution is not None, "an exercise needs a solution"
    assert core.feedback(ex_id, ex.solution) is None, core.feedback(ex_id, ex.solution)
    assert ex.explanation, "an exercise needs an explanation of its solution"
    assert ex.notebook in syllabus.BY_NUMBER, f"{ex_id}: ids start with a notebook number 00..10"
    if ex.kind in ("choice", "predict"):
        assert ex.solution in ex.choices, "the widget can only give one of the choices"
    if ex.kind == "predict":
        found = ex.reveal()
        assert core.as_state(getattr(found, "state", found)) == core.as_state(ex.solution), \
            "a predict exercise's solution is what its scan reveals"


@pytest.mark.parametrize("ex_id", [i for i in ALL_IDS if ALL[i].kind != "text" or isinstance(ALL[i].solution, str)])
def test_every_exercise_can_be_solved_in_its_widget(ex_id, progress_file):
    ex = ALL[ex_id]
    w = ask(ex_id)
    w.answer.value = ex.solution if ex.kind in ("choice", "predict") else str(ex.solution)
    w.check_button.click()
    assert "correct" in w.feedback.value and "not yet" not in w.feedback.value
    assert saved(progress_file)[ex_id]["solved"] is True


def test_teachers_solutions_printout():
    out = subprocess.run([sys.executable, "-m", "portlab.course.exercises.solutions", "0", "01"],
                         capture_output=True, text=True, check=True).stdout
    flat = " ".join(out.split())          # the printout wraps long lines
    for ex in ALL.values():
        if ex.notebook in ("00", "01"):
            assert f"[{ex.id}]" in out and " ".join(repr(ex.solution).split()) in flat
        else:
            assert f"[{ex.id}]" not in out
    assert "== 00 · Start here" in out and "== 01 · Ports and port ranges" in out
    bad = subprocess.run([sys.executable, "-m", "portlab.course.exercises.solutions", "12"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "12" in bad.stderr


def test_a_failing_check_or_scan_shows_a_line_not_nothing(progress_file, monkeypatch):
    def broken(answer):
        raise KeyError("rules")
    def no_scan():
        raise RuntimeError("simulator unavailable")
    ex = core.Exercise("99-broken", "?", broken, kind="predict", choices=exw.STATES, solution="open",
                       reveal=no_scan)
    monkeypatch.setitem(core.EXERCISES, ex.id, ex)
    w = ask(ex.id)
    w.answer.value = "open"
    w.check_button.click()
    assert "could not be checked" in w.feedback.value and "rules" in w.feedback.value
    w.scan_button.click()
    assert "could not run" in w.scan_result.value


def test_predict_choices_are_nmaps_six_states_in_order():
    from portlab.course.exercises.core import STATES
    from portlab.states import PortState
    assert STATES == tuple(s.value for s in PortState)


def test_state_feedback_is_a_table():
    from portlab.course.exercises.core import state_feedback
    table = {"open": "why not open", "closed": "why not closed"}
    assert state_feedback("Filtered ", "filtered", table, "other: {state}") is None
    assert state_feedback("OPEN", "filtered", table, "other: {state}") == "why not open"
    assert state_feedback("open|filtered", "filtered", table, "other: {state}") == "other: open|filtered"
    assert state_feedback("shut", "filtered", table, "x").startswith("answer with a port state: one of open, closed")


def test_a_choice_exercise_checked_in_code_names_its_choices(progress_file, capsys):
    ex = ALL["04-slowest-scan"]
    question = code_check(capsys, ex.id, None).splitlines()[0]
    assert question.startswith(f"[{ex.id}] {ex.question}") and all(f'"{c}"' in question for c in ex.choices)
