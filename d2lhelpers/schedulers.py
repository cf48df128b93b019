"""Learning-rate schedules: d2l's formulas as plain callables `schedule(epoch) -> lr`.

Each schedule is a pure function of the epoch (or update) number, so plotting it
does not change it; d2l's `FactorScheduler` is stateful, and calling it to draw its
curve advances it. `ScheduleLR(optimizer, schedule)` wraps any of them (or any
callable) as a `torch.optim.lr_scheduler.LRScheduler`, stepped once per epoch.

Arguments are checked as `torch.optim` checks its rates: a negative rate, a decay
factor outside (0, 1], a negative update number, NaN, infinity or something that is not
a number is a `ValueError` that names the argument (d2l's accepts them, and its
`SquareRootScheduler()(-2)` returns a complex number). `ScheduleLR` saves and loads as
torch's `LambdaLR` does: a schedule that is an object keeps its numbers in the
scheduler's `state_dict`, which `torch.load` reads with its default `weights_only=True`,
and a function (a lambda) is left out, to be passed again when the scheduler is rebuilt.
"""

from __future__ import annotations

import functools
import math
import numbers
import types
from collections.abc import Callable, Iterable
from typing import Any

import torch


def _is_number(value) -> bool:
    """A finite real number (not a bool, not a string)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _rate(name: str, value: float) -> float:
    """Check a learning rate: a finite number >= 0, as `torch.optim` requires."""
    if not (_is_number(value) and value >= 0):
        raise ValueError(f"Invalid {name}: {value!r}; a learning rate is a finite number >= 0.")
    return value


def _factor(value: float) -> float:
    """Check a decay factor: a number in (0, 1]."""
    if not (_is_number(value) and 0 < value <= 1):
        raise ValueError(
            f"Invalid factor: {value!r}; a decay factor is in (0, 1] (1 keeps the rate, "
            "0.5 halves it). A factor above 1 makes the rate grow without bound."
        )
    return value


def _count(name: str, value: float) -> float:
    """Check a number of updates (or epochs): a finite number >= 0."""
    if not (_is_number(value) and value >= 0):
        raise ValueError(f"Invalid {name}: {value!r}; it must be a finite number >= 0.")
    return value


def _update(t: float) -> float:
    """Check an update (or epoch) number: a finite number >= 0."""
    if not (_is_number(t) and t >= 0):
        raise ValueError(f"The update number must be >= 0 and finite, got {t!r}.")
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

    def __init__(self, steps: Iterable[int], factor: float = 1, base_lr: float = 0.1) -> None:
        try:
            milestones = None if isinstance(steps, str | bytes) else list(steps)
        except TypeError:
            milestones = None
        if milestones is None:
            raise ValueError(
                f"Invalid steps: {steps!r}; give the update numbers where the rate drops, as a "
                "list, e.g. MultiFactorScheduler([15, 30])."
            )
        self.steps = sorted(_count("step in steps", step) for step in milestones)
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
        if not (_is_number(warmup_steps) and warmup_steps >= 0):
            raise ValueError(f"warmup_steps must be >= 0 and finite, got {warmup_steps!r}.")
        if not (_is_number(max_update) and max_update > warmup_steps):
            raise ValueError(
                f"max_update ({max_update!r}) must exceed warmup_steps ({warmup_steps!r}) "
                "and be finite."
            )
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

    Call `step()` once per epoch, as with any torch scheduler. A rate the schedule returns
    that is negative, NaN or not a number is a `ValueError` naming the epoch, before it
    reaches the optimizer. `state_dict()` holds the schedule's own numbers when it is an
    object (e.g. a `CosineScheduler`), and nothing of it when it is a function, as
    `LambdaLR`'s does; `load_state_dict` restores them into the schedule it was built with.
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        schedule: Callable[[int], float],
        last_epoch: int = -1,
    ) -> None:
        if not callable(schedule):
            raise ValueError(
                f"Invalid schedule: {schedule!r}; give a function of the epoch that returns "
                "the rate, e.g. d2l.CosineScheduler(20)."
            )
        self.schedule = schedule
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        rate = self.schedule(self.last_epoch)
        number = rate.item() if isinstance(rate, torch.Tensor) and rate.numel() == 1 else rate
        if not (_is_number(number) and number >= 0):
            raise ValueError(
                f"The schedule returned {rate!r} for epoch {self.last_epoch}; a learning rate "
                "is a finite number >= 0. Check the schedule's arguments."
            )
        return [rate for _ in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedule")}
        plain = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial)
        has_numbers = hasattr(self.schedule, "__dict__") and not isinstance(self.schedule, plain)
        state["schedule"] = dict(vars(self.schedule)) if has_numbers else None
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = dict(state_dict)
        schedule = state.pop("schedule", None)
        self.__dict__.update(state)
        if schedule is not None:
            vars(self.schedule).update(schedule)
