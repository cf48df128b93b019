"""Tools for tuning an optimizer: a step-level training loop, search and schedules.

`d2l.train` works epoch by epoch. Tuning needs a finer view: a schedule stepped every
minibatch, gradient clipping and how often it acts, the gradient norm and the size of
each update relative to its weights, the test accuracy every few steps (to count the
steps to a target), and a run that stops as soon as it diverges. `train_steps` records
all of these, step by step. `search_space_samples` draws random or quasi-random
(Sobol) hyperparameters, on a log or linear scale, for a tuning study. `ema_smooth`
smooths a noisy per-step loss curve for plotting. `scheduler_curve` reads the rate (and
momentum) of every step off a torch scheduler without touching the optimizer you train
with. (The learning-rate range test is chapter 09's, saved as `d2l.lr_range_test` and
`d2l.suggest_lr`.)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping

import torch
from torch import nn

from .data import TensorLoader
from .loop import History, Run, fit
from .optimizers import split_weights
from .training import check_rate, evaluate_accuracy_gpu
from .validate import positive_int

Schedule = Callable[[int], float]


def _set_momentum(optimizer: torch.optim.Optimizer, value: float) -> None:
    """Set SGD's `momentum` or Adam's `beta1` (the first of `betas`) in every group."""
    for group in optimizer.param_groups:
        if "betas" in group:
            group["betas"] = (value, group["betas"][1])
        elif "momentum" in group:
            group["momentum"] = value
        else:
            raise ValueError(
                f"{type(optimizer).__name__} has neither 'momentum' nor 'betas'; "
                "a momentum schedule needs SGD, Adam or another optimizer that has one."
            )


def _momentum(optimizer: torch.optim.Optimizer) -> float:
    group = optimizer.param_groups[0]
    if "betas" in group:
        return float(group["betas"][0])
    return float(group.get("momentum", math.nan))


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The L2 norm of all gradients together, computed as `clip_grad_norm_` computes it.

    (`torch.nn.utils.get_total_norm` does the same, but only from PyTorch 2.6.)
    """
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


class StepSchedules:
    """Before step `t` (from 0, over all epochs), set the rate and the momentum from schedules."""

    def __init__(self, lr_schedule: Schedule | None, momentum_schedule: Schedule | None) -> None:
        self.lr_schedule, self.momentum_schedule = lr_schedule, momentum_schedule

    def before_batch(self, run: Run) -> None:
        if self.lr_schedule is not None:
            lr = check_rate(self.lr_schedule(run.step), f"step {run.step}")
            for group in run.optimizer.param_groups:
                group["lr"] = lr
        if self.momentum_schedule is not None:
            momentum = self.momentum_schedule(run.step)
            if not (isinstance(momentum, numbers.Real) and 0 <= momentum < 1):
                raise ValueError(
                    f"momentum_schedule gave {momentum!r} for step {run.step}: a momentum "
                    "(or Adam's beta1) must be a number in [0, 1)."
                )
            _set_momentum(run.optimizer, momentum)


class StepRecord:
    """Log every step's minibatch `loss`, `lr` and `momentum` (the diverging step's too)."""

    def after_backward(self, run: Run) -> None:
        run.history.log(loss=float(run.loss_value), lr=run.lr(), momentum=_momentum(run.optimizer))


class GradientNorm:
    """Log each step's total gradient norm, and clip the gradient to `clip_norm` if given.

    `grad_norm` is the norm before clipping; `clipped` says whether clipping acted.
    """

    def __init__(self, clip_norm: float | None) -> None:
        self.clip_norm = clip_norm

    def before_fit(self, run: Run) -> None:
        self.params = [p for p in run.net.parameters() if p.requires_grad]

    def before_step(self, run: Run) -> None:
        if self.clip_norm is None:
            norm = _total_norm([p.grad for p in self.params if p.grad is not None])
        else:
            norm = torch.nn.utils.clip_grad_norm_(self.params, self.clip_norm)
        clipped = self.clip_norm is not None and float(norm) > self.clip_norm
        run.history.log(grad_norm=float(norm), clipped=clipped)


class LayerStats:
    """Log each weight matrix's gradient norm and update-to-weight ratio ||Δw|| / ||w||."""

    def before_fit(self, run: Run) -> None:
        self.weights, _ = split_weights(run.net)
        run.history["layer_grad_norm"] = {name: [] for name in self.weights}
        run.history["update_ratio"] = {name: [] for name in self.weights}

    def before_step(self, run: Run) -> None:
        self.before = {name: w.detach().clone() for name, w in self.weights.items()}
        for name, w in self.weights.items():  # a weight the loss does not use has no gradient
            norm = float(w.grad.norm()) if w.grad is not None else 0.0
            run.history["layer_grad_norm"][name].append(norm)

    def after_step(self, run: Run) -> None:
        with torch.no_grad():
            for name, w in self.weights.items():
                ratio = (w - self.before[name]).norm() / self.before[name].norm()
                run.history["update_ratio"][name].append(float(ratio))


class TestAccuracyEvery:
    """Log the test accuracy (`eval_steps`, `test_acc`) every `every` steps, and at the end."""

    def __init__(self, test_iter, every: int | None) -> None:
        self.test_iter, self.every = test_iter, every

    def evaluate(self, run: Run) -> None:
        with run.evaluating():
            acc = evaluate_accuracy_gpu(run.net, self.test_iter, run.device)
        run.history.log(eval_steps=run.step, test_acc=acc)

    def after_step(self, run: Run) -> None:
        if self.every is not None and run.step % self.every == 0:
            self.evaluate(run)

    def after_fit(self, run: Run) -> None:
        steps = run.history["eval_steps"]
        if not run.history["diverged"] and (not steps or steps[-1] != run.step):
            self.evaluate(run)


def train_steps(
    net: nn.Module,
    optimizer: torch.optim.Optimizer,
    train_iter,
    num_steps: int,
    loss: Callable | None = None,
    lr_schedule: Schedule | None = None,
    momentum_schedule: Schedule | None = None,
    clip_norm: float | None = None,
    test_iter=None,
    eval_every: int | None = None,
    record_layers: bool = False,
    diverge_loss: float = 1e3,
) -> dict:
    """Train `net` for `num_steps` minibatches and record every step.

    Before step `t` (counted from 0 over all epochs) the rate is set to `lr_schedule(t)`
    and the momentum (SGD's `momentum`, Adam's `beta1`) to `momentum_schedule(t)`. With
    `clip_norm`, the gradient is rescaled to that total norm when it is longer
    (`torch.nn.utils.clip_grad_norm_`). With `test_iter`, the test accuracy is measured
    after the last step (unless the run diverged), and every `eval_every` steps if given.
    With `record_layers`, each weight matrix's gradient norm and update-to-weight ratio are
    recorded too. The run stops at a minibatch loss that is not finite or exceeds
    `diverge_loss`.

    Returns the run's history: per-step lists `loss`, `lr`, `momentum`, `grad_norm`
    (before clipping) and `clipped`; `eval_steps` and `test_acc`; with `record_layers`,
    `layer_grad_norm` and `update_ratio` (dicts: weight name -> list); `steps` (the number
    of steps taken) and `diverged`.
    """
    positive_int("num_steps", num_steps)
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm must be a positive gradient norm (or None), got {clip_norm}.")
    if eval_every is not None:
        positive_int("eval_every", eval_every)
        if test_iter is None:
            raise ValueError(f"eval_every={eval_every} needs a test_iter to evaluate on.")
    if len(train_iter) == 0:
        raise ValueError("train_iter yields no minibatches; check its batch size and data.")
    loss = loss if loss is not None else nn.CrossEntropyLoss()
    first = next(net.parameters(), None)
    if first is None:
        raise ValueError("net has no parameters, so there is nothing to train.")
    device = first.device
    if isinstance(train_iter, TensorLoader):
        train_iter = train_iter.to(device)
    callbacks = [
        StepSchedules(lr_schedule, momentum_schedule),
        StepRecord(),
        GradientNorm(clip_norm),
    ]
    if record_layers:
        callbacks.append(LayerStats())
    if test_iter is not None:
        callbacks.append(TestAccuracyEvery(test_iter, eval_every))
    history = History(("loss", "lr", "momentum", "grad_norm", "clipped", "eval_steps", "test_acc"))
    net.train()
    return fit(
        net,
        optimizer,
        train_iter,
        loss,
        num_steps=num_steps,
        callbacks=callbacks,
        device=device,
        limit=diverge_loss,
        history=history,
    )


def search_space_samples(
    space: Mapping[str, tuple[float, float, str]],
    num_trials: int,
    seed: int = 0,
    method: str = "quasi",
) -> list[dict[str, float]]:
    """Draw `num_trials` hyperparameter settings from `space`, for a tuning study.

    `space` maps each name to `(low, high, scale)`, with `scale` either `"log"` (uniform
    in `log(value)`, for rates and `1 - beta`) or `"linear"`. `method="quasi"` takes the
    points of a scrambled Sobol sequence (a low-discrepancy sequence: the first `2^k`
    points put exactly one point in each of `2^k` equal slices of every axis), as the
    Deep Learning Tuning Playbook recommends; `method="random"` draws them independently
    at random. The same `seed` gives the same settings.
    """
    positive_int("num_trials", num_trials)
    if not space:
        raise ValueError("The search space is empty; give at least one (low, high, scale).")
    for name, (low, high, scale) in space.items():
        if scale not in ("log", "linear"):
            raise ValueError(f"{name}: scale must be 'log' or 'linear', got {scale!r}.")
        if not low < high:
            raise ValueError(f"{name}: low ({low}) must be below high ({high}).")
        if scale == "log" and low <= 0:
            raise ValueError(f"{name}: a log scale needs low > 0, got {low}.")
    if method == "quasi":
        engine = torch.quasirandom.SobolEngine(len(space), scramble=True, seed=seed)
        unit = engine.draw(num_trials, dtype=torch.float64)
    elif method == "random":
        generator = torch.Generator().manual_seed(seed)
        unit = torch.rand(num_trials, len(space), generator=generator, dtype=torch.float64)
    else:
        raise ValueError(f"method must be 'quasi' or 'random', got {method!r}.")
    trials = []
    for row in unit.tolist():
        trial = {}
        for u, (name, (low, high, scale)) in zip(row, space.items()):
            if scale == "log":
                trial[name] = math.exp(math.log(low) + u * (math.log(high) - math.log(low)))
            else:
                trial[name] = low + u * (high - low)
        trials.append(trial)
    return trials


class EMA:
    """A bias-corrected exponential moving average, fed one value at a time.

    `ema(value)` folds `value` into `average = beta * average + (1 - beta) * value`,
    which starts at zero, and returns `average / (1 - beta^k)` after the k-th value:
    the correction Adam applies to its moments, so the first values are not pulled
    towards zero.
    """

    def __init__(self, beta: float = 0.98) -> None:
        if not 0 <= beta < 1:
            raise ValueError(f"beta must be in [0, 1), got {beta}.")
        self.beta, self.average, self.count = beta, 0.0, 0

    def __call__(self, value: float) -> float:
        self.average = self.beta * self.average + (1 - self.beta) * value
        self.count += 1
        return self.average / (1 - self.beta**self.count)


def ema_smooth(values: list[float], beta: float = 0.98) -> list[float]:
    """The bias-corrected exponential moving average (`EMA`) of every prefix of `values`."""
    ema = EMA(beta)
    return [ema(value) for value in values]


def scheduler_curve(
    make_scheduler: Callable[[torch.optim.Optimizer], object], num_steps: int, lr: float = 0.1
) -> tuple[list[float], list[float]]:
    """The rate and the momentum of each step of a torch scheduler, read off a throwaway SGD.

    `make_scheduler(optimizer)` builds the scheduler (e.g. `OneCycleLR`, which also
    cycles the momentum). The throwaway optimizer has momentum 0.9 and rate `lr`, so the
    optimizer you train with is never stepped. Use the lists as `lr_schedule` and
    `momentum_schedule` of `train_steps` (e.g. `lrs.__getitem__`).
    """
    positive_int("num_steps", num_steps)
    throwaway = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)
    scheduler = make_scheduler(throwaway)
    lrs, momenta = [], []
    for _ in range(num_steps):
        lrs.append(throwaway.param_groups[0]["lr"])
        momenta.append(throwaway.param_groups[0]["momentum"])
        throwaway.step()  # torch warns when a scheduler steps before its optimizer
        scheduler.step()
    return lrs, momenta
