"""Training loops and their pieces: models, losses, evaluation, and d2l's trainers.

The loops keep d2l's signatures and printed lines. Where d2l's misbehaves, ours
does better (each docstring says how): losses are evaluated under `no_grad` and
vectorised, `train_ch11` does not crash when no evaluation point was reached,
`evaluate_accuracy_gpu` restores training mode, and `train` applies a custom schedule
in the epoch it is meant for, keeps metrics on the device between plot points and,
on the CPU, uses the memory layout that suits small convolutions. A run whose
loss becomes inf or NaN stops there, says where, and returns what it measured, so
a diverged run is a lesson rather than a screen of `nan`. `accuracy` accepts only
shapes it can compare, and evaluating an empty data set is an error, not 0.
Nothing in the loops depends on timing: a seeded run reproduces its numbers.
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
from .plotting import Animator
from .timing import Accumulator, Timer


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear regression model `Xw + b`."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Squared loss `(y_hat - y)^2 / 2`, element-wise."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def _correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions, as a tensor (no host synchronisation).

    Accepts `(N, C)` scores with `C > 1` (the prediction is the arg-max) or `(N,)`
    predicted labels, against `(N,)` labels; anything else is a `ValueError`.
    """
    n = y.shape[0] if y.ndim == 1 else None
    if y_hat.ndim == 2 and y_hat.shape[0] == n and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
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

    `y_hat` holds `(N, C)` class scores (`C > 1`) or `(N,)` predicted labels, `y` the
    `(N,)` true labels. d2l's silently broadcasts other shapes (`(N, 1)` predictions
    against 4 labels count 16 "correct"); ours raises a `ValueError` naming the shapes.
    """
    return float(_correct(y_hat, y))


def _check_epochs(num_epochs: int) -> None:
    if (
        isinstance(num_epochs, bool)
        or not isinstance(num_epochs, numbers.Integral)
        or (num_epochs < 1)
    ):
        raise ValueError(f"num_epochs must be a positive whole number, got {num_epochs!r}.")


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
    module that has none (d2l's raises `StopIteration` there); a plain function is fed
    the batches where they are. Unlike d2l's, it puts the model back into training
    mode if it was training, and an empty `data_iter` is a `ValueError`, not 0.0.
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
    `s1, s2` is the optimizer's state. Starts at (-5, -2) with state (0, 0), as d2l.
    """
    x1, x2, s1, s2 = start[0], start[1], 0, 0
    results = [(x1, x2)]
    for _ in range(steps):
        if f_grad:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2, f_grad)
        else:
            x1, x2, s1, s2 = trainer(x1, x2, s1, s2)
        results.append((x1, x2))
    if verbose:
        print(f"epoch {steps}, x1: {float(x1):f}, x2: {float(x2):f}")
    return results


def _report_divergence(value: float, epoch: int, step: int, lr) -> None:
    """Print the one line that says where a run diverged and what to try."""
    than = f" than {float(lr):g}" if lr is not None else ""
    print(
        f"Stopped at epoch {epoch + 1}, step {step + 1}: the loss became {value} (the run "
        f"diverged). Try a smaller learning rate{than}."
    )


def _fit_regression(
    step: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    net,
    loss,
    data_iter,
    num_epochs: int,
    loss_scale: float = 1.0,
    lr: float | None = None,
):
    """Shared loop of `train_ch11` and `train_concise_ch11`.

    Evaluates the full-data loss every 200 examples, as d2l does, and once at the end
    if no such point was reached. Returns `(cumulative_times, losses)`.

    `step(X, y)` returns the minibatch loss, which is checked after every step (a
    small model on the CPU: the check costs nothing). At the first loss that is inf
    or NaN, at a step or an evaluation point, the run stops with one printed line,
    the figure keeps the points drawn so far, and what was measured so far is
    returned; d2l's carries on and ends with `loss: nan`.
    """
    _check_epochs(num_epochs)
    animator = Animator(xlabel="epoch", ylabel="loss", xlim=[0, num_epochs], ylim=[0.22, 0.35])
    n, timer, losses = 0, Timer(), []

    def measured():
        animator.show()
        return timer.cumsum()[: len(losses)], losses

    for epoch in range(num_epochs):
        for i, (X, y) in enumerate(data_iter):
            value = float(step(X, y))
            n += X.shape[0]
            if n % 200 == 0 and math.isfinite(value):
                timer.stop()
                value = evaluate_loss(net, data_iter, loss) * loss_scale
                if math.isfinite(value):
                    animator.add(n / X.shape[0] / len(data_iter), (value,))
                    losses.append(value)
                    timer.start()
            if not math.isfinite(value):
                timer.stop()
                _report_divergence(value, epoch, i, lr)
                return measured()
    timer.stop()
    if not losses:
        value = evaluate_loss(net, data_iter, loss) * loss_scale
        if not math.isfinite(value):
            _report_divergence(value, num_epochs - 1, len(data_iter) - 1, lr)
            return measured()
        animator.add(num_epochs, (value,))
        losses.append(value)
    print(f"loss: {losses[-1]:.3f}, {timer.sum() / num_epochs:.3f} sec/epoch")
    return measured()


def train_ch11(
    trainer_fn: Callable,
    states,
    hyperparams: dict,
    data_iter,
    feature_dim: int,
    num_epochs: int = 2,
):
    """Train linear regression with a from-scratch optimizer `trainer_fn(params, states, hp)`.

    Prints `loss: ..., ... sec/epoch`, where sec/epoch counts training time only (d2l's
    drops the time after the last evaluation). Returns `(cumulative_times, losses)`.
    """
    w = torch.normal(mean=0.0, std=0.01, size=(feature_dim, 1), requires_grad=True)
    b = torch.zeros((1), requires_grad=True)

    def net(X):
        return linreg(X, w, b)

    def step(X, y):
        ls = squared_loss(net(X), y).mean()
        ls.backward()
        trainer_fn([w, b], states, hyperparams)
        return ls.detach()

    lr = hyperparams.get("lr") if isinstance(hyperparams, dict) else None
    return _fit_regression(step, net, squared_loss, data_iter, num_epochs, lr=lr)


def train_concise_ch11(trainer_fn: Callable, hyperparams: dict, data_iter, num_epochs: int = 4):
    """Train linear regression with a `torch.optim` class, e.g. `torch.optim.SGD`.

    The input width comes from the data (d2l's assumes 5). Returns
    `(cumulative_times, losses)`; d2l's returns nothing.
    """
    feature_dim = next(iter(data_iter))[0].shape[1]
    net = nn.Sequential(nn.Linear(feature_dim, 1))
    nn.init.normal_(net[0].weight, std=0.01)
    optimizer = trainer_fn(net.parameters(), **hyperparams)
    loss = nn.MSELoss(reduction="none")

    def step(X, y):
        optimizer.zero_grad()
        out = net(X)
        ls = loss(out, y.reshape(out.shape)).mean()
        ls.backward()
        optimizer.step()
        return ls.detach()

    # MSELoss has no 1/2 factor; halve it to compare with squared_loss.
    lr = optimizer.param_groups[0].get("lr")
    return _fit_regression(step, net, loss, data_iter, num_epochs, loss_scale=0.5, lr=lr)


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


def _checks_every_batch(device: torch.device) -> bool:
    """Whether `train` tests each batch loss as it comes: on the CPU, where it costs nothing.

    On a GPU, reading a value waits for the queued work, so the losses are tested
    together at the plot points, where the loop reads its metrics anyway.
    """
    return device.type == "cpu"


def _is_torch_scheduler(scheduler) -> bool:
    lr_scheduler = torch.optim.lr_scheduler
    return isinstance(scheduler, (lr_scheduler.LRScheduler, lr_scheduler.ReduceLROnPlateau))


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
) -> dict:
    """Train a classifier, animating train loss, train accuracy and test accuracy.

    `scheduler` is a torch LR scheduler (stepped after each epoch) or a callable
    `scheduler(epoch) -> lr` (applied before each epoch; d2l's applies it one epoch
    late). In-memory loaders are moved to `device` once, and metrics stay on the
    device between plot points, so the loop does not wait on the GPU every batch.
    On the CPU it trains convolutions channels-last (undone afterwards). Nothing in
    the loop depends on timing, so a seeded run gives the same numbers every time on
    the same machine and thread count. Prints the final metrics, and the speed with
    the device and thread count it ran on.

    Returns the final `train_loss`, `train_acc` and `test_acc`, and under `history`
    their values after every epoch with the rate the epoch trained with (`lr`) and the
    training seconds so far (`time`, evaluation excluded), for comparing runs.

    At the first minibatch whose loss is inf or NaN, training stops: one printed line
    says at which epoch and step and suggests a smaller learning rate, the figure
    keeps what it showed, and the last metrics measured before it are returned
    (NaN where none was); d2l's carries on and prints `train loss nan`. Checking
    costs no GPU synchronisation: the batch losses since the last plot point are
    kept on the device and tested together at the plot point, where the loop reads
    the metrics anyway; on the CPU, where reading a value costs nothing, every batch
    is tested as it comes.
    """
    _check_epochs(num_epochs)
    net.to(device)
    device = torch.device(device)
    with _cpu_training_settings(net, device):
        return _train(
            net, train_iter, test_iter, num_epochs, loss, trainer, device, scheduler, legend
        )


def _train(net, train_iter, test_iter, num_epochs, loss, trainer, device, scheduler, legend):
    """The loop of `train`, run under its device settings."""
    if isinstance(train_iter, TensorLoader):
        train_iter = train_iter.to(device)
    if isinstance(test_iter, TensorLoader):
        test_iter = test_iter.to(device)
    animator = Animator(xlabel="epoch", xlim=[0, num_epochs], legend=list(legend))
    num_batches = len(train_iter)
    plot_every = max(1, num_batches // 5)
    train_loss = train_acc = test_acc = math.nan
    timer, examples = Timer(), 0
    history = {key: [] for key in ("train_loss", "train_acc", "test_acc", "lr", "time")}
    check_every_batch = _checks_every_batch(device)
    for epoch in range(num_epochs):
        if scheduler is not None and not _is_torch_scheduler(scheduler):
            for group in trainer.param_groups:
                group["lr"] = scheduler(epoch)
        history["lr"].append(trainer.param_groups[0]["lr"])
        net.train()
        metric = Accumulator(3)  # sum of losses, correct predictions, examples
        timer.start()
        batch_losses = []  # since the last check, on the device
        for i, (X, y) in enumerate(train_iter):
            X, y = X.to(device), y.to(device)
            trainer.zero_grad()
            y_hat = net(X)
            ls = loss(y_hat, y)
            ls.backward()
            trainer.step()
            with torch.no_grad():
                metric.add(ls * X.shape[0], _correct(y_hat, y), X.shape[0])
            batch_losses.append(ls.detach())
            plot_point = (i + 1) % plot_every == 0 or i + 1 == num_batches
            if plot_point or check_every_batch:
                losses = torch.stack(batch_losses)
                batch_losses = []
                if not bool(torch.isfinite(losses).all()):
                    timer.stop()
                    bad = int((~torch.isfinite(losses)).nonzero()[0])
                    step = i + 1 - len(losses) + bad
                    lr = trainer.param_groups[0]["lr"]
                    _report_divergence(float(losses[bad]), epoch, step, lr)
                    animator.show()
                    history["lr"].pop()  # the epoch that diverged is not in the history
                    return {
                        "train_loss": train_loss,
                        "train_acc": train_acc,
                        "test_acc": test_acc,
                        "history": history,
                    }
            if plot_point:
                train_loss, train_acc = metric[0] / metric[2], metric[1] / metric[2]
                animator.add(epoch + (i + 1) / num_batches, (train_loss, train_acc, None))
        timer.stop()
        examples += int(metric[2])
        test_acc = evaluate_accuracy_gpu(net, test_iter, device)
        animator.add(epoch + 1, (None, None, test_acc))
        for key, value in zip(history, (train_loss, train_acc, test_acc)):
            history[key].append(value)
        history["time"].append(timer.sum())
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(train_loss)
        elif scheduler is not None and _is_torch_scheduler(scheduler):
            scheduler.step()
    animator.show()
    print(f"train loss {train_loss:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    threads = torch.get_num_threads()
    where = f"{device} ({threads} thread{'s' * (threads > 1)})" if device.type == "cpu" else device
    print(f"{examples / timer.sum():.1f} examples/sec on {where}")
    return {
        "train_loss": train_loss,
        "train_acc": train_acc,
        "test_acc": test_acc,
        "history": history,
    }
