"""Chapter 09's range test as saved in `d2l`: the rates it tries, its early stop, its rule."""

import math

import pytest
import torch
from torch import nn

import d2lhelpers as d2l


def _problem(n=512, batch_size=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=generator)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    return net, d2l.load_array((X, y), batch_size)


def test_lr_range_test_raises_the_rate_geometrically_over_one_pass():
    net, train_iter = _problem()
    trainer = torch.optim.SGD(net.parameters(), lr=0.0)
    lrs, raw, smoothed = d2l.lr_range_test(
        net, trainer, train_iter, nn.CrossEntropyLoss(), "cpu", lr_min=1e-4, lr_max=1e-2
    )
    assert len(lrs) == len(raw) == len(smoothed) == len(train_iter) == 64
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-2)
    ratios = [b / a for a, b in zip(lrs, lrs[1:])]
    assert ratios == pytest.approx([100 ** (1 / 63)] * 63)
    assert smoothed[0] == pytest.approx(raw[0])  # the bias correction


def test_lr_range_test_stops_once_the_smoothed_loss_passes_four_times_its_lowest():
    net, train_iter = _problem()
    trainer = torch.optim.SGD(net.parameters(), lr=0.0)
    lrs, raw, smoothed = d2l.lr_range_test(
        net, trainer, train_iter, nn.CrossEntropyLoss(), "cpu", lr_min=1e-2, lr_max=1e6
    )
    assert len(lrs) < len(train_iter)
    last = smoothed[-1]
    assert not math.isfinite(last) or last > 4 * min(smoothed[:-1])
    assert all(s <= 4 * min(smoothed[: k + 1]) for k, s in enumerate(smoothed[:-1]))


def test_suggest_lr_takes_the_steepest_descent_before_the_minimum():
    lrs = [1e-3 * 1e4 ** (k / 99) for k in range(100)]
    # falls along a straight line in log(lr) from point 20 to 60, fastest at points 40-41
    losses = [2.0] * 20 + [2.0 - 0.01 * k for k in range(20)]
    losses += [losses[-1] - 0.05] + [losses[-1] - 0.05 - 0.01 * k for k in range(1, 20)]
    losses += [1.5 + 0.05 * k for k in range(40)]
    suggestion, rule = d2l.suggest_lr(lrs, losses)
    assert suggestion == lrs[39]
    assert rule == "steepest descent before the minimum"


def test_suggest_lr_gives_no_suggestion_for_short_or_flat_curves():
    lrs = [1e-3 * 1e4 ** (k / 99) for k in range(100)]
    assert d2l.suggest_lr(lrs[:49], [2.0 - 0.01 * k for k in range(49)])[0] is None
    suggestion, reason = d2l.suggest_lr(lrs, [2.3 - 0.0001 * k for k in range(100)])
    assert suggestion is None and "widen" in reason


@pytest.mark.parametrize(
    "lr_min, lr_max",
    [(0.0, 1.0), (-1e-3, 1.0), (1e-2, 1e-3), (1e-3, 1e-3), (math.nan, 1.0), (1e-3, math.inf)],
)
def test_lr_range_test_refuses_rates_that_cannot_rise_geometrically(lr_min, lr_max):
    net, train_iter = _problem()
    trainer = torch.optim.SGD(net.parameters(), lr=0.0)
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"0 < lr_min < lr_max"):
        d2l.lr_range_test(
            net, trainer, train_iter, nn.CrossEntropyLoss(), "cpu", lr_min=lr_min, lr_max=lr_max
        )
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))  # nothing trained


@pytest.mark.parametrize("beta", [1.0, -0.1, math.nan])
def test_lr_range_test_refuses_a_smoothing_beta_outside_zero_to_one(beta):
    net, train_iter = _problem()
    trainer = torch.optim.SGD(net.parameters(), lr=0.0)
    with pytest.raises(ValueError, match="beta must be in"):
        d2l.lr_range_test(net, trainer, train_iter, nn.CrossEntropyLoss(), "cpu", beta=beta)


def test_suggest_lr_refuses_a_skip_start_past_the_data():
    lrs = [1e-3 * 1e4 ** (k / 59) for k in range(60)]
    losses = [2.3 - 0.01 * k for k in range(60)]
    with pytest.raises(ValueError, match="skip_start=60 skips every one of the 60 points"):
        d2l.suggest_lr(lrs, losses, skip_start=60)
    suggestion, reason = d2l.suggest_lr(lrs, losses, skip_start=59)  # the last point: read
    assert suggestion is None and "never fell" in reason


def test_suggest_lr_refuses_lists_of_different_lengths():
    with pytest.raises(ValueError, match="60 rates but 59 losses"):
        d2l.suggest_lr([0.1] * 60, [2.3] * 59)
