import time

import pytest
import torch

import d2lhelpers as d2l


def test_timer_records_intervals():
    timer = d2l.Timer()
    time.sleep(0.01)
    first = timer.stop()
    timer.start()
    second = timer.stop()
    assert first >= 0.009 and second >= 0
    assert timer.sum() == pytest.approx(first + second)
    assert timer.avg() == pytest.approx((first + second) / 2)
    assert timer.cumsum() == pytest.approx([first, first + second])


def test_timer_avg_without_intervals_explains():
    timer = d2l.Timer()
    with pytest.raises(ValueError, match="no interval recorded"):
        timer.avg()


def test_accumulator_adds_numbers_and_tensors():
    acc = d2l.Accumulator(3)
    acc.add(1, 2.5, torch.tensor(3.0, requires_grad=True))
    acc.add(1, 0.5, torch.tensor(1.0))
    assert (acc[0], acc[1], acc[2]) == (2.0, 3.0, 4.0)
    assert isinstance(acc[2], float) and len(acc) == 3
    acc.reset()
    assert acc[2] == 0.0


def test_accumulator_rejects_wrong_arity():
    acc = d2l.Accumulator(2)
    with pytest.raises(ValueError, match="got 3 values but accumulates 2"):
        acc.add(1, 2, 3)
