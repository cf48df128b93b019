"""Claim checks hold or fail loudly, and full-length claims say when they were skipped."""

import math

import pytest
import torch

import d2lhelpers as d2l


def test_a_number_within_its_tolerance_holds_and_says_what_was_measured(capsys):
    d2l.claim("the minimum is at -1.83", -1.8262, -1.83, tol=0.005)
    assert capsys.readouterr().out == "✓ the minimum is at -1.83: -1.8262 (-1.83 ± 0.005)\n"


def test_a_number_outside_its_tolerance_fails_with_what_was_measured():
    with pytest.raises(AssertionError, match=r"measured -1.9, expected -1.83 ± 0.005"):
        d2l.claim("the minimum is at -1.83", -1.9, -1.83, tol=0.005)


def test_nan_never_holds():
    with pytest.raises(AssertionError, match="measured nan"):
        d2l.claim("the loss is about 0.24", math.nan, 0.24, tol=1.0)


def test_a_comparison_holds_when_true_and_fails_when_false(capsys):
    d2l.claim("Yogi is first in all 3 seeds", all([True, True, True]))
    assert capsys.readouterr().out == "✓ Yogi is first in all 3 seeds\n"
    with pytest.raises(AssertionError, match="claim does not hold: SGD is last"):
        d2l.claim("SGD is last", False)


def test_an_exact_value_is_compared_as_it_is(capsys):
    d2l.claim("the rate passes 0.5 at step 334", 334, 334)
    assert capsys.readouterr().out == "✓ the rate passes 0.5 at step 334: 334 (334)\n"
    with pytest.raises(AssertionError, match="measured 335, expected 334"):
        d2l.claim("the rate passes 0.5 at step 334", 335, 334)


def test_a_full_length_claim_is_not_checked_at_a_fraction_and_says_so(monkeypatch, capsys):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    monkeypatch.setenv("D2L_EPOCH_FRACTION", "0.05")
    d2l.claim("test accuracy 0.893", 0.5, 0.893, tol=0.0005, full_length=True)
    out = capsys.readouterr().out
    assert out.startswith("not checked (D2L_EPOCH_FRACTION=0.05; the number is from a full-length")
    assert out.rstrip().endswith(": test accuracy 0.893")
    monkeypatch.delenv("D2L_EPOCH_FRACTION")
    with pytest.raises(AssertionError):
        d2l.claim("test accuracy 0.893", 0.5, 0.893, tol=0.0005, full_length=True)


def test_a_full_length_claim_is_checked_only_on_one_cpu_thread(monkeypatch, capsys):
    """The prose's numbers come from one CPU thread; more threads or a GPU round differently."""
    monkeypatch.delenv("D2L_EPOCH_FRACTION", raising=False)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    d2l.claim("test accuracy 0.893", 0.5, 0.893, tol=0.0005, full_length=True)
    assert "not checked (this run uses 4 CPU threads;" in capsys.readouterr().out
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    monkeypatch.setattr(d2l.claims, "try_gpu", lambda: torch.device("cuda:0"))
    d2l.claim("test accuracy 0.893", 0.5, 0.893, tol=0.0005, full_length=True)
    assert "not checked (this run trains on cuda;" in capsys.readouterr().out
    monkeypatch.setattr(d2l.claims, "try_gpu", lambda: torch.device("cpu"))
    with pytest.raises(AssertionError):
        d2l.claim("test accuracy 0.893", 0.5, 0.893, tol=0.0005, full_length=True)
