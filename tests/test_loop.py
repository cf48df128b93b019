"""The one training loop: its events, its divergence rule, its stopping and its history."""

import math

import pytest
import torch
from torch import nn

import d2lhelpers as d2l
from d2lhelpers.loop import EVENTS, History, fit


def _data(n=40, batch_size=8, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 3, generator=generator)
    return d2l.load_array((X, X.sum(dim=1, keepdim=True)), batch_size, is_train=False)


def _mse(y_hat, y):
    return ((y_hat - y) ** 2).mean()


class Events:
    """Record every event with the step count at that moment."""

    def __init__(self):
        self.seen = []

    def __getattr__(self, name):
        if name not in EVENTS:
            raise AttributeError(name)
        return lambda run: self.seen.append((name, run.epoch, run.batch, run.step))


def test_fit_calls_the_events_in_order_around_each_step():
    torch.manual_seed(0)
    net, events = nn.Linear(3, 1), Events()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    history = fit(net, optimizer, _data(n=16), _mse, num_epochs=1, callbacks=[events])
    names = [name for name, *_ in events.seen]
    per_step = ["before_batch", "after_backward", "before_step", "after_step"]
    assert names == ["before_fit", "before_epoch", *per_step, *per_step, "after_epoch", "after_fit"]
    assert [step for name, _, _, step in events.seen if name == "after_step"] == [1, 2]
    assert history["steps"] == 2 and history["diverged"] is False


def test_fit_takes_the_same_steps_as_a_hand_written_loop():
    torch.manual_seed(0)
    net = nn.Linear(3, 1)
    twin = nn.Linear(3, 1)
    twin.load_state_dict(net.state_dict())
    data = _data()
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):
        for X, y in data:
            optimizer.zero_grad()
            _mse(twin(X), y).backward()
            optimizer.step()
    fit(net, torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9), data, _mse, num_epochs=2)
    assert torch.equal(net.weight, twin.weight) and torch.equal(net.bias, twin.bias)


def test_num_steps_runs_over_epoch_boundaries_and_stops_exactly():
    net = nn.Linear(3, 1)
    history = fit(net, torch.optim.SGD(net.parameters(), lr=0.01), _data(), _mse, num_steps=12)
    assert history["steps"] == 12  # 5 minibatches per epoch: 2 epochs and 2 steps


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "either num_epochs or num_steps"),
        ({"num_epochs": 1, "num_steps": 1}, "either num_epochs or num_steps"),
        ({"num_steps": 2.5}, "num_steps must be a positive whole number, got 2.5"),
        ({"num_steps": math.nan}, "num_steps must be a positive whole number, got nan"),
        ({"num_epochs": 0}, "num_epochs must be a positive whole number, got 0"),
        ({"num_epochs": 1, "check_every": 0}, "check_every must be a positive whole number"),
    ],
)
def test_fit_refuses_a_length_it_cannot_run(options, message):
    net = nn.Linear(3, 1)
    with pytest.raises(ValueError, match=message):
        fit(net, torch.optim.SGD(net.parameters(), lr=0.1), _data(), _mse, **options)


def test_a_loader_that_is_exhausted_after_one_epoch_is_an_error_not_a_hang():
    batches = iter(list(_data()))

    class OneShot:
        def __len__(self):
            return 5

        def __iter__(self):
            return batches

    net = nn.Linear(3, 1)
    with pytest.raises(ValueError, match="yielded no minibatch in epoch 2"):
        fit(net, torch.optim.SGD(net.parameters(), lr=0.01), OneShot(), _mse, num_steps=6)


def test_the_run_stops_before_applying_a_step_whose_loss_diverged():
    net = nn.Linear(3, 1)
    calls = []

    def loss(y_hat, y):
        calls.append(1)
        value = _mse(y_hat, y)
        return value * math.nan if len(calls) == 3 else value

    optimizer = torch.optim.SGD(net.parameters(), lr=0.01)
    history = fit(net, optimizer, _data(), loss, num_epochs=2)
    assert history["diverged"] is True and history["steps"] == 2
    assert all(torch.isfinite(p).all() for p in net.parameters())  # the NaN step was not taken


def test_a_loss_above_the_limit_diverges_and_one_at_the_limit_does_not():
    net = nn.Linear(3, 1)
    nn.init.constant_(net.weight, 10.0)

    def run(limit):
        return fit(net, torch.optim.SGD(net.parameters(), lr=0.0), _data(), _mse, 1, limit=limit)

    X, y = next(iter(_data()))
    with torch.no_grad():
        loss = float(_mse(net(X), y))
    assert run(limit=loss / 2)["diverged"] is True
    assert run(limit=math.inf)["diverged"] is False


def test_checking_in_groups_finds_the_first_bad_loss_of_the_group():
    net = nn.Linear(3, 1)
    calls = []

    def loss(y_hat, y):
        calls.append(1)
        value = _mse(y_hat, y)
        return value * math.inf if len(calls) == 2 else value

    class Where:
        def after_fit(self, run):
            self.at = run.diverged_at

    where = Where()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    history = fit(net, optimizer, _data(), loss, 1, callbacks=[where], check_every=4)
    assert len(calls) == 4 and history["steps"] == 3  # checked at the 4th loss
    assert where.at == (0, 1, math.inf)


def test_evaluating_switches_an_optimizer_with_train_and_eval_modes():
    class ScheduleFree(torch.optim.SGD):
        modes = []

        def eval(self):
            self.modes.append("eval")

        def train(self):
            self.modes.append("train")

    class Evaluate:
        def after_epoch(self, run):
            with run.evaluating():
                run.optimizer.modes.append("evaluated")

    net = nn.Linear(3, 1)
    optimizer = ScheduleFree(net.parameters(), lr=0.01)
    fit(net, optimizer, _data(), _mse, 1, callbacks=[Evaluate()])
    assert optimizer.modes == ["eval", "evaluated", "train"]


def test_evaluation_is_left_out_of_the_training_time():
    class SlowEvaluation:
        def after_step(self, run):
            with run.evaluating():
                before = run.timer.sum()
                torch.randn(400, 400) @ torch.randn(400, 400)
                self.unchanged = run.timer.sum() == before

    slow = SlowEvaluation()
    net = nn.Linear(3, 1)
    fit(net, torch.optim.SGD(net.parameters(), lr=0.01), _data(), _mse, 1, callbacks=[slow])
    assert slow.unchanged


def test_history_logs_lists_in_a_fixed_order_beside_steps_and_diverged():
    history = History(("loss", "lr"))
    history.log(lr=0.1, loss=2.0)
    history.log(loss=1.5, lr=0.1, extra=3)
    assert history == {
        "loss": [2.0, 1.5],
        "lr": [0.1, 0.1],
        "steps": 0,
        "diverged": False,
        "extra": [3],
    }
    assert list(history)[:2] == ["loss", "lr"]


def test_untimed_sections_nest_without_counting_any_interval_twice():
    net = nn.Linear(3, 1)

    class Nested:
        def after_fit(self, run):
            self.before = run.timer.sum()
            with run.untimed():
                with run.untimed():
                    self.inner = run.timer.sum()
                self.outer = run.timer.sum()

    nested = Nested()
    fit(net, torch.optim.SGD(net.parameters(), lr=0.01), _data(), _mse, 1, callbacks=[nested])
    assert nested.before == nested.inner == nested.outer


def test_drawing_a_point_is_left_out_of_the_training_time(monkeypatch):
    clock = [0.0]  # a clock that moves only while the figure draws
    monkeypatch.setattr("d2lhelpers.timing.time.perf_counter", lambda: clock[0])

    class SlowFigure:
        def add(self, x, y):
            clock[0] += 10.0

    class Draw:
        def before_fit(self, run):
            run.animator = SlowFigure()

        def after_step(self, run):
            run.plot(run.step, 1.0)

        def after_fit(self, run):
            self.training_time = run.timer.sum()

    draw = Draw()
    net = nn.Linear(3, 1)
    fit(net, torch.optim.SGD(net.parameters(), lr=0.01), _data(), _mse, 1, callbacks=[draw])
    assert clock[0] == 50.0 and draw.training_time == 0.0
