"""Checks of from-scratch optimizers against `torch.optim`.

Every chapter checks the optimizer it builds against its PyTorch counterpart on the same
problem. The check itself is not the lesson, so it lives here, written once:

- `same_as_torch` trains linear regression on the same minibatches of airfoil twice, once
  with a d2l-style `trainer_fn(params, states, hyperparams)` and once with a
  `torch.optim.Optimizer`, from the same initial parameters, and returns the largest
  difference of the parameters. `train_linreg` and `train_linreg_torch` are its two
  halves, for checks that compare other pairs (two conventions, two optimizers).
- `trajectory_2d` runs a `torch.optim.Optimizer` on a 2-D objective, in float64, and
  returns the trajectory in the form `d2l.train_2d` returns it.
- `max_difference` compares two parameter lists or two trajectories; `agree` and `differ`
  assert the verdict of such a comparison and print what was compared and by how much.
- `least_squares_loss` is the lowest loss linear regression can reach: the floor under
  every airfoil loss curve.

Anything that builds an optimizer from a parameter list works as the PyTorch side: a
`torch.optim` class (`torch.optim.SGD` with keyword arguments, or
`functools.partial(torch.optim.SGD, lr=0.1)`) as well as an optimizer written from scratch
as a `torch.optim.Optimizer` subclass.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Iterator, Sequence

import torch

from .data import TensorLoader, get_data_ch11
from .loop import fit
from .training import ScratchOptimizer, linreg, squared_loss

MakeOptimizer = Callable[..., torch.optim.Optimizer]


def _tensors(data) -> tuple[torch.Tensor, torch.Tensor]:
    """The features and targets of `data`: None (airfoil), a `TensorLoader` or a pair."""
    if data is None:
        data, _ = get_data_ch11()
    if isinstance(data, TensorLoader):
        X, y = data.tensors[:2]
    else:
        try:
            X, y = data
        except (TypeError, ValueError):
            raise TypeError(
                "data must be None (the airfoil data), a TensorLoader such as the one "
                "d2l.get_data_ch11 returns, or a pair (X, y) of tensors; "
                f"got {type(data).__name__}."
            ) from None
    if not (isinstance(X, torch.Tensor) and isinstance(y, torch.Tensor)) or X.ndim != 2:
        raise TypeError(
            "data must hold a 2-D feature tensor X (examples x features) and a target tensor y."
        )
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)}: they must match.")
    return X, y


def minibatches(
    data=None, steps: int = 100, batch_size: int = 10
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The first `steps` minibatches of `data` in file order (no shuffling).

    `data` is None (the airfoil data of `d2l.get_data_ch11`), a `TensorLoader` or a pair
    `(X, y)`. Every run of a check sees the same batches in the same order.
    """
    X, y = _tensors(data)
    if steps < 0 or batch_size < 1:
        raise ValueError(f"need steps >= 0 and batch_size >= 1; got {steps} and {batch_size}.")
    if steps * batch_size > len(X):
        raise ValueError(
            f"{steps} steps of {batch_size} examples need {steps * batch_size} examples, "
            f"but the data have {len(X)}. Use fewer steps or a smaller batch size."
        )
    for i in range(steps):
        rows = slice(i * batch_size, (i + 1) * batch_size)
        yield X[rows], y[rows]


def init_linreg_params(feature_dim: int, seed: int = 0) -> list[torch.Tensor]:
    """Initial `[w, b]` of linear regression, as `d2l.train_ch11` draws them, from `seed`.

    `w ~ N(0, 0.01²)` of shape `(feature_dim, 1)` and `b = 0`. The draw uses its own
    generator, so it leaves the global random state alone; it equals the draw after
    `torch.manual_seed(seed)`.
    """
    generator = torch.Generator().manual_seed(seed)
    w = torch.normal(0.0, 0.01, (feature_dim, 1), generator=generator).requires_grad_()
    b = torch.zeros(1, requires_grad=True)
    return [w, b]


def _loss(params: Sequence[torch.Tensor], X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return squared_loss(linreg(X, *params), y).mean()


def _fit_linreg(optimizer, params: list[torch.Tensor], X, y, steps: int, batch_size: int):
    """The parameters after `steps` updates on `minibatches((X, y), steps, batch_size)`.

    A run whose loss diverged returns NaN parameters, so that no check passes on it.
    """
    batches = list(minibatches((X, y), steps, batch_size))
    if batches:
        net = functools.partial(linreg, w=params[0], b=params[1])
        if fit(net, optimizer, batches, _mean_squared_loss, num_epochs=1)["diverged"]:
            return [torch.full_like(p, math.nan).detach() for p in params]
    return [p.detach() for p in params]


def _mean_squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return squared_loss(y_hat, y).mean()


def train_linreg(
    trainer_fn: Callable,
    states,
    hyperparams: dict,
    *,
    data=None,
    steps: int = 100,
    batch_size: int = 10,
    seed: int = 0,
) -> list[torch.Tensor]:
    """Train linear regression with a d2l-style optimizer; return the parameters `[w, b]`.

    `trainer_fn(params, states, hyperparams)` updates the parameters in place from their
    `.grad` and zeroes the gradients, as in `d2l.train_ch11`. It runs `steps` updates on
    `minibatches(data, steps, batch_size)` from `init_linreg_params(feature_dim, seed)`.
    `states` and `hyperparams` are copied first, so the same arguments can be passed to
    several runs (an optimizer that counts its steps in `hyperparams["t"]` starts afresh).
    """
    X, y = _tensors(data)
    params = init_linreg_params(X.shape[1], seed)
    states, hyperparams = copy.deepcopy(states), copy.deepcopy(hyperparams)
    optimizer = ScratchOptimizer(trainer_fn, params, states, hyperparams)
    return _fit_linreg(optimizer, params, X, y, steps, batch_size)


def train_linreg_torch(
    make_optimizer: MakeOptimizer,
    *,
    data=None,
    steps: int = 100,
    batch_size: int = 10,
    seed: int = 0,
    **kwargs,
) -> list[torch.Tensor]:
    """Train linear regression with `make_optimizer(params, **kwargs)`; return `[w, b]`.

    `make_optimizer` is a `torch.optim` class, a `functools.partial` of one, or a
    `torch.optim.Optimizer` subclass written from scratch. Same batches and initial
    parameters as `train_linreg` with the same `data`, `steps`, `batch_size` and `seed`.
    """
    X, y = _tensors(data)
    params = init_linreg_params(X.shape[1], seed)
    optimizer = make_optimizer(params, **kwargs)
    return _fit_linreg(optimizer, params, X, y, steps, batch_size)


def max_difference(a: Sequence, b: Sequence) -> float:
    """The largest absolute difference between two parameter lists or two trajectories.

    `a` and `b` are sequences of the same length whose items are tensors or tuples of
    numbers (`[w, b]` from `train_linreg`, or the points of a 2-D trajectory). Returns
    `inf` when either holds an inf or NaN, so that a test `max_difference(...) < tol`
    fails on a run that blew up.
    """
    if len(a) != len(b):
        raise ValueError(
            f"cannot compare sequences of different lengths ({len(a)} and {len(b)}): "
            "run both for the same number of steps."
        )
    worst = 0.0
    for p, q in zip(a, b):
        p = torch.as_tensor(p).detach().to(torch.float64)  # parameters may require grad
        q = torch.as_tensor(q).detach().to(torch.float64)
        if p.shape != q.shape:
            raise ValueError(f"cannot compare shapes {tuple(p.shape)} and {tuple(q.shape)}.")
        if not (torch.isfinite(p).all() and torch.isfinite(q).all()):
            return math.inf
        if p.numel():
            worst = max(worst, float((p - q).abs().max()))
    return worst


def agree(name: str, ours: Sequence, theirs: Sequence, tol: float = 1e-5) -> float:
    """Check that two parameter lists or trajectories are the same within `tol`; say so.

    Prints `name: agree within tol (max |difference| d)` and returns `d`; raises an
    `AssertionError` naming the comparison when `d` is not below `tol` (an inf or NaN in
    either run counts as a difference of inf). `ours` and `theirs` as in `max_difference`.
    """
    difference = max_difference(ours, theirs)
    if not difference < tol:
        raise AssertionError(
            f"{name}: max |difference| {difference:.2e} is not below {tol:g}: the two runs "
            "do not compute the same thing."
        )
    print(f"{name}: agree within {tol:g} (max |difference| {difference:.1e})")
    return difference


def differ(name: str, ours: Sequence, theirs: Sequence, tol: float = 1e-5) -> float:
    """Check that two parameter lists or trajectories differ by more than `tol`; say so.

    The negative control of `agree`: two rules that are not the same must not pass as
    equal, which shows that the check is sharp. Prints `name: differ by d (more than
    tol)` and returns `d`; raises an `AssertionError` when `d` is not above `tol`.
    """
    difference = max_difference(ours, theirs)
    if not difference > tol:
        raise AssertionError(
            f"{name}: max |difference| {difference:.2e} is not above {tol:g}: the two runs "
            "were expected to differ."
        )
    print(f"{name}: differ by {difference:.2g} (more than {tol:g})")
    return difference


def least_squares_loss(data=None) -> float:
    """The lowest mean squared loss `(Xw + b - y)^2 / 2` any linear model reaches on `data`.

    Solved exactly in float64 (`torch.linalg.lstsq`), it is the floor under every loss
    curve of linear regression on these data: what an optimizer leaves above it is its
    own doing. `data` as in `minibatches` (airfoil by default).
    """
    X, y = _tensors(data)
    A = torch.cat([X.double(), torch.ones(len(X), 1, dtype=torch.float64)], dim=1)
    target = y.double().reshape(-1, 1)
    solution = torch.linalg.lstsq(A, target).solution
    return float(((A @ solution - target) ** 2).mean() / 2)


def same_as_torch(
    trainer_fn: Callable,
    states,
    hyperparams: dict,
    make_optimizer: MakeOptimizer,
    *,
    data=None,
    steps: int = 100,
    batch_size: int = 10,
    seed: int = 0,
) -> float:
    """Max |difference| of the parameters of a from-scratch optimizer and a torch one.

    Both train linear regression for `steps` updates on the same minibatches (the first
    `steps * batch_size` examples of `data` in file order; airfoil by default) from the
    same initial parameters (drawn from `seed`): `trainer_fn(params, states, hyperparams)`
    on one copy, `make_optimizer(params)` (e.g. `functools.partial(torch.optim.SGD,
    lr=0.1)`) on the other. Equal algorithms differ by float32 rounding, about 1e-7;
    assert `< 1e-5` in the notebook. Returns `inf` if a run produced inf or NaN.
    """
    options = {"data": data, "steps": steps, "batch_size": batch_size, "seed": seed}
    ours = train_linreg(trainer_fn, states, hyperparams, **options)
    theirs = train_linreg_torch(make_optimizer, **options)
    return max_difference(ours, theirs)


def trajectory_2d(
    optimizer_cls: MakeOptimizer,
    f: Callable,
    start: tuple[float, float],
    steps: int = 20,
    **kwargs,
) -> list[tuple[float, float]]:
    """The trajectory of `optimizer_cls([x], **kwargs)` minimising `f(x1, x2)` from `start`.

    `x` is a float64 tensor of two elements, and autograd computes the gradient of `f`,
    so the result checks a from-scratch 2-D optimizer (run with `d2l.train_2d`) point by
    point. Returns `steps + 1` points, the start included, as `d2l.train_2d` does.
    """
    if len(start) != 2:
        raise ValueError(f"start must be a point (x1, x2); got {start!r}.")
    x = torch.tensor([float(v) for v in start], dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_cls([x], **kwargs)
    results = [(float(start[0]), float(start[1]))]
    for _ in range(steps):
        optimizer.zero_grad()
        f(x[0], x[1]).backward()
        optimizer.step()
        x1, x2 = x.detach().tolist()
        results.append((x1, x2))
    return results


__all__ = [
    "agree",
    "differ",
    "init_linreg_params",
    "least_squares_loss",
    "max_difference",
    "minibatches",
    "same_as_torch",
    "train_linreg",
    "train_linreg_torch",
    "trajectory_2d",
]
