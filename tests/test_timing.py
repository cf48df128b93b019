import importlib
import time

import pytest
import torch

import d2lhelpers as d2l

timing = importlib.import_module("d2lhelpers.timing")


class _Clock:
    """A fake `time.perf_counter` that only moves when the test moves it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_timer_records_intervals(monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(timing.time, "perf_counter", clock)
    timer = d2l.Timer()  # starts at once, like d2l's
    clock.now += 1.5
    assert timer.stop() == 1.5
    clock.now += 7.0  # not running: not counted
    timer.start()
    clock.now += 0.25
    assert timer.stop() == 0.25
    assert timer.times == [1.5, 0.25]
    assert timer.sum() == 1.75 and timer.avg() == 0.875
    assert timer.cumsum() == [1.5, 1.75]


def test_timer_measures_real_time():
    timer = d2l.Timer()
    time.sleep(0.02)
    assert 0.02 <= timer.stop() < 5


def test_timer_waits_for_cuda_work_before_reading_the_clock(monkeypatch):
    order = []
    monkeypatch.setattr(timing, "_sync_cuda", lambda: order.append("sync"))
    monkeypatch.setattr(timing.time, "perf_counter", lambda: order.append("clock") or 0.0)
    timer = d2l.Timer()
    timer.stop()
    assert order == ["sync", "clock", "sync", "clock"]


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
