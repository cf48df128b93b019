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
    assert capsys.readouterr().out == "epoch 20, x1: -0.057646, x2: -0.000073\n"
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


def test_evaluate_accuracy_restores_training_mode():
    net = nn.Sequential(nn.Linear(4, 3), nn.Dropout(0.5))
    loader = d2l.load_array((torch.randn(10, 4), torch.randint(0, 3, (10,))), 4, False)
    net.train()
    acc = d2l.evaluate_accuracy_gpu(net, loader)
    assert 0 <= acc <= 1 and net.training
    net.eval()
    d2l.evaluate_accuracy_gpu(net, loader)
    assert not net.training


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


def test_train_ch11_full_batch_single_epoch_does_not_crash(capsys):
    # d2l's crashes here: 300 examples never hit a multiple of 200.
    times, losses = d2l.train_ch11(_sgd, None, {"lr": 0.1}, _regression_data(300, 300), 5, 1)
    assert len(times) == len(losses) == 1
    assert "loss:" in capsys.readouterr().out


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
    assert all(len(values) == 3 for values in history.values())
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
