"""Chapter 11's saved optimizers, as the package exports them, against their references."""

import functools

import lion_pytorch
import pytest
import schedulefree
import torch

import d2lhelpers as d2l


def _trained(make_optimizer):
    return d2l.checks.train_linreg_torch(make_optimizer)


def _in_train_mode(cls, params, **kwargs):
    optimizer = cls(params, **kwargs)
    optimizer.train()
    return optimizer


@pytest.mark.parametrize(
    ("ours", "reference", "kwargs"),
    [
        (d2l.Adamax, torch.optim.Adamax, dict(lr=0.01)),
        (d2l.NAdam, torch.optim.NAdam, dict(lr=0.01)),
        (d2l.RAdam, torch.optim.RAdam, dict(lr=0.01)),
        (d2l.Adafactor, torch.optim.Adafactor, dict(lr=0.01, weight_decay=0.1)),
        (d2l.Lion, lion_pytorch.Lion, dict(lr=1e-3, weight_decay=0.5)),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_saved_optimizer_follows_its_reference_for_100_steps(ours, reference, kwargs):
    difference = d2l.checks.max_difference(
        _trained(functools.partial(ours, **kwargs)),
        _trained(functools.partial(reference, **kwargs)),
    )
    assert difference < 1e-5


def test_saved_optimizer_check_tells_apart_a_different_rate():
    # The negative control: the same check fails when one side uses another learning rate.
    difference = d2l.checks.max_difference(
        _trained(functools.partial(d2l.RAdam, lr=0.01)),
        _trained(functools.partial(torch.optim.RAdam, lr=0.011)),
    )
    assert difference > 1e-4


def test_schedule_free_adamw_matches_the_package_in_train_and_eval_mode():
    settings = dict(lr=0.01, weight_decay=0.01, warmup_steps=10)
    made = {}
    results = {}
    for name, cls in [("ours", d2l.ScheduleFreeAdamW), ("theirs", schedulefree.AdamWScheduleFree)]:

        def make(params, cls=cls, name=name):
            made[name] = _in_train_mode(cls, params, **settings)
            return made[name]

        params = _trained(make)
        y = [p.clone() for p in params]
        made[name].eval()  # the returned tensors share storage with the parameters
        results[name] = (y, [p.clone() for p in params])
    assert d2l.checks.max_difference(results["ours"][0], results["theirs"][0]) < 1e-5
    assert d2l.checks.max_difference(results["ours"][1], results["theirs"][1]) < 1e-5
    assert d2l.checks.max_difference(results["ours"][0], results["ours"][1]) > 1e-3  # x is not y


def test_schedule_free_adamw_refuses_to_step_in_eval_mode():
    x = torch.zeros(3, requires_grad=True)
    optimizer = d2l.ScheduleFreeAdamW([x])
    optimizer.eval()
    x.grad = torch.ones(3)
    with pytest.raises(RuntimeError, match="call optimizer.train"):
        optimizer.step()


def test_muon_matches_torch_muon_on_a_matrix():
    torch.manual_seed(0)
    X, W_true = torch.randn(320, 20), torch.randn(8, 20)
    Y = X @ W_true.T
    W0 = 0.1 * torch.randn(8, 20)

    def train(cls):
        W = W0.clone().requires_grad_()
        optimizer = cls([W], lr=0.02)
        for i in range(100):
            rows = slice((i % 10) * 32, (i % 10 + 1) * 32)
            optimizer.zero_grad()
            ((X[rows] @ W.T - Y[rows]) ** 2).mean().backward()
            optimizer.step()
        return W.detach()

    assert (train(d2l.Muon) - train(torch.optim.Muon)).abs().max() < 1e-5


def test_muon_hands_vectors_to_adamw_and_refuses_them_in_a_muon_group():
    W, b = torch.randn(4, 3, requires_grad=True), torch.zeros(4, requires_grad=True)
    optimizer = d2l.Muon([dict(params=[W]), dict(params=[b], use_muon=False, lr=1e-3)], lr=0.02)
    (W.sum() + b.sum()).backward()
    optimizer.step()
    assert torch.allclose(b, torch.full((4,), -1e-3))  # AdamW's first step: -lr * sign(g)
    wrong = d2l.Muon([b])
    b.grad = torch.ones(4)
    with pytest.raises(ValueError, match="use_muon=False"):
        wrong.step()


def test_newton_schulz_brings_singular_values_near_one():
    torch.manual_seed(0)
    G = torch.randn(30, 50) @ torch.diag(torch.logspace(0, -1, 50))
    s = torch.linalg.svdvals(d2l.newton_schulz(G).float())
    assert s.min() > 0.6 and s.max() < 1.25
    assert torch.linalg.svdvals(G).max() / torch.linalg.svdvals(G).min() > 5


def test_radam_rectification_is_none_while_rho_is_small_and_rises_to_one():
    assert d2l.radam_rectification(5) is None
    values = [d2l.radam_rectification(t) for t in (6, 100, 1000, 100000)]
    assert values == sorted(values) and values[0] < 0.05 and abs(values[-1] - 1) < 1e-3
