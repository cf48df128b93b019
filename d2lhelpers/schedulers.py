"""Learning-rate schedules: d2l's formulas as plain callables `schedule(epoch) -> lr`.

Each schedule is a pure function of the epoch (or update) number, so plotting it
does not change it; d2l's `FactorScheduler` is stateful, and calling it to draw its
curve advances it. `ScheduleLR(optimizer, schedule)` wraps any of them (or any
callable) as a `torch.optim.lr_scheduler.LRScheduler`, stepped once per epoch.

Arguments are checked as `torch.optim` checks its rates: a negative rate, a decay
factor outside (0, 1] or a negative update number is a `ValueError` (d2l's accepts
them, and its `SquareRootScheduler()(-2)` returns a complex number).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence

import torch


def _rate(name: str, value: float) -> float:
    """Check a learning rate: a finite number >= 0, as `torch.optim` requires."""
    if not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
        raise ValueError(f"Invalid {name}: {value!r}; a learning rate is a finite number >= 0.")
    return value


def _factor(value: float) -> float:
    """Check a decay factor: a number in (0, 1]."""
    if not (isinstance(value, numbers.Real) and 0 < value <= 1):
        raise ValueError(
            f"Invalid factor: {value!r}; a decay factor is in (0, 1] (1 keeps the rate, "
            "0.5 halves it). A factor above 1 makes the rate grow without bound."
        )
    return value


def _update(t: float) -> float:
    """Check an update (or epoch) number: >= 0."""
    if t < 0:
        raise ValueError(f"The update number must be >= 0, got {t!r}.")
    return t


class SquareRootScheduler:
    """`lr * (t + 1) ** -0.5`."""

    def __init__(self, lr: float = 0.1) -> None:
        self.lr = _rate("lr", lr)

    def __call__(self, num_update: int) -> float:
        return self.lr * pow(_update(num_update) + 1.0, -0.5)


class FactorScheduler:
    """`max(stop_factor_lr, base_lr * factor ** t)`: multiply by `factor` every update."""

    def __init__(self, factor: float = 1, stop_factor_lr: float = 1e-7, base_lr: float = 0.1):
        self.factor = _factor(factor)
        self.stop_factor_lr = _rate("stop_factor_lr", stop_factor_lr)
        self.base_lr = _rate("base_lr", base_lr)

    def __call__(self, num_update: int) -> float:
        return max(self.stop_factor_lr, self.base_lr * self.factor ** _update(num_update))


class MultiFactorScheduler:
    """`base_lr * factor ** k`, where `k` counts the steps in `steps` that are `<= t`.

    The same schedule as `torch.optim.lr_scheduler.MultiStepLR(milestones=steps,
    gamma=factor)`.
    """

    def __init__(self, steps: Sequence[int], factor: float = 1, base_lr: float = 0.1) -> None:
        self.steps = sorted(steps)
        self.factor = _factor(factor)
        self.base_lr = _rate("base_lr", base_lr)

    def __call__(self, num_update: int) -> float:
        passed = sum(1 for s in self.steps if s <= _update(num_update))
        return self.base_lr * self.factor**passed


class CosineScheduler:
    """Cosine decay from `base_lr` to `final_lr` over `max_update`, after a linear warmup.

    During the first `warmup_steps` the rate rises linearly from `warmup_begin_lr`;
    after `max_update` it stays at `final_lr` (d2l's returns a stale value there).
    """

    def __init__(
        self,
        max_update: int,
        base_lr: float = 0.01,
        final_lr: float = 0,
        warmup_steps: int = 0,
        warmup_begin_lr: float = 0,
    ) -> None:
        if max_update <= warmup_steps:
            raise ValueError(
                f"max_update ({max_update}) must exceed warmup_steps ({warmup_steps})."
            )
        if warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {warmup_steps!r}.")
        self.base_lr_orig = _rate("base_lr", base_lr)
        self.max_update = max_update
        self.final_lr = _rate("final_lr", final_lr)
        self.warmup_steps = warmup_steps
        self.warmup_begin_lr = _rate("warmup_begin_lr", warmup_begin_lr)
        self.max_steps = max_update - warmup_steps

    def get_warmup_lr(self, epoch: int) -> float:
        """The learning rate during warmup."""
        increase = (self.base_lr_orig - self.warmup_begin_lr) * epoch / self.warmup_steps
        return self.warmup_begin_lr + increase

    def __call__(self, epoch: int) -> float:
        if _update(epoch) < self.warmup_steps:
            return self.get_warmup_lr(epoch)
        if epoch > self.max_update:
            return self.final_lr
        progress = (epoch - self.warmup_steps) / self.max_steps
        return (
            self.final_lr
            + (self.base_lr_orig - self.final_lr) * (1 + math.cos(math.pi * progress)) / 2
        )


class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """A torch LR scheduler that sets every group's rate to `schedule(epoch)`.

    Call `step()` once per epoch, as with any torch scheduler.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Callable[[int], float],
        last_epoch: int = -1,
    ) -> None:
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [self.schedule(self.last_epoch) for _ in self.optimizer.param_groups]
