"""What every optimizer the chapters save calls: argument checks, and the weight rule.

The chapters write optimizers from their update rules (`d2l.ScratchAdam` in chapter 08,
`d2l.Lion`, `d2l.Muon` and the others in chapter 11). Checking their arguments is not the
lesson, so it lives here, once:

- `check_hyperparameters(optimizer)`, called by each saved optimizer's `__init__`, checks
  the hyperparameters of every parameter group as `torch.optim` does, in its words
  ("Invalid learning rate: -1"). It also refuses NaN and infinity, which torch lets
  through, and a `betas` that is not a pair, which torch notices only at `step()`.
- `check_parameter(optimizer, param)`, called by `d2l.ParamwiseOptimizer.step` before
  it updates a tensor, refuses a sparse gradient and a complex parameter by name; the
  saved optimizers update real, dense tensors only.
- `split_weights(net)` splits a network's parameters into weights and the rest by one
  rule: a weight has two or more axes. Weight decay goes to the weights only, Muon
  orthogonalises weights only, and the per-layer statistics of `d2l.train_steps` are of
  weights.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable

import torch
from torch import nn


def _real(value) -> float | None:
    """`value` as a float if it is a real number or a one-element real tensor, else None."""
    if isinstance(value, torch.Tensor):
        if value.numel() == 1 and not value.is_complex():
            return float(value)
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _in_range(test: Callable[[float], bool]) -> Callable[[object], bool]:
    """A check that holds for a finite real number that passes `test`."""

    def check(value) -> bool:
        number = _real(value)
        return number is not None and math.isfinite(number) and test(number)

    return check


def _count(value) -> bool:
    """A whole number >= 0 (a number of steps)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


_NON_NEGATIVE = (_in_range(lambda x: x >= 0), "a finite number >= 0")
_BETA = (_in_range(lambda x: 0 <= x < 1), "a number in [0, 1)")

# hyperparameter -> (torch.optim's message, the check, what a valid value is)
_RULES: dict[str, tuple[str, Callable[[object], bool], str]] = {
    "lr": ("Invalid learning rate: {}", *_NON_NEGATIVE),
    "weight_decay": ("Invalid weight_decay value: {}", *_NON_NEGATIVE),
    "momentum_decay": ("Invalid momentum_decay value: {}", *_NON_NEGATIVE),
    "momentum": ("Invalid momentum value: {}", *_BETA),
    "beta2_decay": (
        "beta2_decay should be <= 0 but is: {}",
        _in_range(lambda x: x <= 0),
        "a finite number <= 0 (the exponent of 1 - beta2 = t^beta2_decay)",
    ),
    "d": (
        "Clipping threshold d should be >= 1 but is: {}",
        _in_range(lambda x: x >= 1),
        "a finite number >= 1",
    ),
    "warmup_steps": ("Invalid warmup_steps value: {}", _count, "a whole number >= 0"),
    "ns_steps": ("Invalid ns_steps value: {}", _count, "a whole number >= 0"),
}


def _problems(group: dict) -> Iterable[str]:
    """The message for each hyperparameter of `group` that is out of its range."""
    for name, (message, check, valid) in _RULES.items():
        if name in group and not check(group[name]):
            yield f"{message.format(group[name])} (it must be {valid})"
    if "betas" in group:
        betas = group["betas"]
        if not isinstance(betas, tuple | list) or len(betas) != 2:
            yield f"Invalid betas: {betas!r} (give a pair (beta1, beta2), each in [0, 1))"
        else:
            for index, beta in enumerate(betas):
                if not _BETA[0](beta):
                    yield f"Invalid beta parameter at index {index}: {beta} (it must be in [0, 1))"
    if "eps" in group:
        eps = group["eps"]
        if isinstance(eps, tuple | list):  # Adafactor's (eps1 or None, eps2)
            if len(eps) != 2:
                yield f"Invalid eps: {eps!r} (give a pair (eps1, eps2); eps1 may be None)"
            else:
                for index, value in enumerate(eps):
                    if not (index == 0 and value is None) and not _NON_NEGATIVE[0](value):
                        yield (
                            f"epsilon{index + 1} should be >= 0 but is: {value} "
                            "(it must be a finite number >= 0)"
                        )
        elif not _NON_NEGATIVE[0](eps):
            yield f"Invalid epsilon value: {eps} (it must be a finite number >= 0)"


def check_hyperparameters(optimizer: torch.optim.Optimizer) -> None:
    """Check the hyperparameters of every parameter group of `optimizer`, as torch.optim does.

    Raises a `ValueError` with torch.optim's message, the optimizer's name and, when there
    are several groups, the group's index. Known names: `lr`, `betas`, `eps` (a number,
    or Adafactor's pair), `weight_decay`, `momentum`, `momentum_decay`, `beta2_decay`, `d`,
    `warmup_steps` and `ns_steps`; other entries of a group are left alone.
    """
    name = type(optimizer).__name__
    several = len(optimizer.param_groups) > 1
    for index, group in enumerate(optimizer.param_groups):
        for problem in _problems(group):
            where = f"{name}, parameter group {index}" if several else name
            raise ValueError(f"{where}: {problem}.")


def check_parameter(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> None:
    """Refuse a parameter that `optimizer` cannot update: a sparse gradient, a complex tensor.

    Raises a `RuntimeError` that names the optimizer and says what to do instead.
    """
    name = type(optimizer).__name__
    if param.grad is not None and param.grad.is_sparse:
        raise RuntimeError(
            f"{name} does not support sparse gradients; use torch.optim.SparseAdam for those "
            "parameters, or make the layer dense (nn.Embedding(..., sparse=False))."
        )
    if param.is_complex():
        raise RuntimeError(
            f"{name} does not support complex parameters (this one is {param.dtype}, shape "
            f"{tuple(param.shape)}); keep the real and imaginary parts as two real parameters."
        )


def split_weights(
    net: nn.Module, exclude: Iterable[nn.Module] = ()
) -> tuple[dict[str, nn.Parameter], dict[str, nn.Parameter]]:
    """The trainable parameters of `net`, split into weights and the rest.

    A weight is a parameter with two or more axes: the matrix of a linear layer, the kernel
    of a convolution, an embedding table. The rest are biases and the scales and shifts of
    normalisation layers. The rule reads the tensor's shape, so it holds for any network,
    whatever its layers are called or where they sit: a rule by name would decay a
    normalisation layer's 1-D `weight`, and a rule by position needs to know the network.

    The parameters of the modules in `exclude` go to the rest (Muon, for example, leaves
    the output layer to AdamW). Returns two dicts, name -> parameter, in the order of
    `net.named_parameters()`; frozen parameters (`requires_grad=False`) are in neither.
    """
    excluded = {id(p) for module in exclude for p in module.parameters()}
    weights, rest = {}, {}
    for name, param in net.named_parameters():
        if param.requires_grad:
            is_weight = param.ndim >= 2 and id(param) not in excluded
            (weights if is_weight else rest)[name] = param
    return weights, rest


__all__ = ["check_hyperparameters", "check_parameter", "split_weights"]
