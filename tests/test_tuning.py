import math

import pytest
import torch
from torch import nn

import d2lhelpers as d2l
from d2lhelpers import tuning


def _problem(n=64, batch_size=8, seed=0):
    """A small classification problem and a fresh linear classifier, both seeded."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 5, generator=generator)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 3))
    return net, d2l.load_array((X, y), batch_size), d2l.load_array((X, y), 32, is_train=False)


def test_train_steps_counts_steps_across_epochs_and_applies_the_schedules():
    net, train_iter, _ = _problem()  # 8 batches per epoch
    optimizer = torch.optim.SGD(net.parameters(), lr=1.0, momentum=0.0)
    record = tuning.train_steps(
        net,
        optimizer,
        train_iter,
        num_steps=20,
        lr_schedule=lambda t: 0.01 * (t + 1),
        momentum_schedule=lambda t: 0.5 + t / 100,
    )
    assert record["steps"] == 20 and len(record["loss"]) == 20 and not record["diverged"]
    assert record["lr"] == pytest.approx([0.01 * (t + 1) for t in range(20)])
    assert record["momentum"] == pytest.approx([0.5 + t / 100 for t in range(20)])
    assert optimizer.param_groups[0]["momentum"] == pytest.approx(0.69)


def test_train_steps_sets_adams_beta1_from_the_momentum_schedule():
    net, train_iter, _ = _problem()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.9, 0.99))
    tuning.train_steps(net, optimizer, train_iter, 3, momentum_schedule=lambda t: 0.8)
    assert optimizer.param_groups[0]["betas"] == (0.8, 0.99)


def test_train_steps_matches_a_plain_loop_on_the_same_seed():
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    torch.manual_seed(1)
    record = tuning.train_steps(net, optimizer, train_iter, 12)
    reference, _, _ = _problem()
    ref_optimizer = torch.optim.SGD(reference.parameters(), lr=0.1)
    torch.manual_seed(1)
    losses = []
    while len(losses) < 12:
        for X, y in train_iter:
            ref_optimizer.zero_grad()
            ls = nn.functional.cross_entropy(reference(X), y)
            ls.backward()
            ref_optimizer.step()
            losses.append(float(ls.detach()))
            if len(losses) == 12:
                break
    assert record["loss"] == pytest.approx(losses, abs=1e-6)
    for p, q in zip(net.parameters(), reference.parameters()):
        torch.testing.assert_close(p, q)


def test_train_steps_records_the_gradient_norm_before_clipping_and_clips():
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    free = tuning.train_steps(net, optimizer, train_iter, 8)
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    threshold = sorted(free["grad_norm"])[4]
    clipped = tuning.train_steps(net, optimizer, train_iter, 8, clip_norm=threshold)
    assert clipped["grad_norm"] == pytest.approx(free["grad_norm"])
    assert clipped["clipped"] == [g > threshold for g in free["grad_norm"]]
    assert sum(clipped["clipped"]) == 3
    total = math.sqrt(sum(float(p.grad.norm()) ** 2 for p in net.parameters()))
    assert total == pytest.approx(min(free["grad_norm"][-1], threshold), rel=1e-5)


def test_train_steps_measures_the_gradient_norm_as_clip_grad_norm_does():
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    record = tuning.train_steps(net, optimizer, train_iter, 1)
    assert record["grad_norm"] == [float(torch.nn.utils.clip_grad_norm_(net.parameters(), 1e9))]
    assert float(tuning._total_norm([])) == 0.0


def test_train_steps_records_update_to_weight_ratios_of_each_weight_matrix():
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    w_before = net[0].weight.detach().clone()
    record = tuning.train_steps(net, optimizer, train_iter, 1, record_layers=True)
    assert set(record["update_ratio"]) == {"0.weight", "2.weight"}
    expected = float((net[0].weight.detach() - w_before).norm() / w_before.norm())
    assert record["update_ratio"]["0.weight"] == pytest.approx([expected])
    # SGD moves a weight by lr * gradient, so the ratio is lr * |g| / |w|
    g = record["layer_grad_norm"]["0.weight"][0]
    assert expected == pytest.approx(0.1 * g / float(w_before.norm()), rel=1e-5)


def test_train_steps_evaluates_every_few_steps_and_after_the_last():
    net, train_iter, test_iter = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    record = tuning.train_steps(net, optimizer, train_iter, 10, test_iter=test_iter, eval_every=4)
    assert record["eval_steps"] == [4, 8, 10]
    assert all(0 <= a <= 1 for a in record["test_acc"]) and len(record["test_acc"]) == 3
    assert record["test_acc"][-1] == d2l.evaluate_accuracy_gpu(net, test_iter)


def test_train_steps_with_a_test_set_alone_evaluates_once_at_the_end():
    net, train_iter, test_iter = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    record = tuning.train_steps(net, optimizer, train_iter, 5, test_iter=test_iter)
    assert record["eval_steps"] == [5]
    assert record["test_acc"] == [d2l.evaluate_accuracy_gpu(net, test_iter)]


def test_train_steps_stops_and_says_so_when_the_loss_diverges():
    net, train_iter, test_iter = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e4)
    record = tuning.train_steps(net, optimizer, train_iter, 50, test_iter=test_iter, eval_every=5)
    assert record["diverged"] and record["steps"] < 50
    assert not math.isfinite(record["loss"][-1]) or record["loss"][-1] > 1e3
    assert len(record["grad_norm"]) == record["steps"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_steps=0), "num_steps"),
        (dict(num_steps=3, clip_norm=0.0), "clip_norm"),
        (dict(num_steps=3, eval_every=2), "test_iter"),
    ],
)
def test_train_steps_rejects_bad_settings(kwargs, message):
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=message):
        tuning.train_steps(net, optimizer, train_iter, **kwargs)


def test_a_momentum_schedule_needs_an_optimizer_with_momentum():
    net, train_iter, _ = _problem()
    optimizer = torch.optim.Adagrad(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="neither 'momentum' nor 'betas'"):
        tuning.train_steps(net, optimizer, train_iter, 2, momentum_schedule=lambda t: 0.9)


def test_quasi_random_samples_put_one_point_in_each_slice_and_respect_the_bounds():
    trials = tuning.search_space_samples({"lr": (1e-4, 1.0, "log")}, 16, seed=3)
    exponents = sorted(math.log10(t["lr"]) for t in trials)
    assert -4 <= exponents[0] and exponents[-1] <= 0
    slices = sorted(int((e + 4) / 4 * 16) for e in exponents)
    assert slices == list(range(16))  # one point in each sixteenth of [-4, 0]


def test_random_samples_are_reproducible_and_scale_as_asked():
    space = {"lr": (1e-3, 1e-1, "log"), "beta": (0.8, 0.99, "linear")}
    first = tuning.search_space_samples(space, 500, seed=1, method="random")
    assert first == tuning.search_space_samples(space, 500, seed=1, method="random")
    assert first != tuning.search_space_samples(space, 500, seed=2, method="random")
    logs = sorted(math.log10(t["lr"]) for t in first)
    betas = sorted(t["beta"] for t in first)
    assert logs[250] == pytest.approx(-2.0, abs=0.15)  # median of a log-uniform: geometric mean
    assert betas[250] == pytest.approx(0.895, abs=0.02)
    assert all(0.8 <= b <= 0.99 for b in betas)


@pytest.mark.parametrize(
    "space, kwargs, message",
    [
        ({"lr": (1e-3, 1e-1, "log")}, dict(num_trials=0), "num_trials"),
        ({}, dict(num_trials=2), "empty"),
        ({"lr": (1e-1, 1e-3, "log")}, dict(num_trials=2), "below"),
        ({"lr": (0.0, 1.0, "log")}, dict(num_trials=2), "low > 0"),
        ({"lr": (0.1, 1.0, "cubic")}, dict(num_trials=2), "scale"),
        ({"lr": (0.1, 1.0, "log")}, dict(num_trials=2, method="grid"), "method"),
    ],
)
def test_search_space_samples_rejects_bad_spaces(space, kwargs, message):
    with pytest.raises(ValueError, match=message):
        tuning.search_space_samples(space, **kwargs)


def test_ema_smooth_is_bias_corrected():
    assert tuning.ema_smooth([2.0, 2.0, 2.0], beta=0.9) == pytest.approx([2.0, 2.0, 2.0])
    assert tuning.ema_smooth([1.0, 3.0], beta=0.5) == pytest.approx([1.0, (0.25 + 1.5) / 0.75])
    with pytest.raises(ValueError, match="beta"):
        tuning.ema_smooth([1.0], beta=1.0)


def test_scheduler_curve_reads_one_cycle_without_touching_a_real_optimizer():
    def one_cycle(optimizer):
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.5, total_steps=10)

    lrs, momenta = tuning.scheduler_curve(one_cycle, 10)
    assert lrs[0] == pytest.approx(0.5 / 25) and max(lrs) == pytest.approx(0.5)
    assert lrs[-1] == pytest.approx(0.5 / 25 / 1e4)
    assert momenta[0] == pytest.approx(0.95) and min(momenta) == pytest.approx(0.85)
    assert momenta[lrs.index(max(lrs))] == pytest.approx(0.85)  # momentum low where lr is high
    with pytest.raises(ValueError, match="num_steps"):
        tuning.scheduler_curve(one_cycle, 0)


def test_ema_fed_one_value_at_a_time_gives_the_same_floats_as_the_loop_it_replaces():
    values = [2.31, 2.2, 2.5, 1.9, 1.7, 0.4, 3.3]
    average, expected = 0.0, []
    for k, value in enumerate(values):
        average = 0.9 * average + (1 - 0.9) * value
        expected.append(average / (1 - 0.9 ** (k + 1)))
    ema = d2l.EMA(0.9)
    assert [ema(value) for value in values] == expected
    assert tuning.ema_smooth(values, 0.9) == expected


def test_train_steps_on_a_loader_exhausted_after_one_epoch_stops_with_an_error_not_a_hang():
    net, train_iter, _ = _problem(n=32)
    batches = iter(list(train_iter))  # 4 minibatches, then nothing: __iter__ returns the same

    class OneShot:
        def __len__(self):
            return 4

        def __iter__(self):
            return batches

    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="yielded no minibatch in epoch 2"):
        d2l.train_steps(net, optimizer, OneShot(), 6)


@pytest.mark.parametrize("num_steps", [2.5, math.nan])
def test_train_steps_refuses_a_number_of_steps_that_is_not_whole(num_steps):
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="num_steps must be a positive whole number"):
        d2l.train_steps(net, optimizer, train_iter, num_steps)


def test_train_steps_records_a_layer_the_loss_does_not_use_with_a_zero_gradient():
    body, train_iter, _ = _problem()

    class WithAnUnusedLayer(nn.Module):
        def __init__(self):
            super().__init__()
            self.body, self.unused = body, nn.Linear(3, 3)

        def forward(self, X):
            return self.body(X)

    net = WithAnUnusedLayer()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    record = d2l.train_steps(net, optimizer, train_iter, 3, record_layers=True)
    assert record["layer_grad_norm"]["unused.weight"] == [0.0, 0.0, 0.0]
    assert record["update_ratio"]["unused.weight"] == [0.0, 0.0, 0.0]


def test_train_steps_with_a_net_without_parameters_says_so():
    _, train_iter, _ = _problem()
    with pytest.raises(ValueError, match="net has no parameters"):
        d2l.train_steps(nn.Identity(), None, train_iter, 3)


@pytest.mark.parametrize("rate", [-0.1, math.nan, math.inf, "0.1", None])
def test_a_learning_rate_schedule_that_gives_no_usable_rate_is_an_error(rate):
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="for step 0"):
        d2l.train_steps(net, optimizer, train_iter, 3, lr_schedule=lambda t: rate)


@pytest.mark.parametrize("momentum", [-0.5, 1.0, math.nan])
def test_a_momentum_schedule_outside_zero_to_one_is_an_error(momentum):
    net, train_iter, _ = _problem()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"must be a number in \[0, 1\)"):
        d2l.train_steps(net, optimizer, train_iter, 3, momentum_schedule=lambda t: momentum)
