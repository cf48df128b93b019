"""The checks against torch.optim find equal optimizers equal and wrong ones different."""

import math
from functools import partial

import pytest
import torch

import d2lhelpers as d2l
from d2lhelpers import checks


def _data(n=1000, features=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, features, generator=generator)
    y = X @ torch.tensor([1.0, -2.0, 0.5])[:features] + 0.1 * torch.randn(n, generator=generator)
    return X, y


def sgd(params, states, hyperparams):
    for p in params:
        with torch.no_grad():
            p -= hyperparams["lr"] * p.grad
        p.grad.zero_()


def sgd_forgets_to_zero(params, states, hyperparams):
    for p in params:
        with torch.no_grad():
            p -= hyperparams["lr"] * p.grad


def momentum(params, states, hyperparams):
    for p, v in zip(params, states):
        with torch.no_grad():
            v[:] = hyperparams["momentum"] * v + p.grad
            p -= hyperparams["lr"] * v
        p.grad.zero_()


def adam_counting_steps(params, states, hyperparams):
    # Adam with its step counter in hyperparams["t"], as chapter 8 writes it
    t = hyperparams["t"]
    for p, (v, s) in zip(params, states):
        with torch.no_grad():
            v[:] = 0.9 * v + 0.1 * p.grad
            s[:] = 0.999 * s + 0.001 * p.grad**2
            p -= hyperparams["lr"] * (v / (1 - 0.9**t)) / ((s / (1 - 0.999**t)).sqrt() + 1e-8)
        p.grad.zero_()
    hyperparams["t"] += 1


class ScratchSGD(torch.optim.Optimizer):
    """Plain SGD written as a torch.optim.Optimizer subclass, as a later chapter does."""

    def __init__(self, params, lr):
        super().__init__(params, {"lr": lr})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                p -= group["lr"] * p.grad


def test_same_as_torch_finds_a_correct_optimizer_equal():
    difference = d2l.same_as_torch(
        sgd, None, {"lr": 0.05}, partial(torch.optim.SGD, lr=0.05), data=_data()
    )
    assert difference < 1e-6


def test_same_as_torch_finds_wrong_optimizers_different():
    data = _data()
    wrong_rate = d2l.same_as_torch(
        sgd, None, {"lr": 0.1}, partial(torch.optim.SGD, lr=0.05), data=data
    )
    no_zeroing = d2l.same_as_torch(
        sgd_forgets_to_zero, None, {"lr": 0.05}, partial(torch.optim.SGD, lr=0.05), data=data
    )
    assert wrong_rate > 1e-2 and no_zeroing > 1e-2


def test_same_as_torch_checks_a_stateful_optimizer_and_leaves_its_arguments_alone():
    data = _data()
    states = [torch.zeros(3, 1), torch.zeros(1)]
    hyperparams = {"lr": 0.01, "momentum": 0.9}
    make = partial(torch.optim.SGD, lr=0.01, momentum=0.9)
    assert d2l.same_as_torch(momentum, states, hyperparams, make, data=data) < 1e-6
    assert d2l.same_as_torch(momentum, states, hyperparams, make, data=data) < 1e-6
    assert all(float(s.abs().max()) == 0.0 for s in states)
    assert (
        d2l.same_as_torch(momentum, states, {"lr": 0.01, "momentum": 0.5}, make, data=data) > 1e-3
    )


def test_a_step_counter_in_hyperparams_starts_afresh_on_every_run():
    data = _data()
    hyperparams = {"lr": 0.01, "t": 1}
    states = [(torch.zeros(3, 1), torch.zeros(3, 1)), (torch.zeros(1), torch.zeros(1))]
    make = partial(torch.optim.Adam, lr=0.01)
    first = d2l.same_as_torch(adam_counting_steps, states, hyperparams, make, data=data)
    second = d2l.same_as_torch(adam_counting_steps, states, hyperparams, make, data=data)
    assert first < 1e-5 and second == first and hyperparams["t"] == 1


def test_the_torch_side_takes_a_class_with_options_or_a_from_scratch_optimizer():
    data = _data()
    by_class = d2l.train_linreg_torch(torch.optim.SGD, data=data, lr=0.05)
    by_partial = d2l.train_linreg_torch(partial(torch.optim.SGD, lr=0.05), data=data)
    scratch = d2l.train_linreg_torch(ScratchSGD, data=data, lr=0.05)
    assert d2l.max_difference(by_class, by_partial) == 0.0
    assert d2l.max_difference(by_class, scratch) < 1e-6
    faster = d2l.train_linreg_torch(ScratchSGD, data=data, lr=0.1)
    assert d2l.max_difference(by_class, faster) > 1e-2


def test_a_loader_and_its_tensors_give_the_same_run():
    X, y = _data()
    loader = d2l.TensorLoader([X, y], batch_size=7, shuffle=True)
    ours = d2l.train_linreg(sgd, None, {"lr": 0.05}, data=loader, steps=20)
    again = d2l.train_linreg(sgd, None, {"lr": 0.05}, data=(X, y), steps=20)
    assert d2l.max_difference(ours, again) == 0.0


def test_the_seed_picks_the_initial_parameters_without_touching_the_global_generator():
    torch.manual_seed(42)
    expected = torch.normal(0.0, 0.01, (5, 1))
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    w, b = checks.init_linreg_params(5, seed=42)
    assert torch.equal(w.detach(), expected) and float(b.detach()) == 0.0
    assert torch.equal(torch.random.get_rng_state(), before)
    data = _data()
    seed_0 = d2l.train_linreg(sgd, None, {"lr": 0.05}, data=data, seed=0)
    seed_42 = d2l.train_linreg(sgd, None, {"lr": 0.05}, data=data, seed=42)
    assert d2l.max_difference(seed_0, seed_42) > 1e-6


def test_minibatches_are_the_first_rows_in_order():
    X, y = _data(n=30)
    batches = list(checks.minibatches((X, y), steps=3, batch_size=10))
    assert all(torch.equal(bx, X[10 * i : 10 * (i + 1)]) for i, (bx, _) in enumerate(batches))


def test_too_few_examples_for_the_steps_is_an_error_that_says_what_to_change():
    with pytest.raises(ValueError, match="fewer steps or a smaller batch size"):
        d2l.same_as_torch(
            sgd, None, {"lr": 0.1}, torch.optim.SGD, data=_data(n=50), steps=10, batch_size=10
        )


def test_bad_data_is_an_error_that_names_the_accepted_forms():
    with pytest.raises(TypeError, match="TensorLoader"):
        d2l.train_linreg(sgd, None, {"lr": 0.1}, data=torch.zeros(10, 3))
    with pytest.raises(ValueError, match="must match"):
        d2l.train_linreg(sgd, None, {"lr": 0.1}, data=(torch.zeros(10, 3), torch.zeros(9)))


def test_max_difference_compares_trajectories_and_flags_blown_up_runs():
    a = [(0.0, 1.0), (2.0, 3.0)]
    assert d2l.max_difference(a, [(0.0, 1.0), (2.5, 3.0)]) == 0.5
    assert d2l.max_difference(a, [(0.0, 1.0), (math.nan, 3.0)]) == math.inf
    assert d2l.max_difference([torch.tensor([math.inf])], [torch.tensor([math.inf])]) == math.inf
    with pytest.raises(ValueError, match="same number of steps"):
        d2l.max_difference(a, a[:1])
    with pytest.raises(ValueError, match="shapes"):
        d2l.max_difference([torch.zeros(2)], [torch.zeros(3)])


def test_trajectory_2d_follows_gradient_descent_exactly():
    problem = d2l.problems.quadratic
    trace = d2l.trajectory_2d(torch.optim.SGD, problem.f, problem.start, steps=10, lr=0.1)
    assert len(trace) == 11 and trace[0] == problem.start
    assert trace[10] == pytest.approx((-5 * 0.8**10, -2 * 0.6**10), abs=1e-12)

    def gd_2d(x1, x2, s1, s2, f_grad):
        g1, g2 = f_grad(x1, x2)
        return x1 - 0.1 * g1, x2 - 0.1 * g2, 0, 0

    ours = d2l.train_2d(gd_2d, steps=10, f_grad=problem.f_grad, verbose=False)
    assert d2l.max_difference(ours, trace) < 1e-12


def test_trajectory_2d_takes_a_partial_or_a_from_scratch_optimizer_and_tells_them_apart():
    problem = d2l.problems.ill_conditioned
    plain = d2l.trajectory_2d(partial(torch.optim.SGD, lr=0.3), problem.f, problem.start)
    scratch = d2l.trajectory_2d(ScratchSGD, problem.f, problem.start, lr=0.3)
    heavy = d2l.trajectory_2d(torch.optim.SGD, problem.f, problem.start, lr=0.3, momentum=0.5)
    assert d2l.max_difference(plain, scratch) < 1e-12
    assert d2l.max_difference(plain, heavy) > 0.1


def test_trajectory_2d_rejects_a_start_that_is_not_a_point():
    with pytest.raises(ValueError, match=r"point \(x1, x2\)"):
        d2l.trajectory_2d(torch.optim.SGD, d2l.problems.quadratic.f, (1.0, 2.0, 3.0), lr=0.1)


def test_same_as_torch_runs_on_the_airfoil_data_by_default(airfoil_root):
    difference = d2l.same_as_torch(sgd, None, {"lr": 0.05}, partial(torch.optim.SGD, lr=0.05))
    wrong = d2l.same_as_torch(sgd, None, {"lr": 0.05}, partial(torch.optim.SGD, lr=0.04))
    assert difference < 1e-5 < 1e-3 < wrong


def test_least_squares_loss_is_the_floor_under_every_trained_model():
    X, y = _data()
    floor = d2l.least_squares_loss((X, y))
    w, b = d2l.train_linreg(sgd, None, {"lr": 0.05}, data=(X, y), steps=100)
    trained = float(d2l.squared_loss(d2l.linreg(X, w, b), y).mean())
    assert floor <= trained < floor + 0.01
    true_loss = 0.5 * float(((y - X @ torch.tensor([1.0, -2.0, 0.5])) ** 2).mean())
    assert 0.95 * true_loss < floor <= true_loss  # the noise of the data, fitted a little


def test_max_difference_compares_parameters_that_require_grad_without_a_warning(recwarn):
    a = [torch.ones(2, requires_grad=True)]
    assert d2l.max_difference(a, [torch.zeros(2)]) == 1.0
    assert not recwarn.list


def test_agree_passes_equal_runs_and_prints_the_difference(capsys):
    ours = checks.train_linreg(sgd, None, {"lr": 0.1}, data=_data(), steps=20)
    theirs = checks.train_linreg_torch(partial(torch.optim.SGD, lr=0.1), data=_data(), steps=20)
    difference = d2l.agree("sgd vs torch.optim.SGD", ours, theirs)
    assert difference < 1e-6
    assert capsys.readouterr().out.startswith("sgd vs torch.optim.SGD: agree within 1e-05 (")


def test_agree_fails_on_different_runs_and_names_them():
    ours = checks.train_linreg(sgd, None, {"lr": 0.1}, data=_data(), steps=20)
    theirs = checks.train_linreg(sgd, None, {"lr": 0.2}, data=_data(), steps=20)
    with pytest.raises(AssertionError, match="lr 0.1 vs lr 0.2: max"):
        d2l.agree("lr 0.1 vs lr 0.2", ours, theirs)


def test_agree_fails_on_a_run_that_blew_up():
    with pytest.raises(AssertionError, match="inf"):
        d2l.agree("blown up", [torch.tensor([math.nan])], [torch.tensor([0.0])])


def test_differ_passes_different_runs_and_fails_equal_ones(capsys):
    a = [torch.tensor([1.0, 2.0])]
    b = [torch.tensor([1.0, 2.5])]
    assert d2l.differ("a vs b", a, b) == 0.5
    assert capsys.readouterr().out == "a vs b: differ by 0.5 (more than 1e-05)\n"
    with pytest.raises(AssertionError, match="a vs a: .* expected to differ"):
        d2l.differ("a vs a", a, a)
