import math
import subprocess
import sys

import pytest
import torch
from torch import nn

import d2lhelpers as d2l


def _gd(x1, x2, s1, s2, f_grad, eta=0.1):
    g1, g2 = f_grad(x1, x2)
    return x1 - eta * g1, x2 - eta * g2, 0, 0


def test_train_2d_reproduces_the_book(capsys):
    results = d2l.train_2d(_gd, f_grad=d2l.problems.quadratic.f_grad)
    assert capsys.readouterr().out == "step 20, x1: -0.057646, x2: -0.000073\n"
    assert len(results) == 21 and results[0] == (-5.0, -2.0)


def test_train_2d_without_f_grad_and_custom_start(capsys):
    def trainer(x1, x2, s1, s2):
        return x1 / 2, x2 / 2, s1 + 1, s2

    results = d2l.train_2d(trainer, steps=3, start=(8.0, 4.0), verbose=False)
    assert results[-1] == (1.0, 0.5) and capsys.readouterr().out == ""


def test_linreg_squared_loss_accuracy():
    X, w, b = torch.ones(2, 3), torch.ones(3, 1), torch.tensor([1.0])
    assert torch.equal(d2l.linreg(X, w, b), torch.full((2, 1), 4.0))
    assert torch.equal(
        d2l.squared_loss(torch.tensor([[3.0]]), torch.tensor([1.0])), torch.tensor([[2.0]])
    )
    assert d2l.accuracy(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])) == 1.0


def test_evaluate_loss_runs_without_grad_and_draws_no_random_numbers():
    X, y = torch.randn(40, 2), torch.randn(40)
    w = torch.ones(2, 1, requires_grad=True)
    loader = d2l.load_array((X, y), 8)
    state = torch.get_rng_state()
    loss = d2l.evaluate_loss(lambda A: A @ w, loader, d2l.squared_loss)
    assert torch.equal(state, torch.get_rng_state())
    assert loss == pytest.approx(float(d2l.squared_loss(X @ w, y).mean().detach()), rel=1e-6)
    assert w.grad is None


def test_evaluate_accuracy_is_exact_in_eval_mode_and_restores_training_mode():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    X, y = torch.randn(10, 4), torch.randint(0, 3, (10,))
    loader = d2l.load_array((X, y), 4, False)
    with torch.no_grad():
        expected = (net[0](X).argmax(dim=1) == y).sum().item() / 10  # no dropout
    assert expected not in (0.0, 1.0)  # the check below can tell right from wrong
    net.train()
    assert d2l.evaluate_accuracy_gpu(net, loader) == expected and net.training
    net.eval()
    assert d2l.evaluate_accuracy_gpu(net, loader) == expected and not net.training


def test_evaluate_accuracy_of_a_net_without_parameters_runs_on_the_cpu():
    scores = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    loader = d2l.load_array((scores, torch.tensor([0, 1, 1, 0])), 2, False)
    assert d2l.evaluate_accuracy_gpu(nn.Identity(), loader) == 0.5
    assert d2l.evaluate_accuracy_gpu(nn.Identity(), loader, torch.device("cpu")) == 0.5


def test_evaluating_an_empty_data_set_is_an_error():
    net = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="evaluate_accuracy_gpu: data_iter yielded no examples"):
        d2l.evaluate_accuracy_gpu(net, [])
    with pytest.raises(ValueError, match="evaluate_loss: data_iter yielded no examples"):
        d2l.evaluate_loss(net, [], d2l.squared_loss)


def test_accuracy_counts_labels_and_class_scores():
    y = torch.tensor([0, 1, 2, 1])
    assert d2l.accuracy(torch.tensor([0, 1, 1, 1]), y) == 3.0
    assert d2l.accuracy(torch.eye(3)[[0, 1, 2, 0]] + 0.1, y) == 3.0


@pytest.mark.parametrize(
    "y_hat_shape, y_shape",
    [((4, 1), (4,)), ((4, 3), (4, 1)), ((3,), (4,)), ((4, 3), (5,)), ((2, 2, 2), (2,))],
)
def test_accuracy_rejects_shapes_it_cannot_compare(y_hat_shape, y_shape):
    # d2l's returns 16.0 for (4, 1) predictions against 4 labels: broadcasting.
    with pytest.raises(ValueError) as info:
        d2l.accuracy(torch.zeros(y_hat_shape), torch.zeros(y_shape, dtype=torch.long))
    assert f"predictions of shape {y_hat_shape}" in str(info.value)
    assert f"labels of shape {y_shape}" in str(info.value)


def _sgd(params, states, hyperparams):
    for p in params:
        p.data.sub_(hyperparams["lr"] * p.grad)
        p.grad.data.zero_()


def _regression_data(n=300, batch_size=10):
    torch.manual_seed(0)
    X = torch.randn(n, 5)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 0.0, 1.0]) + 0.1 * torch.randn(n)
    return d2l.load_array((X, y), batch_size)


def test_train_ch11_returns_aligned_times_and_losses(capsys):
    times, losses = d2l.train_ch11(_sgd, None, {"lr": 0.05}, _regression_data(), 5, 2)
    assert len(times) == len(losses) == 3  # every 200 examples over 600
    assert times == sorted(times) and losses[-1] < 0.35
    out = capsys.readouterr().out
    assert out.startswith(f"loss: {losses[-1]:.3f}, ") and out.endswith(" sec/epoch\n")


def test_train_ch11_full_batch_single_epoch_reports_the_loss_after_its_one_step(capsys):
    # d2l's crashes here: 300 examples never hit a multiple of 200.
    data = _regression_data(300, 300)
    torch.manual_seed(1)
    times, losses = d2l.train_ch11(_sgd, None, {"lr": 0.1}, data, 5, 1)
    # The same single full-batch gradient step, done by hand from the same initial weights.
    torch.manual_seed(1)
    w = torch.normal(mean=0.0, std=0.01, size=(5, 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    X, y = data.tensors
    d2l.squared_loss(d2l.linreg(X, w, b), y).mean().backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        b -= 0.1 * b.grad
        expected = float(d2l.squared_loss(d2l.linreg(X, w, b), y).mean())
    assert len(times) == 1 and losses == [pytest.approx(expected, rel=1e-5)]
    assert capsys.readouterr().out.startswith(f"loss: {expected:.3f}, ")


def test_train_ch11_rejects_zero_epochs():
    with pytest.raises(ValueError, match="num_epochs must be a positive whole number, got 0"):
        d2l.train_ch11(_sgd, None, {"lr": 0.1}, _regression_data(), 5, 0)


class _RecordingAnimator(d2l.Animator):
    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _RecordingAnimator.made.append(self)


@pytest.fixture
def animators(monkeypatch):
    """The Animators the training loops create during a test."""
    _RecordingAnimator.made = []
    monkeypatch.setattr("d2lhelpers.training.Animator", _RecordingAnimator)
    return _RecordingAnimator.made


def _one_line(out: str) -> str:
    lines = out.splitlines()
    assert len(lines) == 1, out
    return lines[0]


def test_train_ch11_stops_at_the_first_non_finite_loss(capsys, animators):
    torch.manual_seed(0)
    times, losses = d2l.train_ch11(_sgd, None, {"lr": 5.0}, _regression_data(), 5, 3)
    line = _one_line(capsys.readouterr().out)
    assert line.startswith("Stopped at epoch 1, step ") and "(the run diverged)" in line
    assert line.endswith("Try a smaller learning rate than 5.")
    step = int(line.split("step ")[1].split(":")[0])
    assert 1 < step < 30  # it ran, then stopped in the first of 3 epochs of 30 steps
    assert len(times) == len(losses) == step * 10 // 200  # the points measured before it
    (animator,) = animators
    assert animator.Y in (None, [losses]) and not animator._pending  # plotted, and shown


@pytest.mark.parametrize("lr", [5.0, torch.tensor(5.0)], ids=["float", "tensor"])
def test_train_concise_ch11_stops_at_the_first_non_finite_loss(capsys, animators, lr):
    torch.manual_seed(0)
    times, losses = d2l.train_concise_ch11(torch.optim.SGD, {"lr": lr}, _regression_data(), 4)
    line = _one_line(capsys.readouterr().out)
    assert line.startswith("Stopped at epoch 1, step ")
    assert line.endswith("Try a smaller learning rate than 5.")
    assert len(times) == len(losses) and all(math.isfinite(v) for v in losses)


def test_train_concise_ch11_infers_the_input_width(capsys):
    torch.manual_seed(0)
    X, y = torch.randn(200, 3), torch.randn(200)
    times, losses = d2l.train_concise_ch11(
        torch.optim.SGD, {"lr": 0.01}, d2l.load_array((X, y), 10), 1
    )
    assert len(losses) == 1 and "loss:" in capsys.readouterr().out


def _classification():
    torch.manual_seed(0)
    X = torch.randn(64, 4)
    y = (X[:, 0] > 0).long()
    return d2l.load_array((X, y), 16), d2l.load_array((X, y), 16, False)


def test_train_applies_a_callable_schedule_in_its_own_epoch(capsys):
    train_iter, test_iter = _classification()
    net = nn.Linear(4, 2)
    trainer = torch.optim.SGD(net.parameters(), lr=99.0)
    seen = []
    original_step = trainer.step

    def step(*args, **kwargs):
        seen.append(trainer.param_groups[0]["lr"])
        return original_step(*args, **kwargs)

    trainer.step = step
    result = d2l.train(
        net,
        train_iter,
        test_iter,
        3,
        nn.CrossEntropyLoss(),
        trainer,
        torch.device("cpu"),
        scheduler=lambda epoch: 0.1 * (epoch + 1),
    )
    assert seen == pytest.approx([0.1] * 4 + [0.2] * 4 + [0.3] * 4)
    assert set(result) == {"train_loss", "train_acc", "test_acc", "history"}
    assert result["history"]["lr"] == pytest.approx([0.1, 0.2, 0.3])
    out = capsys.readouterr().out
    assert out.startswith("train loss ") and "examples/sec on cpu (" in out


def test_train_returns_the_metrics_of_every_epoch():
    train_iter, test_iter = _classification()
    net = nn.Linear(4, 2)
    result = d2l.train(
        net,
        train_iter,
        test_iter,
        3,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(net.parameters(), lr=0.5),
        torch.device("cpu"),
    )
    history = result["history"]
    keys = ["train_loss", "train_acc", "test_acc", "lr", "time"]
    assert [key for key, value in history.items() if isinstance(value, list)] == keys
    assert all(len(history[key]) == 3 for key in keys)
    assert history["steps"] == 3 * len(train_iter) and history["diverged"] is False
    assert history["test_acc"][-1] == result["test_acc"]
    assert history["train_loss"][-1] == result["train_loss"]
    assert history["train_loss"][0] > history["train_loss"][-1]
    assert 0 < history["time"][0] <= history["time"][1] <= history["time"][2]


_SEEDED_RUN = """
import torch
from torch import nn
import d2lhelpers as d2l

torch.manual_seed(0)
X = torch.randn(512, 1, 12, 12)
y = (X.mean(dim=(1, 2, 3)) > 0).long()
net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(400, 2))
r = d2l.train(net, d2l.load_array((X, y), 32), d2l.load_array((X, y), 64, False), 2,
              nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=0.1), d2l.cpu())
print("RESULT", repr(r["history"]["train_loss"]), repr(r["history"]["test_acc"]))
"""


def test_two_seeded_runs_in_separate_processes_give_identical_metrics():
    """The loop has no timing-dependent choice: the same seed gives bit-identical numbers."""
    outputs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _SEEDED_RUN], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        outputs.append([line for line in done.stdout.splitlines() if line.startswith("RESULT")])
    assert outputs[0] and outputs[0] == outputs[1]


def test_train_steps_a_torch_scheduler_after_each_epoch():
    train_iter, test_iter = _classification()
    net = nn.Linear(4, 2)
    trainer = torch.optim.SGD(net.parameters(), lr=0.4)
    scheduler = torch.optim.lr_scheduler.StepLR(trainer, step_size=1, gamma=0.5)
    d2l.train(
        net,
        train_iter,
        test_iter,
        3,
        nn.CrossEntropyLoss(),
        trainer,
        torch.device("cpu"),
        scheduler,
    )
    assert trainer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_train_learns_a_separable_problem():
    train_iter, test_iter = _classification()
    net = nn.Linear(4, 2)
    result = d2l.train(
        net,
        train_iter,
        test_iter,
        10,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(net.parameters(), lr=0.5),
        torch.device("cpu"),
    )
    assert result["test_acc"] > 0.9 and result["train_loss"] < 0.5


def test_train_restores_threads_and_memory_format_on_the_cpu():
    torch.manual_seed(0)
    X, y = torch.rand(32, 1, 8, 8), torch.randint(0, 2, (32,))
    loader = d2l.load_array((X, y), 8)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(72, 2))
    threads = torch.get_num_threads()
    d2l.train(
        net,
        loader,
        loader,
        2,
        nn.CrossEntropyLoss(),
        torch.optim.SGD(net.parameters(), lr=0.1),
        torch.device("cpu"),
    )
    assert torch.get_num_threads() == threads
    assert net[0].weight.is_contiguous()


def _train_with_a_nan_at(batch: int, monkeypatch=None, every_batch: bool = True):
    """Train the separable problem (4 batches per epoch) with a loss that is NaN at `batch`."""
    train_iter, test_iter = _classification()
    torch.manual_seed(0)
    net = nn.Linear(4, 2)
    calls = []

    def loss(y_hat, y):
        calls.append(len(calls))
        ls = nn.functional.cross_entropy(y_hat, y)
        return ls * math.nan if len(calls) == batch else ls

    if monkeypatch is not None:
        monkeypatch.setattr(
            "d2lhelpers.training._check_every",
            lambda device, plot_every: 1 if every_batch else plot_every,
        )
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    result = d2l.train(net, train_iter, test_iter, 3, loss, trainer, torch.device("cpu"))
    return result, len(calls)


@pytest.mark.parametrize("every_batch", [True, False], ids=["cpu", "gpu-style"])
def test_train_stops_at_the_first_non_finite_loss_and_returns_what_it_measured(
    capsys, animators, monkeypatch, every_batch
):
    reference, _ = _train_with_a_nan_at(batch=0)  # never NaN: the same run, to epoch 3
    capsys.readouterr()
    animators.clear()
    result, calls = _train_with_a_nan_at(6, monkeypatch, every_batch)  # epoch 2, step 2
    line = _one_line(capsys.readouterr().out)
    assert line == (
        "Stopped at epoch 2, step 2: the loss became nan (the run diverged). "
        "Try a smaller learning rate than 0.5."
    )
    # The check on the device reads the losses at the next plot point (every batch here,
    # as 4 batches / 5 rounds down to 1): either way it stops at batch 6.
    assert calls == 6
    (animator,) = animators
    train_loss, train_acc, test_acc = animator.Y
    assert len(train_loss) == 5 and len(test_acc) == 1 and not animator._pending
    history = result.pop("history")
    assert result == {
        "train_loss": train_loss[-1],
        "train_acc": train_acc[-1],
        "test_acc": test_acc[-1],
    }
    assert all(math.isfinite(v) for v in result.values())
    assert history["test_acc"] == [test_acc[-1]] and history["lr"] == [0.5]  # epoch 1 only
    reference.pop("history")
    assert result != reference


def test_train_checks_on_the_device_only_at_plot_points(capsys, animators, monkeypatch):
    """With the device-side check, a NaN is found where the loop already reads its metrics."""
    torch.manual_seed(0)
    X = torch.randn(160, 4)
    y = (X[:, 0] > 0).long()
    train_iter = d2l.load_array((X, y), 8)  # 20 batches per epoch, a plot point every 4
    calls = []

    def loss(y_hat, target):
        calls.append(1)
        ls = nn.functional.cross_entropy(y_hat, target)
        return ls * math.nan if len(calls) == 6 else ls

    monkeypatch.setattr("d2lhelpers.training._check_every", lambda device, plot_every: plot_every)
    net = nn.Linear(4, 2)
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    d2l.train(net, train_iter, train_iter, 2, loss, trainer, torch.device("cpu"))
    assert _one_line(capsys.readouterr().out).startswith("Stopped at epoch 1, step 6:")
    assert len(calls) == 8  # ran on to the plot point after step 6
    assert len(animators[0].Y[0]) == 1  # the one point plotted before it


def test_train_rejects_zero_epochs():
    train_iter, test_iter = _classification()
    net = nn.Linear(4, 2)
    with pytest.raises(ValueError, match="num_epochs must be a positive whole number"):
        d2l.train(
            net,
            train_iter,
            test_iter,
            0,
            nn.CrossEntropyLoss(),
            torch.optim.SGD(net.parameters(), lr=0.1),
            torch.device("cpu"),
        )


def test_the_divergence_rule_flags_inf_nan_and_values_above_the_limit():
    assert not d2l.diverged(1e30)
    assert d2l.diverged(math.inf) and d2l.diverged(-math.inf) and d2l.diverged(math.nan)
    assert d2l.diverged(4.01, limit=4.0) and not d2l.diverged(4.0, limit=4.0)


def test_train_over_a_loader_exhausted_after_one_epoch_stops_with_an_error():
    train_iter, test_iter = _classification()
    batches = iter(list(train_iter))

    class OneShot:
        def __len__(self):
            return 4

        def __iter__(self):
            return batches

    net = nn.Linear(4, 2)
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="yielded no minibatch in epoch 2"):
        d2l.train(net, OneShot(), test_iter, 3, nn.CrossEntropyLoss(), trainer, "cpu")


def test_train_with_an_empty_loader_says_it_is_empty_instead_of_printing_nan():
    empty = d2l.load_array((torch.zeros(0, 4), torch.zeros(0, dtype=torch.long)), 8)
    net = nn.Linear(4, 2)
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="yielded no minibatch"):
        d2l.train(net, empty, empty, 1, nn.CrossEntropyLoss(), trainer, "cpu", plot=False)


@pytest.mark.parametrize("rate", [-0.1, math.nan, "fast"])
def test_train_refuses_a_callable_schedule_that_gives_no_usable_rate(rate):
    train_iter, test_iter = _classification()
    net = nn.Linear(4, 2)
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="for epoch 0"):
        d2l.train(
            net, train_iter, test_iter, 1, nn.CrossEntropyLoss(), trainer, "cpu", lambda e: rate
        )


def test_accuracy_refuses_one_float_score_per_example_instead_of_truncating_it():
    logits = torch.tensor([2.3, -1.7, 0.4])  # all three right if thresholded at 0
    labels = torch.tensor([1, 0, 1])
    with pytest.raises(ValueError, match=r"\(y_hat > 0\).long\(\)"):
        d2l.accuracy(logits, labels)
    assert d2l.accuracy((logits > 0).long(), labels) == 3


def test_train_concise_ch11_on_empty_data_says_so():
    empty = d2l.load_array((torch.zeros(0, 5), torch.zeros(0)), 10)
    with pytest.raises(ValueError, match="yielded no minibatch"):
        d2l.train_concise_ch11(torch.optim.SGD, {"lr": 0.1}, empty)


def test_train_2d_refuses_negative_steps_and_keeps_a_diverged_point_short(capsys):
    with pytest.raises(ValueError, match="steps must be a whole number >= 0, got -3"):
        d2l.train_2d(_gd, steps=-3, f_grad=d2l.problems.quadratic.f_grad)

    def blow_up(x1, x2, s1, s2):
        return x1 * 1e60, x2 * 1e60, s1, s2

    d2l.train_2d(blow_up, steps=5)
    assert capsys.readouterr().out == "step 5, x1: -5e+300, x2: -2e+300\n"


@pytest.mark.parametrize("lr, advice", [(math.nan, "The learning rate was nan"), (0.5, "than 0.5")])
def test_the_divergence_line_gives_advice_a_learner_can_act_on(capsys, lr, advice):
    torch.manual_seed(0)
    X = torch.randn(40, 5)
    data_iter = d2l.load_array((X, X.sum(dim=1) * 1e30), 10)
    d2l.train_concise_ch11(torch.optim.SGD, {"lr": lr}, data_iter, num_epochs=1, plot=False)
    assert advice in capsys.readouterr().out
