"""Chapter 11's saved optimizers, as the package exports them, against their references."""

import functools
import re

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
    difference = d2l.max_difference(
        _trained(functools.partial(ours, **kwargs)),
        _trained(functools.partial(reference, **kwargs)),
    )
    assert difference < 1e-5


def test_saved_optimizer_check_tells_apart_a_different_rate():
    # The negative control: the same check fails when one side uses another learning rate.
    difference = d2l.max_difference(
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
    assert d2l.max_difference(results["ours"][0], results["theirs"][0]) < 1e-5
    assert d2l.max_difference(results["ours"][1], results["theirs"][1]) < 1e-5
    assert d2l.max_difference(results["ours"][0], results["ours"][1]) > 1e-3  # x is not y


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


# --- hardening: warmups from 0, checkpoints, changing β1, empty tensors, bad arguments ------


def _warmup_from_zero(cls, steps=8):
    # lr 0 on the first step, as CosineScheduler's default warmup_begin_lr=0 gives
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 1)
    optimizer = cls(net.parameters(), lr=0.01)
    optimizer.train()
    scheduler = d2l.ScheduleLR(optimizer, d2l.CosineScheduler(10, base_lr=0.01, warmup_steps=2))
    generator = torch.Generator().manual_seed(1)
    for _ in range(steps):
        optimizer.zero_grad()
        net(torch.randn(8, 3, generator=generator)).pow(2).mean().backward()
        optimizer.step()
        scheduler.step()
    return list(net.parameters())


def test_schedule_free_adamw_warms_up_from_a_rate_of_zero_as_schedulefree_does():
    ours = _warmup_from_zero(d2l.ScheduleFreeAdamW)
    theirs = _warmup_from_zero(schedulefree.AdamWScheduleFree)
    assert all(torch.isfinite(p).all() for p in ours)
    assert d2l.max_difference(ours, theirs) < 1e-6
    assert d2l.max_difference(ours, _warmup_from_zero(d2l.ScheduleFreeAdamW, steps=1)) > 1e-4


def _muon_with_adamw():
    torch.manual_seed(0)
    W, b = torch.randn(4, 3, requires_grad=True), torch.randn(4, requires_grad=True)
    muon = d2l.Muon([dict(params=[W]), dict(params=[b], use_muon=False, lr=1e-2)], lr=0.02)
    (W.sum() + b.square().sum()).backward()
    muon.step()
    return muon, W, b


def test_muon_state_dict_holds_the_adamw_state():
    muon, W, b = _muon_with_adamw()
    state = muon.state_dict()["state"]
    assert set(state[0]) == {"momentum_buffer"}
    assert {"step", "exp_avg", "exp_avg_sq"} <= set(state[1])
    assert torch.equal(state[1]["exp_avg"], muon.state[b]["exp_avg"])


def test_muon_after_load_state_dict_still_reaches_the_adamw_groups():
    muon, W, b = _muon_with_adamw()
    muon.load_state_dict(muon.state_dict())
    assert all(any(g is h for h in muon.param_groups) for g in muon.adamw.param_groups)
    for group in muon.param_groups:  # a scheduler at rate 0: nothing may move
        group["lr"] = 0.0
    before = [W.detach().clone(), b.detach().clone()]
    muon.step()
    assert torch.equal(W, before[0]) and torch.equal(b, before[1])


def _nadam_with_changing_beta1(cls, steps):
    torch.manual_seed(0)
    x = torch.randn(5, requires_grad=True)
    optimizer = cls([x], lr=0.01)
    for t in range(steps):
        optimizer.param_groups[0]["betas"] = (0.85 + 0.1 * (t % 7) / 7, 0.999)
        x.grad = torch.sin(x.detach() + t)
        optimizer.step()
    return x.detach(), optimizer


def test_nadam_follows_torch_when_beta1_changes_and_keeps_one_product_per_parameter():
    ours, optimizer = _nadam_with_changing_beta1(d2l.NAdam, 2000)
    theirs, _ = _nadam_with_changing_beta1(torch.optim.NAdam, 2000)
    assert (ours - theirs).abs().max() < 1e-5
    state = next(iter(optimizer.state.values()))
    assert isinstance(state["mu_product"], float)
    numbers = sum(len(v) for v in vars(optimizer).values() if isinstance(v, list | dict))
    assert numbers < 10  # no cache that grows with the steps


@pytest.mark.parametrize(
    "make, shape",
    [
        (d2l.Adafactor, (0, 3)),
        (d2l.Adafactor, (0,)),
        (d2l.Muon, (5, 0)),
        (d2l.Lion, (0, 2)),
        (d2l.ScheduleFreeAdamW, (0,)),
        (d2l.NAdam, (2, 0)),
    ],
    ids=str,
)
def test_an_empty_parameter_is_left_alone(make, shape):
    empty, full = torch.zeros(shape, requires_grad=True), torch.ones(2, 3, requires_grad=True)
    optimizer = make([empty, full])
    empty.grad, full.grad = torch.zeros(shape), torch.ones(2, 3)
    optimizer.step()
    assert empty.shape == shape and not torch.equal(full, torch.ones(2, 3))


@pytest.mark.parametrize(
    "make, kwargs, message",
    [
        (d2l.Adafactor, dict(lr=-1.0), "Invalid learning rate: -1.0"),
        (d2l.Adafactor, dict(lr=float("nan")), "Invalid learning rate: nan"),
        (d2l.Adafactor, dict(eps=(None, -1e-3)), "epsilon2 should be >= 0 but is: -0.001"),
        (d2l.Adafactor, dict(beta2_decay=0.8), "beta2_decay should be <= 0 but is: 0.8"),
        (d2l.Adafactor, dict(d=0.0), "Clipping threshold d should be >= 1 but is: 0.0"),
        (d2l.Adafactor, dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (d2l.Lion, dict(lr=-1e-4), "Invalid learning rate: -0.0001"),
        (d2l.Lion, dict(betas=(0.9, 2.0)), "Invalid beta parameter at index 1: 2.0"),
        (d2l.Muon, dict(lr=float("inf")), "Invalid learning rate: inf"),
        (d2l.Muon, dict(momentum=float("nan")), "Invalid momentum value: nan"),
        (d2l.Muon, dict(ns_steps=-1), "Invalid ns_steps value: -1"),
        (d2l.ScheduleFreeAdamW, dict(lr=-0.1), "Invalid learning rate: -0.1"),
        (d2l.ScheduleFreeAdamW, dict(betas=(2.0, 0.999)), "Invalid beta parameter at index 0"),
        (d2l.ScheduleFreeAdamW, dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (d2l.ScheduleFreeAdamW, dict(warmup_steps=-5), "Invalid warmup_steps value: -5"),
        (d2l.NAdam, dict(momentum_decay=-4e-3), "Invalid momentum_decay value: -0.004"),
        (d2l.Adamax, dict(betas=(0.9, 0.999, 0.5)), "Invalid betas: (0.9, 0.999, 0.5)"),
        (d2l.RAdam, dict(eps=float("nan")), "Invalid epsilon value: nan"),
    ],
    ids=str,
)
def test_saved_optimizers_refuse_bad_hyperparameters_by_name(make, kwargs, message):
    with pytest.raises(ValueError, match=re.escape(f"{make.__name__}: {message}")):
        make([torch.zeros(2, 2, requires_grad=True)], **kwargs)


SAVED_OPTIMIZERS = [
    d2l.Adamax,
    d2l.NAdam,
    d2l.RAdam,
    d2l.Adafactor,
    d2l.Lion,
    d2l.Muon,
    d2l.ScheduleFreeAdamW,
]


@pytest.mark.parametrize("make", SAVED_OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_saved_optimizers_refuse_sparse_gradients_by_name(make):
    embedding = torch.nn.Embedding(10, 3, sparse=True)
    optimizer = make(embedding.parameters())
    embedding(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match=f"{make.__name__} does not support sparse gradients"):
        optimizer.step()


@pytest.mark.parametrize("make", SAVED_OPTIMIZERS, ids=lambda cls: cls.__name__)
def test_saved_optimizers_refuse_complex_parameters_by_name(make):
    z = torch.zeros(2, 2, dtype=torch.complex64, requires_grad=True)
    optimizer = make([z])
    z.grad = torch.ones(2, 2, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match=f"{make.__name__} does not support complex"):
        optimizer.step()


@pytest.mark.parametrize("t, beta2", [(0, 0.999), (-3, 0.999), (10, 1.0), (10, 1.5)])
def test_radam_rectification_refuses_a_step_below_one_and_beta2_outside_its_range(t, beta2):
    with pytest.raises(ValueError, match="need a step t >= 1 and 0 <= beta2 < 1"):
        d2l.radam_rectification(t, beta2)
