"""The witness rounds' bookkeeping (portlab/transports/witness.py): pure, no sockets."""

from __future__ import annotations

import pytest

from portlab.transports.witness import WitnessRounds, refill_gap


def test_the_first_round_goes_at_once_with_every_silent_probe():
    book = WitnessRounds(["a", "b", "c"], witness=443, gap=1.0, now=5.0)
    assert book.due(5.0) and not book.running
    assert book.start(5.0) == ["a", "b", "c"]
    assert book.running and not book.due(5.0)


def test_the_witness_heard_makes_every_probe_still_silent_a_drop():
    book = WitnessRounds(["a", "b", "c"], witness=443, gap=1.0, now=0.0)
    book.start(0.0)
    book.answered("b")                      # b's ICMP error came: it was rejected
    assert book.witness_heard() == ["a", "c"]
    assert book.settled


def test_a_silent_witness_means_a_dry_bucket_and_the_next_round_waits_for_a_token():
    book = WitnessRounds(["a", "b"], witness=443, gap=1.0, now=0.0)
    book.start(2.0)
    book.answered("a")                      # the one token went to a
    assert book.round_over(2.2) == []       # nothing given up yet
    assert not book.due(2.5) and book.wake_at() == pytest.approx(3.0)
    assert book.due(3.0) and book.start(3.0) == ["b"]


def test_the_next_round_never_goes_before_the_last_one_ended():
    book = WitnessRounds(["a"], witness=443, gap=0.1, now=0.0)
    book.start(0.0)
    book.round_over(0.5)                    # a slow round: longer than the gap
    assert book.wake_at() == pytest.approx(0.5)


def test_rounds_are_capped_and_what_is_left_is_given_up():
    book = WitnessRounds(["a", "b"], witness=443, gap=1.0, now=0.0, max_rounds=2)
    book.start(0.0)
    assert book.round_over(0.1) == []
    book.start(1.0)
    assert book.round_over(1.1) == ["a", "b"]
    assert book.settled and book.wake_at() is None


def test_an_answer_for_an_item_no_longer_held_is_ignored():
    book = WitnessRounds(["a"], witness=443, gap=1.0, now=0.0)
    book.start(0.0)
    book.answered("zzz")
    book.answered("a")
    book.answered("a")
    assert book.pending == [] and book.running


def test_the_gap_stays_a_little_behind_the_kernels_refill():
    assert 1.0 < refill_gap(1.0) < 1.1
    assert 0.1 < refill_gap(0.1) < 0.12
