"""Losses, evaluation, and d2l's trainers: `train_2d`, `train_ch11`, `train_concise_ch11`, `train`.

The three minibatch trainers are thin adapters over the one loop (`loop.fit`): each
switches on the callbacks it needs (a schedule, metrics, evaluation, a figure, a printed
summary) and keeps d2l's signature and printed lines. `plot=False` runs one without its
figure, `verbose=False` without its printed lines.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import numbers
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from .data import TensorLoader
from .loop import History, Run, diverged, fit
from .plotting import Animator
from .timing import Accumulator
from .validate import positive_int


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear regression model `Xw + b`."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared loss `(y_hat - y)^2 / 2`, element-wise."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def _correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions, as a tensor (no host synchronisation).

    Accepts `(N, C)` scores with `C > 1` (the prediction is the arg-max) or `(N,)`
    predicted integer labels, against `(N,)` labels; anything else, float `(N,)` scores
    included, is a `ValueError`.
    """
    n = y.shape[0] if y.ndim == 1 else None
    if y_hat.ndim == 2 and y_hat.shape[0] == n and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    elif y_hat.ndim == 1 and y_hat.shape[0] == n and y_hat.is_floating_point():
        raise ValueError(
            "accuracy() got (N,) predictions of type float: they look like one score per "
            "example (a logit), which cannot be compared with class labels. Turn them into "
            "labels first, e.g. (y_hat > 0).long(), or pass (N, C) class scores."
        )
    elif not (y_hat.ndim == 1 and y_hat.shape[0] == n):
        raise ValueError(
            f"accuracy() compares (N, C) class scores (C > 1) or (N,) predicted labels with "
            f"(N,) labels; got predictions of shape {tuple(y_hat.shape)} and labels of shape "
            f"{tuple(y.shape)}. For a single score per example, turn it into labels first, "
            "e.g. (y_hat[:, 0] > 0).long(); flatten (N, 1) labels with y.reshape(-1)."
        )
    return (y_hat.type(y.dtype) == y).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Compute the number of correct predictions.

    `y_hat` holds `(N, C)` class scores (`C > 1`) or `(N,)` predicted integer labels, `y`
    the `(N,)` true labels; other shapes, and float `(N,)` scores, are a `ValueError`.
    """
    return float(_correct(y_hat, y))


def _no_examples(where: str) -> ValueError:
    return ValueError(
        f"{where}: data_iter yielded no examples, so there is nothing to average. "
        "Pass a loader over a non-empty data set."
    )


def _evaluation_view(data_iter):
    """Iterate an in-memory loader in order, in large batches; other iterables as they are."""
    if isinstance(data_iter, TensorLoader):
        batch = max(data_iter.batch_size, 4096)
        return data_iter.with_options(
            batch_size=batch, shuffle=False, max_batches=math.ceil(data_iter.examples() / batch)
        )
    return data_iter


def evaluate_loss(net: Callable, data_iter, loss: Callable) -> float:
    """Evaluate the average loss of `net` over `data_iter`, under `no_grad`.

    In-memory loaders are read in order in large batches, so evaluation is fast and
    draws nothing from the random number generator.
    """
    metric = Accumulator(2)  # sum of losses, number of examples
    with torch.no_grad():
        for X, y in _evaluation_view(data_iter):
            out = net(X)
            y = y.reshape(out.shape)
            ls = loss(out, y)
            metric.add(ls.sum(), ls.numel())
    if metric[1] == 0:
        raise _no_examples("evaluate_loss")
    return metric[0] / metric[1]


def evaluate_accuracy_gpu(net: nn.Module, data_iter, device: torch.device | None = None) -> float:
    """Compute the accuracy of `net` on `data_iter`, on `device`.

    `device` defaults to that of the net's first parameter or buffer, or the CPU for a
    module that has none; a plain function is fed the batches where they are. A model
    that was training is put back into training mode, and an empty `data_iter` is a
    `ValueError`, not an accuracy of 0.
    """
    was_training = isinstance(net, nn.Module) and net.training
    if isinstance(net, nn.Module):
        net.eval()
        if device is None:
            first = next(itertools.chain(net.parameters(), net.buffers()), None)
            device = first.device if first is not None else torch.device("cpu")
    correct, total = 0, 0
    try:
        with torch.no_grad():
            for X, y in data_iter:
                if device is not None:
                    X, y = X.to(device), y.to(device)
                correct = correct + _correct(net(X), y)
                total += y.numel()
    finally:
        if was_training:
            net.train()
    if total == 0:
        raise _no_examples("evaluate_accuracy_gpu")
    return float(correct) / total


def train_2d(
    trainer: Callable,
    steps: int = 20,
    f_grad: Callable | None = None,
    start: tuple[float, float] = (-5.0, -2.0),
    verbose: bool = True,
) -> list[tuple[float, float]]:
    """Optimise a 2-D objective with a customised `trainer`; return the trajectory.

    `trainer(x1, x2, s1, s2[, f_grad])` returns the new `(x1, x2, s1, s2)`, where
    `s1, s2` is the optimizer's state. Starts at (-5, -2) with state (0, 0), as d2l, and
    prints the final point after `steps` steps.
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be a whole number >= 0, got {steps!r}.")
    x1, x2, s1, s2 = start[0], start[1], 0, 0
    results = [(x1, x2)]
    for _ in range(steps):
        if f_grad:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2, f_grad)
        else:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2)
        results.append((x1, x2))
    if verbose:
        print(f"step {steps}, x1: {_coordinate(x1)}, x2: {_coordinate(x2)}")
    return results


def _coordinate(value) -> str:
    """A coordinate with six decimals, or six significant digits past float32's precision."""
    value = float(value)
    return f"{value:f}" if abs(value) < 1e16 or not math.isfinite(value) else f"{value:.6g}"


def _report_divergence(run: Run) -> None:
    """Print the one line that says where a run diverged and what to try."""
    epoch, batch, value = run.diverged_at
    lr = run.lr()
    try:
        rate = float(lr)  # a number, or a one-element tensor
    except (TypeError, ValueError):
        rate = math.nan
    if lr is None:
        advice = "Try a smaller learning rate."
    elif math.isfinite(rate) and rate > 0:
        advice = f"Try a smaller learning rate than {rate:g}."
    else:
        advice = f"The learning rate was {rate:g}: use a finite, positive one."
    print(
        f"Stopped at epoch {epoch + 1}, step {batch + 1}: the loss became {value} (the run "
        f"diverged). {advice}"
    )


def check_rate(value, where: str) -> float:
    """Return a learning rate from a schedule, or raise a `ValueError` that names `where`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ValueError(
            f"The schedule gave the learning rate {value!r} for {where}: a rate must be a "
            "number >= 0 (a negative one trains uphill). Check the schedule."
        )
    if not math.isfinite(value):
        raise ValueError(
            f"The schedule gave the learning rate {value!r} for {where}: it must be finite."
        )
    return float(value)


class Animate:
    """Switch on a live figure (an `Animator` with these options) that callbacks add to."""

    def __init__(self, **options) -> None:
        self.options = options

    def before_fit(self, run: Run) -> None:
        run.animator = Animator(**self.options)

    def after_fit(self, run: Run) -> None:
        run.animator.show()


#: `train_ch11` evaluates the loss on the whole data set after every this many examples.
EVAL_EVERY_EXAMPLES = 200


def _epoch_examples(data_iter) -> int:
    """How many examples one epoch of `data_iter` yields."""
    if isinstance(data_iter, TensorLoader):
        return data_iter.examples()
    return len(data_iter.dataset)


class LossCurve:
    """Evaluate the loss on the whole data set every `every` examples (`train_ch11`'s curve).

    Logs `epoch` (examples seen / examples per epoch), `loss` (times `scale`) and `time`
    (training seconds so far), and evaluates once at the end if no point was reached.
    A loss that diverged stops the run.
    """

    def __init__(
        self, data_iter, loss: Callable, scale: float = 1.0, every: int = EVAL_EVERY_EXAMPLES
    ):
        self.data_iter, self.loss, self.scale, self.every = data_iter, loss, scale, every

    def before_fit(self, run: Run) -> None:
        self.epoch_examples = _epoch_examples(self.data_iter)
        for key in ("epoch", "loss", "time"):
            run.history.setdefault(key, [])

    def evaluate(self, run: Run, epoch: int) -> None:
        with run.evaluating():
            value = evaluate_loss(run.net, self.data_iter, self.loss) * self.scale
            if diverged(value):
                run.diverged_at = (epoch, run.batch, value)
                run.history["diverged"] = run.stop = True
                return
            position = run.examples / self.epoch_examples
            run.plot(position, (value,))
            run.history.log(epoch=position, loss=value, time=run.timer.sum())

    def after_step(self, run: Run) -> None:
        if run.examples % self.every == 0:
            self.evaluate(run, run.epoch)

    def after_fit(self, run: Run) -> None:
        if not run.history["loss"] and not run.history["diverged"]:
            self.evaluate(run, run.epoch - 1)


class PrintLoss:
    """Print `train_ch11`'s closing line, `loss: ..., ... sec/epoch`, or where it diverged."""

    def after_fit(self, run: Run) -> None:
        if run.history["diverged"]:
            _report_divergence(run)
        else:
            losses = run.history["loss"]
            print(f"loss: {losses[-1]:.3f}, {run.timer.sum() / run.epoch:.3f} sec/epoch")


class ScratchOptimizer:
    """A d2l-style `trainer_fn(params, states, hyperparams)` in the shape `fit` steps.

    The trainer updates the parameters from their `.grad` and zeroes the gradients
    itself, as in the book, so `zero_grad` has nothing to do.
    """

    def __init__(self, trainer_fn: Callable, params, states, hyperparams: dict) -> None:
        self.trainer_fn, self.params = trainer_fn, params
        self.states, self.hyperparams = states, hyperparams
        lr = hyperparams.get("lr") if isinstance(hyperparams, dict) else None
        self.param_groups = [{"lr": lr}]

    def zero_grad(self) -> None:
        pass

    def step(self) -> None:
        self.trainer_fn(self.params, self.states, self.hyperparams)


def _curve(history: History) -> tuple[list[float], list[float]]:
    """`train_ch11`'s result: the training seconds and the loss at each evaluation point."""
    return _LossCurve(history["time"], history["loss"], history)


class _LossCurve(tuple):
    """`(times, losses)`, as d2l's `train_ch11` returns them; `.history` has the rest."""

    def __new__(cls, times: list[float], losses: list[float], history: History):
        curve = super().__new__(cls, (times, losses))
        curve.history = history
        return curve


def _fit_regression(net, optimizer, loss, data_iter, num_epochs, scale, plot, verbose):
    """The loop of `train_ch11` and `train_concise_ch11`: the curve, its figure, its line."""
    callbacks = [LossCurve(data_iter, loss, scale)]
    if plot:
        options = dict(xlabel="epoch", ylabel="loss", xlim=[0, num_epochs], ylim=[0.22, 0.35])
        callbacks.append(Animate(**options))
    if verbose:
        callbacks.append(PrintLoss())

    def training_loss(y_hat, y):
        return loss(y_hat, y.reshape(y_hat.shape)).mean()

    history = fit(net, optimizer, data_iter, training_loss, num_epochs, callbacks=callbacks)
    return _curve(history)


def train_ch11(
    trainer_fn: Callable,
    states,
    hyperparams: dict,
    data_iter,
    feature_dim: int,
    num_epochs: int = 2,
    plot: bool = True,
    verbose: bool = True,
):
    """Train linear regression with a from-scratch optimizer `trainer_fn(params, states, hp)`.

    Evaluates the loss on the whole data set every 200 examples (`EVAL_EVERY_EXAMPLES`),
    draws it and prints `loss: ..., ... sec/epoch` (training time only). Returns
    `(times, losses)` at those points; its `.history` also holds each point's `epoch`.
    """
    positive_int("num_epochs", num_epochs)
    w = torch.normal(mean=0.0, std=0.01, size=(feature_dim, 1), requires_grad=True)
    b = torch.zeros((1), requires_grad=True)

    def net(X):
        return linreg(X, w, b)

    optimizer = ScratchOptimizer(trainer_fn, [w, b], states, hyperparams)
    return _fit_regression(net, optimizer, squared_loss, data_iter, num_epochs, 1.0, plot, verbose)


def train_concise_ch11(
    trainer_fn: Callable,
    hyperparams: dict,
    data_iter,
    num_epochs: int = 4,
    plot: bool = True,
    verbose: bool = True,
):
    """Train linear regression with a `torch.optim` class, e.g. `torch.optim.SGD`.

    As `train_ch11`, with `nn.Linear` (its input width read from the data) and
    `trainer_fn(net.parameters(), **hyperparams)`. The loss is `nn.MSELoss`, halved when
    reported so that it compares with `squared_loss`.
    """
    positive_int("num_epochs", num_epochs)
    first = next(iter(data_iter), None)
    if first is None:
        raise ValueError("data_iter yielded no minibatch: pass a loader over a non-empty data set.")
    feature_dim = first[0].shape[1]
    net = nn.Sequential(nn.Linear(feature_dim, 1))
    nn.init.normal_(net[0].weight, std=0.01)
    optimizer = trainer_fn(net.parameters(), **hyperparams)
    loss = nn.MSELoss(reduction="none")
    return _fit_regression(net, optimizer, loss, data_iter, num_epochs, 0.5, plot, verbose)


@contextlib.contextmanager
def _cpu_training_settings(net: nn.Module, device: torch.device) -> Iterator[None]:
    """On the CPU, train convolutions channels-last, and restore the layout after.

    Channels-last makes oneDNN's small convolutions and max-pooling (LeNet on 28 x 28
    images) about 1.5x faster, with the same result on every run. GPUs are left alone.
    """
    if device.type != "cpu":
        yield
        return
    convolutional = any(isinstance(m, nn.Conv2d) for m in net.modules())
    if convolutional:
        net.to(memory_format=torch.channels_last)
    try:
        yield
    finally:
        if convolutional:
            net.to(memory_format=torch.contiguous_format)


def _is_torch_scheduler(scheduler) -> bool:
    lr_scheduler = torch.optim.lr_scheduler
    return isinstance(scheduler, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau))


def _check_every(device: torch.device, plot_every: int) -> int:
    """How often `train` checks the minibatch losses: each one on the CPU, where reading a
    value costs nothing; on a GPU, where it waits for the queued work, at the plot points."""
    return 1 if device.type == "cpu" else plot_every


class EpochSchedule:
    """Set the rate for each epoch: a callable `scheduler(epoch) -> lr` before it, or step
    a torch scheduler after it (`ReduceLROnPlateau` with the epoch's training loss)."""

    def __init__(self, scheduler) -> None:
        self.scheduler = scheduler
        self.torch = _is_torch_scheduler(scheduler)

    def before_epoch(self, run: Run) -> None:
        if not self.torch:
            lr = check_rate(self.scheduler(run.epoch), f"epoch {run.epoch}")
            for group in run.optimizer.param_groups:
                group["lr"] = lr

    def after_epoch(self, run: Run) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(run.history["train_loss"][-1])
        elif self.torch:
            self.scheduler.step()


class ClassifierMetrics:
    """Training loss and accuracy of each epoch, kept on the device between plot points.

    At each plot point (every `plot_every` minibatches, and the epoch's last) the epoch's
    averages so far are read and drawn; at the end of an epoch they are logged as
    `train_loss` and `train_acc`, with the rate it trained with (`lr`).
    """

    def __init__(self, plot_every: int) -> None:
        self.plot_every = plot_every
        self.train_loss = self.train_acc = math.nan

    def before_epoch(self, run: Run) -> None:
        self.metric = Accumulator(3)  # sum of losses, correct predictions, examples
        run.net.train()

    def after_step(self, run: Run) -> None:
        n = run.X.shape[0]
        with torch.no_grad():
            self.metric.add(run.loss_value * n, _correct(run.y_hat, run.y), n)
        num_batches = len(run.train_iter)
        if (run.batch + 1) % self.plot_every == 0 or run.batch + 1 == num_batches:
            self.train_loss = self.metric[0] / self.metric[2]
            self.train_acc = self.metric[1] / self.metric[2]
            run.plot(
                run.epoch + (run.batch + 1) / num_batches, (self.train_loss, self.train_acc, None)
            )

    def after_epoch(self, run: Run) -> None:
        run.history.log(
            train_loss=self.train_loss, train_acc=self.train_acc, lr=run.lr(), time=run.elapsed()
        )


class TestAccuracy:
    """Evaluate the test accuracy after each epoch (untimed); draw it and log it."""

    def __init__(self, test_iter) -> None:
        self.test_iter = test_iter
        self.test_acc = math.nan

    def after_epoch(self, run: Run) -> None:
        with run.evaluating():
            self.test_acc = evaluate_accuracy_gpu(run.net, self.test_iter, run.device)
        run.plot(run.epoch + 1, (None, None, self.test_acc))
        run.history.log(test_acc=self.test_acc)


class PrintSummary:
    """Print `train`'s closing lines: the final metrics and the speed, or where it diverged."""

    def after_fit(self, run: Run) -> None:
        if run.history["diverged"]:
            _report_divergence(run)
            return
        h = run.history
        print(
            f"train loss {h['train_loss'][-1]:.3f}, train acc {h['train_acc'][-1]:.3f}, "
            f"test acc {h['test_acc'][-1]:.3f}"
        )
        threads = torch.get_num_threads()
        device = run.device
        where = (
            f"{device} ({threads} thread{'s' * (threads > 1)})" if device.type == "cpu" else device
        )
        print(f"{run.examples / run.timer.sum():.1f} examples/sec on {where}")


def train(
    net: nn.Module,
    train_iter,
    test_iter,
    num_epochs: int,
    loss: Callable,
    trainer: torch.optim.Optimizer,
    device: torch.device,
    scheduler=None,
    legend: Sequence[str] = ("train loss", "train acc", "test acc"),
    plot: bool = True,
    verbose: bool = True,
) -> dict:
    """Train a classifier, drawing train loss, train accuracy and test accuracy as it goes.

    `scheduler` is a torch LR scheduler (stepped after each epoch) or a callable
    `scheduler(epoch) -> lr` (applied before each epoch). In-memory loaders are moved to
    `device` once; on the CPU, convolutions train channels-last. Prints the final metrics
    and the speed. Returns the final `train_loss`, `train_acc` and `test_acc` and the
    `history`: their values after every epoch, the epoch's rate (`lr`) and the training
    seconds so far (`time`).
    """
    positive_int("num_epochs", num_epochs)
    net.to(device)
    device = torch.device(device)
    if isinstance(train_iter, TensorLoader):
        train_iter = train_iter.to(device)
    if isinstance(test_iter, TensorLoader):
        test_iter = test_iter.to(device)
    plot_every = max(1, len(train_iter) // 5)
    metrics, test = ClassifierMetrics(plot_every), TestAccuracy(test_iter)
    callbacks = [metrics, test]
    if scheduler is not None:
        callbacks.append(EpochSchedule(scheduler))
    if plot:
        callbacks.append(Animate(xlabel="epoch", xlim=[0, num_epochs], legend=list(legend)))
    if verbose:
        callbacks.append(PrintSummary())
    history = History(("train_loss", "train_acc", "test_acc", "lr", "time"))
    check_every = _check_every(device, plot_every)
    with _cpu_training_settings(net, device):
        fit(
            net,
            trainer,
            train_iter,
            loss,
            num_epochs,
            callbacks=callbacks,
            device=device,
            check_every=check_every,
            history=history,
        )
    return {
        "train_loss": metrics.train_loss,
        "train_acc": metrics.train_acc,
        "test_acc": test.test_acc,
        "history": history,
    }
