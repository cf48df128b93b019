"""What the chapters built for later chapters: their `#@save` cells, in chapter order.

GENERATED from the chapters by tools/save_cells.py; do not edit. Change the cell in its
chapter and run `python tools/save_cells.py` (tests/test_saved.py checks they agree).
`import d2lhelpers as d2l` re-exports every name in `__all__`, e.g. `d2l.ScratchAdam`.
"""

import math
import sys

import torch

# Saved code says d2l.NAME, as the chapters do: earlier saved names resolve here, and
# every other name falls through to the package (module __getattr__, PEP 562).
d2l = sys.modules[__name__]


def __getattr__(name: str):
    import d2lhelpers

    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(d2lhelpers, name)


# From chapters/08_adam.ipynb
class ScratchAdam(torch.optim.Optimizer):
    """Adam, AdamW and AMSGrad in one optimizer, written from the update rules of chapter 8.

    For every parameter x with gradient g, at its step t = 1, 2, ...:

        g ← g + λ x                   L2 penalty (weight_decay=λ)
        x ← (1 − η λ) x               or decoupled decay (decoupled_weight_decay=True: AdamW)
        v ← β1 v + (1 − β1) g         first moment       `first_moment`
        s ← β2 s + (1 − β2) g²        second moment      `second_moment`
        s ← max(s_max, s)             AMSGrad (amsgrad=True) keeps the running maximum
        x ← x − η d,  d = v̂ / (√ŝ + ε),  v̂ = v / (1 − β1^t),  ŝ = s / (1 − β2^t)   `direction`

    As in `torch/optim/adam.py`, the class is a thin shell (`step`: closure, parameter
    groups, state) around a functional core (`update`: one tensor, everything passed
    in). The three lines of the rule a variant changes are methods of their own, so a
    variant overrides one: Yogi (chapter 10) replaces `second_moment`.
    """

    def __init__(
        self,
        params,
        lr=1e-3,
        betas=(0.9, 0.999),
        eps=1e-8,
        weight_decay=0.0,
        decoupled_weight_decay=False,
        amsgrad=False,
    ):
        if not lr >= 0.0:
            raise ValueError(f"Invalid learning rate {lr}: it must be >= 0.")
        if not all(0.0 <= beta < 1.0 for beta in betas):
            raise ValueError(f"Invalid betas {betas}: both must lie in [0, 1).")
        if not eps >= 0.0:
            raise ValueError(f"Invalid eps {eps}: it must be >= 0.")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay {weight_decay}: it must be >= 0.")
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            amsgrad=amsgrad,
        )
        super().__init__(params, defaults)

    def first_moment(self, v, grad, beta1):
        """v ← β1 v + (1 − β1) g, in place."""
        v.mul_(beta1).add_(grad, alpha=1 - beta1)

    def second_moment(self, s, grad, beta2):
        """s ← β2 s + (1 − β2) g², in place."""
        s.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)

    def direction(self, v, s, grad, t, group):
        """The step per unit of learning rate, v̂ / (√ŝ + ε), grouped as PyTorch does."""
        beta1, beta2 = group["betas"]
        denom = (s.sqrt() / math.sqrt(1 - beta2**t)).add_(group["eps"])
        return v / (1 - beta1**t) / denom

    def update(self, param, grad, state, group):
        """One step of one parameter tensor, in place; `state` holds its moments and step."""
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:  # the first step of this parameter
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = torch.zeros_like(
                    param, memory_format=torch.preserve_format
                )
        state["step"] += 1
        if wd != 0:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * wd)  # AdamW: shrink the weights directly
            else:
                grad = grad.add(param, alpha=wd)  # L2: add λx to the gradient
        v, s = state["exp_avg"], state["exp_avg_sq"]
        self.first_moment(v, grad, beta1)
        self.second_moment(s, grad, beta2)
        if group["amsgrad"]:
            s = torch.maximum(state["max_exp_avg_sq"], s, out=state["max_exp_avg_sq"])
        param.sub_(self.direction(v, s, grad, state["step"], group), alpha=lr)

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; return the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(
                        "ScratchAdam does not support sparse gradients; "
                        "use torch.optim.SparseAdam for those parameters."
                    )
                self.update(p, p.grad, self.state[p], group)
        return loss


__all__ = [
    "ScratchAdam",
]
