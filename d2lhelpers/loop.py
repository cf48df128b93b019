"""The one training loop of the package: `fit`, the `Run` it steps, the `History` it returns.

Every helper that trains over minibatches is a thin adapter over `fit`: `train_ch11`,
`train_concise_ch11` and `train` (d2l's names), `train_steps`, and the checks against
`torch.optim`. One step is the same for all of them:

    zero the gradients; loss = loss(net(X), y); loss.backward(); optimizer.step()

What differs is switched on with callbacks, in the manner of fastai's miniai `Learner`:
objects with any of the methods `before_fit`, `before_epoch`, `before_batch`,
`after_backward`, `before_step`, `after_step`, `after_epoch` and `after_fit`, each called
with the `Run` in progress. Schedules, clipping, metrics, evaluation, figures, progress
and printing are callbacks; a run without a figure leaves the figure's callback out.

One rule says that a run diverged (`diverged`): a minibatch loss that is inf, NaN or above
the run's `limit`. The run stops before the optimizer applies that step and `fit` returns
what was measured until then. Nothing in the loop depends on timing, so a seeded run
reproduces its numbers.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch

from .timing import Timer
from .validate import positive_int

EVENTS = (
    "before_fit",
    "before_epoch",
    "before_batch",
    "after_backward",
    "before_step",
    "after_step",
    "after_epoch",
    "after_fit",
)


def diverged(value: float, limit: float = math.inf) -> bool:
    """Whether a loss says the run diverged: it is inf or NaN, or above `limit`.

    The one divergence rule of the course. Training loops stop at the first minibatch loss
    for which it holds; the range test applies it to its smoothed loss with a limit of four
    times the lowest value so far.
    """
    return not math.isfinite(value) or value > limit


class History(dict):
    """What a run measured: each name maps to a list of values, one per measurement.

    Two entries are not lists: `steps`, the number of optimizer steps taken, and
    `diverged`, whether the run stopped at a loss that `diverged`. `keys` fixes the order
    of the lists (they are created empty); `log` appends, creating a list when needed.
    """

    def __init__(self, keys: Sequence[str] = ()) -> None:
        super().__init__({key: [] for key in keys})
        self["steps"], self["diverged"] = 0, False

    def log(self, **values) -> None:
        """Append each value to its list."""
        for key, value in values.items():
            self.setdefault(key, []).append(value)


@dataclass(eq=False)
class Run:
    """A run in progress: what callbacks read, and the few things they may change.

    `epoch` and `batch` count from 0 (the epoch, and the minibatch within it, now being
    trained); `step` and `examples` count what was trained so far. During a step, `X`, `y`,
    `y_hat` and `loss_value` (the minibatch loss, detached) hold the minibatch. A callback
    sets `stop` to end the run after the current step; `animator` is the live figure, if
    one was switched on. `diverged_at` is `(epoch, batch, loss)` once the run diverged.
    """

    net: Callable
    optimizer: object
    loss: Callable
    train_iter: Iterable
    device: torch.device | None
    history: History
    timer: Timer = field(default_factory=Timer)
    epoch: int = 0
    batch: int = 0
    step: int = 0
    examples: int = 0
    X: torch.Tensor | None = None
    y: torch.Tensor | None = None
    y_hat: torch.Tensor | None = None
    loss_value: torch.Tensor | None = None
    stop: bool = False
    animator: object = None
    diverged_at: tuple[int, int, float] | None = None
    _paused: int = 1  # the clock runs only while fit() trains, outside untimed() sections

    def lr(self) -> float | None:
        """The learning rate of the first parameter group (None if the optimizer has none)."""
        groups = getattr(self.optimizer, "param_groups", None)
        return groups[0].get("lr") if groups else None

    def plot(self, x: float, y) -> None:
        """Add a point to the live figure, if the run has one (drawing is not training time)."""
        if self.animator is not None:
            with self.untimed():
                self.animator.add(x, y)

    def elapsed(self) -> float:
        """Seconds spent training so far; evaluation and drawing excluded."""
        with self.untimed():
            return self.timer.sum()

    @contextlib.contextmanager
    def untimed(self) -> Iterator[None]:
        """Leave what runs inside (evaluation, drawing) out of the training time; nests."""
        if self._paused == 0:
            self.timer.stop()
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1
            if self._paused == 0:
                self.timer.start()

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Evaluate the model, untimed, at the point its optimizer wants it evaluated.

        Schedule-free optimizers train at one point and evaluate at another, their
        average: those with `eval()` and `train()` methods are switched for the duration.
        """
        switch = callable(getattr(self.optimizer, "eval", None)) and callable(
            getattr(self.optimizer, "train", None)
        )
        with self.untimed():
            if switch:
                self.optimizer.eval()
            try:
                yield
            finally:
                if switch:
                    self.optimizer.train()


def fit(
    net: Callable,
    optimizer,
    train_iter: Iterable,
    loss: Callable,
    num_epochs: int | None = None,
    num_steps: int | None = None,
    callbacks: Sequence[object] = (),
    device: torch.device | str | None = None,
    limit: float = math.inf,
    check_every: int = 1,
    history: History | None = None,
) -> History:
    """Train `net` on `train_iter` for `num_epochs` epochs or `num_steps` steps; return the history.

    `loss(net(X), y)` is the minibatch loss that is minimised; `optimizer` has
    `zero_grad()` and `step()`. Each batch is moved to `device`, if given. The run stops
    at the first minibatch loss that `diverged` (with `limit`), before that step is
    applied. Reading a loss on a GPU waits for the queued work, so `check_every` > 1
    checks the losses in groups (the run then stops within that many steps).
    """
    if (num_epochs is None) == (num_steps is None):
        raise ValueError("Give fit() either num_epochs or num_steps, not both or neither.")
    for name, value in (("num_epochs", num_epochs), ("num_steps", num_steps)):
        if value is not None:
            positive_int(name, value)
    positive_int("check_every", check_every)
    device = torch.device(device) if device is not None else None
    history = history if history is not None else History()
    run = Run(net, optimizer, loss, train_iter, device, history)
    handlers = {
        event: [getattr(c, event) for c in callbacks if hasattr(c, event)] for event in EVENTS
    }

    def call(event: str) -> None:
        for handler in handlers[event]:
            handler(run)

    num_batches = len(train_iter) if hasattr(train_iter, "__len__") else None
    pending: list[torch.Tensor] = []  # losses not checked yet (check_every > 1)

    def check() -> bool:
        """Check the pending losses; on the first that diverged, note where and stop."""
        values = [float(pending[0])] if len(pending) == 1 else torch.stack(pending).tolist()
        bad = next((k for k, value in enumerate(values) if diverged(value, limit)), None)
        if bad is not None:
            run.diverged_at = (run.epoch, run.batch - len(values) + 1 + bad, values[bad])
            run.history["diverged"] = run.stop = True
        pending.clear()
        return run.stop

    call("before_fit")
    run.timer.start()
    run._paused = 0
    while not run.stop and run.epoch != num_epochs:
        call("before_epoch")
        run.batch = -1
        for run.batch, (X, y) in enumerate(train_iter):
            if device is not None:
                X, y = X.to(device), y.to(device)
            run.X, run.y = X, y
            call("before_batch")
            optimizer.zero_grad()
            run.y_hat = net(X)
            loss_value = loss(run.y_hat, y)
            loss_value.backward()
            run.loss_value = loss_value.detach()
            call("after_backward")
            pending.append(run.loss_value)
            last = num_batches is not None and run.batch + 1 == num_batches
            if (len(pending) == check_every or last or run.step + 1 == num_steps) and check():
                break
            call("before_step")
            optimizer.step()
            run.step += 1
            run.examples += X.shape[0]
            call("after_step")
            if run.stop or run.step == num_steps:
                break
        if run.batch == -1:
            raise ValueError(
                f"train_iter yielded no minibatch in epoch {run.epoch + 1}. Pass a loader over "
                "a non-empty data set that can be iterated again for every epoch."
            )
        if run.stop:
            break
        call("after_epoch")
        run.epoch += 1
        if run.step == num_steps:
            break
    run.timer.stop()
    run._paused = 1
    run.history["steps"] = run.step
    call("after_fit")
    return run.history
