"""What the chapters built for later chapters: their `#@save` cells, in chapter order.

GENERATED from the chapters by tools/save_cells.py; do not edit. Each block names the
chapter and cell it comes from: change the cell there and run `python tools/save_cells.py`
(tests/test_saved.py checks they agree). `import d2lhelpers as d2l` re-exports every name
in `__all__`, e.g. `d2l.ScratchAdam`.
"""

import math
import sys

import torch

from .loop import diverged  # noqa: F401
from .optimizers import check_hyperparameters, check_parameter  # noqa: F401
from .tuning import EMA  # noqa: F401

# Saved code says d2l.NAME, as the chapters do: saved names are defined below, and the
# package's helpers it uses are imported above.
d2l = sys.modules[__name__]


# From chapters/01_gradient_descent.ipynb, cell 32
def gd_2d(x1, x2, s1, s2, f_grad, eta=0.1):
    """One step of gradient descent in 2-D, in `d2l.train_2d`'s form (no optimizer state)."""
    g1, g2 = f_grad(x1, x2)
    return x1 - eta * g1, x2 - eta * g2, 0, 0


# From chapters/08_adam.ipynb, cell 28
def yogi(params, states, hyperparams):
    """Yogi, in the book's from-scratch interface: `states` holds (v, s) per parameter."""
    beta1, beta2 = hyperparams.get("betas", (0.9, 0.999))
    eps, t = hyperparams.get("eps", 1e-3), hyperparams["t"]
    for p, (v, s) in zip(params, states):
        with torch.no_grad():
            g2 = torch.square(p.grad)
            v[:] = beta1 * v + (1 - beta1) * p.grad
            s[:] = s + (1 - beta2) * torch.sign(g2 - s) * g2
            v_hat = v / (1 - beta1**t)
            s_hat = s / (1 - beta2**t)
            p[:] -= hyperparams["lr"] * v_hat / (torch.sqrt(s_hat) + eps)
        p.grad.data.zero_()
    hyperparams["t"] += 1


# From chapters/08_adam.ipynb, cell 50
class ParamwiseOptimizer(torch.optim.Optimizer):
    """The thin shell of an optimizer that updates one parameter tensor at a time.

    `step(closure)` runs the closure, if any, with gradients on; then, without gradients, it
    calls `update(param, grad, state, group)` for every parameter that has a gradient and at
    least one entry, with the parameter's state `self.state[param]` (a dict, empty at its
    first step) and its group's hyperparameters. A subclass writes `update`, the functional
    core, and checks its hyperparameters in `__init__` with `d2l.check_hyperparameters(self)`.
    """

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter that has a gradient; return the closure's loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None or p.numel() == 0:  # nothing to update
                    continue
                d2l.check_parameter(self, p)  # no sparse gradient, no complex tensor
                self.update(p, p.grad, self.state[p], group)
        return loss


# From chapters/08_adam.ipynb, cell 51
class ScratchAdam(ParamwiseOptimizer):
    """Adam, AdamW and AMSGrad in one optimizer, written from the update rules of chapter 8.

    For every parameter x with gradient g, at its step t = 1, 2, ...:

        g ← g + ω x                   L2 penalty (weight_decay=ω)
        x ← (1 − η ω) x               or decoupled decay (decoupled_weight_decay=True: AdamW)
        v ← β1 v + (1 − β1) g         first moment       `first_moment`
        s ← β2 s + (1 − β2) g²        second moment      `second_moment`
        s ← max(s_max, s)             AMSGrad (amsgrad=True) keeps the running maximum
        x ← x − η d,  d = v̂ / (√ŝ + ε),  v̂ = v / (1 − β1^t),  ŝ = s / (1 − β2^t)   `direction`

    As in `torch/optim/adam.py`, the class is a thin shell (`step`, from
    `ParamwiseOptimizer`: closure, parameter groups, state) around a functional core
    (`update`: one tensor, everything passed in). The three lines of the rule a variant
    changes are methods of their own, so a variant overrides one: Yogi (chapter 10)
    replaces `second_moment`.
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
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            amsgrad=amsgrad,
        )
        super().__init__(params, defaults)
        d2l.check_hyperparameters(self)  # as torch.optim: lr >= 0, 0 <= β < 1, ...

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
        if "step" not in state:  # the first step of this parameter
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
                grad = grad.add(param, alpha=wd)  # L2: add ωx to the gradient
        v, s = state["exp_avg"], state["exp_avg_sq"]
        self.first_moment(v, grad, beta1)
        self.second_moment(s, grad, beta2)
        if group["amsgrad"]:
            s = torch.maximum(state["max_exp_avg_sq"], s, out=state["max_exp_avg_sq"])
        param.sub_(self.direction(v, s, grad, state["step"], group), alpha=lr)


# From chapters/09_lr_schedulers.ipynb, cell 40
def lr_range_test(net, trainer, data_iter, loss, device, lr_min=1e-3, lr_max=10.0, beta=0.9):
    """The range test: one pass over `data_iter` with geometrically rising rates.

    Returns the rates, the minibatch losses and their bias-corrected moving average
    (`d2l.EMA(beta)`). Stops early once the smoothed loss diverges (`d2l.diverged`): when it
    is not finite, or above four times its lowest value.
    """
    if not (0 < lr_min < lr_max and math.isfinite(lr_max)):
        raise ValueError(
            f"lr_min ({lr_min}) and lr_max ({lr_max}) must be finite, with 0 < lr_min < "
            "lr_max: the rates rise geometrically from one to the other."
        )
    average = d2l.EMA(beta)  # a ValueError unless 0 <= beta < 1
    net.to(device)
    num_steps = len(data_iter)
    lrs, raw, smoothed = [], [], []
    for k, (X, y) in enumerate(data_iter):
        lr = lr_min * (lr_max / lr_min) ** (k / max(num_steps - 1, 1))
        for group in trainer.param_groups:
            group["lr"] = lr
        trainer.zero_grad()
        ls = loss(net(X.to(device)), y.to(device))
        ls.backward()
        trainer.step()
        lrs.append(lr)
        raw.append(ls.item())
        smoothed.append(average(raw[-1]))
        if d2l.diverged(smoothed[-1], limit=4 * min(smoothed)):
            break
    return lrs, raw, smoothed


# From chapters/09_lr_schedulers.ipynb, cell 42
def suggest_lr(lrs, smoothed, skip_start=10, skip_end=5, min_steps=50, min_drop=0.02):
    """A peak rate read off a range test and the rule that gave it, or `(None, reason)`.

    The rate where the smoothed loss falls fastest per unit of log(lr), searched from point
    `skip_start` to `skip_end` points before the lowest smoothed loss; if that window is
    empty, the rate of the lowest loss divided by 10.
    """
    if len(lrs) != len(smoothed):
        raise ValueError(f"{len(lrs)} rates but {len(smoothed)} losses: pass the test's lists.")
    if len(lrs) < min_steps:
        return None, f"only {len(lrs)} minibatches, fewer than {min_steps}"
    if not 0 <= skip_start < len(smoothed):
        raise ValueError(
            f"skip_start={skip_start} skips every one of the {len(smoothed)} points; "
            "use a skip_start below the number of points."
        )
    best = min(range(skip_start, len(smoothed)), key=smoothed.__getitem__)
    if smoothed[best] > (1 - min_drop) * smoothed[skip_start]:
        return None, f"the smoothed loss never fell by {min_drop:.0%}: widen the range of rates"
    window = range(skip_start, best - skip_end)
    if len(window) < 2:
        return lrs[best] / 10, "lowest loss / 10 (the minimum came too early)"

    def slope(k):
        return (smoothed[k + 1] - smoothed[k]) / math.log(lrs[k + 1] / lrs[k])

    return lrs[min(window, key=slope)], "steepest descent before the minimum"


# From chapters/11_beyond_adam.ipynb, cell 7
class Adamax(d2l.ScratchAdam):
    """Adamax (Kingma and Ba, 2015): Adam with the infinity norm in place of √ŝ.

    For every parameter x with gradient g, at its step t = 1, 2, ...:

        g ← g + ω x                     L2 penalty (weight_decay=ω)
        v ← β1 v + (1 − β1) g
        u ← max(β2 u, |g|)              kept in Adam's `s`: `second_moment`
        x ← x − η v̂ / (u + ε),  v̂ = v / (1 − β1^t)       `direction`

    As torch.optim.Adamax, except that ε is added to u (torch takes max(β2 u, |g| + ε)).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)

    def second_moment(self, s, grad, beta2):
        """u ← max(β2 u, |g|), in place."""
        torch.maximum(s.mul_(beta2), grad.abs(), out=s)

    def direction(self, v, s, grad, t, group):
        """The step per unit of learning rate, v̂ / (u + ε)."""
        beta1, _ = group["betas"]
        return v / (1 - beta1**t) / (s + group["eps"])


# From chapters/11_beyond_adam.ipynb, cell 14
class NAdam(d2l.ScratchAdam):
    """NAdam (Dozat, 2016): Adam with a Nesterov look-ahead and a momentum schedule μ_t.

    With μ_t = β1 (1 − ½ 0.96^(t ψ)), ψ = momentum_decay, and the products Π_t = μ_1 ⋯ μ_t,
    for every parameter x with gradient g, at its step t = 1, 2, ...:

        v ← β1 v + (1 − β1) g,   s ← β2 s + (1 − β2) g²
        x ← x − η ((1 − μ_t) / (1 − Π_t) g + μ_{t+1} / (1 − Π_{t+1}) v) / (√ŝ + ε)

    as torch.optim.NAdam (without its weight decay).
    """

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, momentum_decay=4e-3):
        super().__init__(params, lr=lr, betas=betas, eps=eps)
        for group in self.param_groups:
            group.setdefault("momentum_decay", momentum_decay)
        d2l.check_hyperparameters(self)  # momentum_decay >= 0 too

    @staticmethod
    def mu(t, beta1, psi):
        """The momentum coefficient μ_t of step t."""
        return beta1 * (1 - 0.5 * 0.96 ** (t * psi))

    def update(self, param, grad, state, group):
        """Π_t ← Π_{t−1} μ_t in the parameter's state, as torch.optim.NAdam; then Adam's step."""
        t, (beta1, _), psi = state.get("step", 0) + 1, group["betas"], group["momentum_decay"]
        state["mu_product"] = state.get("mu_product", 1.0) * self.mu(t, beta1, psi)
        self._mu_product = state["mu_product"]  # for `direction`, which sees no state
        super().update(param, grad, state, group)

    def direction(self, v, s, grad, t, group):
        """The step per unit of learning rate: the look-ahead mix of g and v over √ŝ + ε."""
        (beta1, beta2), psi = group["betas"], group["momentum_decay"]
        mu_t, mu_next = self.mu(t, beta1, psi), self.mu(t + 1, beta1, psi)
        denom = (s / (1 - beta2**t)).sqrt_().add_(group["eps"])
        grad_weight = (1 - mu_t) / (1 - self._mu_product)
        momentum_weight = mu_next / (1 - self._mu_product * mu_next)
        return (grad_weight * grad + momentum_weight * v) / denom


# From chapters/11_beyond_adam.ipynb, cell 17
def radam_rectification(t, beta2=0.999):
    """RAdam's rectification r_t at step t, or None while N_t <= 5 (no adaptive rate yet).

    N_t (the paper's ρ_t) is how many squared gradients Adam's ŝ_t averages, in effect:

        N_∞ = 2 / (1 − β2) − 1,   N_t = N_∞ − 2 t β2^t / (1 − β2^t)
        r_t = √((N_t − 4) (N_t − 2) N_∞ / ((N_∞ − 4) (N_∞ − 2) N_t))
    """
    if not (t >= 1 and 0 <= beta2 < 1):
        raise ValueError(f"need a step t >= 1 and 0 <= beta2 < 1; got t={t}, beta2={beta2}.")
    n_inf = 2 / (1 - beta2) - 1
    n_t = n_inf - 2 * t * beta2**t / (1 - beta2**t)
    if n_t <= 5:
        return None
    return ((n_t - 4) * (n_t - 2) * n_inf / ((n_inf - 4) * (n_inf - 2) * n_t)) ** 0.5


# From chapters/11_beyond_adam.ipynb, cell 22
class RAdam(d2l.ScratchAdam):
    """RAdam (Liu et al., 2020): Adam with the variance rectification r_t.

    For every parameter x with gradient g, at its step t = 1, 2, ...:

        v ← β1 v + (1 − β1) g,   s ← β2 s + (1 − β2) g²
        x ← x − η v̂                                 while N_t <= 5 (a momentum step)
        x ← x − η r_t v̂ √(1 − β2^t) / (√s + ε)      afterwards

    with r_t = `radam_rectification(t, β2)`, as torch.optim.RAdam.
    """

    def direction(self, v, s, grad, t, group):
        """The step per unit of learning rate: v̂, rectified and scaled once N_t > 5."""
        beta1, beta2 = group["betas"]
        v_hat = v / (1 - beta1**t)
        r = radam_rectification(t, beta2)
        if r is None:
            return v_hat  # N_t <= 5: a plain momentum step
        return v_hat * (r * (1 - beta2**t) ** 0.5) / (s.sqrt() + group["eps"])


# From chapters/11_beyond_adam.ipynb, cell 25
class Adafactor(d2l.ParamwiseOptimizer):
    """Adafactor (Shazeer and Stern, 2018) as torch.optim.Adafactor: a factored second moment.

    For a weight matrix W with gradient G, at its step t = 1, 2, ... (a vector keeps a full
    second moment s instead of r and c):

        1 − β̂ = t^beta2_decay
        r ← β̂ r + (1 − β̂) mean over columns (G²),   c ← β̂ c + (1 − β̂) mean over rows (G²)
        Ŝ = r cᵀ / mean(r),   U = G / √Ŝ
        W ← (1 − η ω) W − α U / max(1, RMS(U) / d),   α = max(ε2, RMS(W)) min(η, 1 / √t)

    ε1 (the dtype's machine epsilon by default) floors mean(r), and √Ŝ (Ŝ at ε1²).
    No momentum.
    """

    def __init__(
        self, params, lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0
    ):
        defaults = dict(lr=lr, beta2_decay=beta2_decay, eps=eps, d=d, weight_decay=weight_decay)
        super().__init__(params, defaults)
        d2l.check_hyperparameters(self)

    def update(self, param, grad, state, group):
        """One step of one tensor, in place; `state` holds r and c (or s) and the step."""
        eps1, eps2 = group["eps"]
        eps1 = torch.finfo(param.dtype).eps if eps1 is None else eps1
        if not state:
            state["step"] = 0
            if param.dim() > 1:  # factored: one number per row and per column
                state["row_var"] = param.new_zeros(param.shape[:-1] + (1,))
                state["col_var"] = param.new_zeros(param.shape[:-2] + (1, param.shape[-1]))
            else:
                state["variance"] = torch.zeros_like(param)
        state["step"] += 1
        t, lr = state["step"], group["lr"]
        one_minus_beta2 = t ** group["beta2_decay"]
        alpha = max(eps2, param.norm().item() / param.numel() ** 0.5) * min(lr, t**-0.5)
        if group["weight_decay"] != 0:
            param.mul_(1 - lr * group["weight_decay"])
        if param.dim() > 1:
            r, c = state["row_var"], state["col_var"]
            r.lerp_(grad.square().mean(dim=-1, keepdim=True), one_minus_beta2)
            c.lerp_(grad.square().mean(dim=-2, keepdim=True), one_minus_beta2)
            s_hat = r @ c / r.mean(dim=-2, keepdim=True).clamp(min=eps1)
        else:
            s_hat = state["variance"].lerp_(grad.square(), one_minus_beta2).clone()
        u = grad / s_hat.clamp(min=eps1 * eps1).sqrt()
        clip = max(1.0, (u.norm() / u.numel() ** 0.5).item() / group["d"])
        param.sub_(u, alpha=alpha / clip)


# From chapters/11_beyond_adam.ipynb, cell 33
class Lion(d2l.ParamwiseOptimizer):
    """Lion (Chen et al., 2023): the sign of an interpolated momentum, with one buffer m.

    For every parameter x with gradient g:

        x ← x − η (sign(β1 m + (1 − β1) g) + ω x)
        m ← β2 m + (1 − β2) g

    as lion_pytorch.Lion (decoupled weight decay ω).
    """

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, weight_decay=weight_decay))
        d2l.check_hyperparameters(self)

    def update(self, param, grad, state, group):
        """One step of one tensor, in place; `state` holds its momentum m."""
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if not state:
            state["exp_avg"] = torch.zeros_like(param)
        m = state["exp_avg"]
        param.mul_(1 - lr * wd)  # decoupled weight decay, as in AdamW
        param.sub_(torch.sign(m.lerp(grad, 1 - beta1)), alpha=lr)
        m.lerp_(grad, 1 - beta2)


# From chapters/11_beyond_adam.ipynb, cell 36
def newton_schulz(
    G, steps=5, coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7, dtype=torch.bfloat16
):
    """Approximately orthogonalise G: its U Vᵀ, every singular value moved near 1.

    X ← G / ‖G‖_F (transposed if G is tall), then `steps` times, in `dtype`:

        A = X Xᵀ,   X ← a X + (b A + c A²) X         (σ ↦ a σ + b σ³ + c σ⁵)

    with (a, b, c) = `coefficients`: torch.optim.Muon's operations, in its order.
    """
    a, b, c = coefficients
    X = G.to(dtype)
    tall = G.size(0) > G.size(1)
    if tall:  # work with the smaller Gram matrix X Xᵀ
        X = X.T
    X = X / X.norm().clamp(min=eps)  # now every singular value is <= 1
    for _ in range(steps):
        A = X @ X.T
        B = torch.addmm(A, A, A, beta=b, alpha=c)  # b A + c A²
        X = torch.addmm(X, B, X, beta=a)  # a X + B X
    return X.T if tall else X


# From chapters/11_beyond_adam.ipynb, cell 45
class Muon(d2l.ParamwiseOptimizer):
    """Muon (Jordan et al., 2024) for the groups with use_muon=True; AdamW for the others.

    For a weight matrix W (m x n) with gradient G, momentum β, Nesterov on (`nesterov`):

        M ← β M + (1 − β) G
        O = newton_schulz(G + β (M − G))          (of M, without Nesterov)
        W ← (1 − η ω) W − η √max(1, m / n) O

    as torch.optim.Muon. The groups with use_muon=False (biases, the output layer) get
    AdamW: chapter 8's `d2l.ScratchAdam` with decoupled weight decay.
    """

    def __init__(self, params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, ns_steps=5):
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_steps=ns_steps,
            use_muon=True,
        )
        super().__init__(params, defaults)
        d2l.check_hyperparameters(self)
        # AdamW fills in the betas and eps of the other groups; `update` calls its core with
        # Muon's own groups and state, so a scheduler and `state_dict()` reach them all.
        adamw_groups = [group for group in self.param_groups if not group["use_muon"]]
        self.adamw = (
            d2l.ScratchAdam(adamw_groups, decoupled_weight_decay=True) if adamw_groups else None
        )

    def load_state_dict(self, state_dict):
        """Load a checkpoint; AdamW then holds the loaded groups, as it held the first ones."""
        super().load_state_dict(state_dict)
        if self.adamw is not None:
            self.adamw.param_groups = [g for g in self.param_groups if not g["use_muon"]]

    def update(self, param, grad, state, group):
        """One step of one tensor, in place: AdamW's in a use_muon=False group, else Muon's."""
        if not group["use_muon"]:
            return self.adamw.update(param, grad, state, group)
        if grad.ndim != 2:
            raise ValueError(
                f"Muon works on 2-D weight matrices; this one has shape {tuple(grad.shape)}. "
                "Put it in a parameter group with use_muon=False (AdamW)."
            )
        lr, mu = group["lr"], group["momentum"]
        if not state:
            state["momentum_buffer"] = torch.zeros_like(param)
        buf = state["momentum_buffer"].lerp_(grad, 1 - mu)
        update = grad.lerp(buf, mu) if group["nesterov"] else buf
        orthogonal = newton_schulz(update, group["ns_steps"]).to(param.dtype)
        param.mul_(1 - lr * group["weight_decay"])
        param.sub_(orthogonal, alpha=lr * max(1, param.size(0) / param.size(1)) ** 0.5)


# From chapters/11_beyond_adam.ipynb, cell 57
class ScheduleFreeAdamW(d2l.ParamwiseOptimizer):
    """Schedule-free AdamW (Defazio et al., 2024), as schedulefree.AdamWScheduleFree.

    The parameters hold y in train mode, the average x in eval mode (`eval()`, `train()`).
    For every parameter, with the gradient g taken at y, at its step t = 1, 2, ...:

        s ← β2 s + (1 − β2) g²
        z ← z − η_t (g / (√ŝ + ε) + ω y),   η_t = η min(1, t / warmup_steps)
        x ← (1 − c_t) x + c_t z,   c_t = w_t / (w_1 + ... + w_t),   w_t = (max_{i<=t} η_i)²
        y ← (1 − β1) z + β1 x
    """

    def __init__(
        self, params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, warmup_steps=0
    ):
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=warmup_steps,
            train_mode=True,
        )
        super().__init__(params, defaults)
        d2l.check_hyperparameters(self)

    def update(self, param, grad, state, group):
        """One step of one tensor, in place; `state` holds s, z, x and the weights' sum."""
        (beta1, beta2), wd = group["betas"], group["weight_decay"]
        if not state:
            state.update(
                step=0,
                weight_sum=0.0,
                lr_max=0.0,
                exp_avg_sq=torch.zeros_like(param),
                z=param.clone(),
                x=param.clone(),
            )
        state["step"] += 1
        t, z, x = state["step"], state["z"], state["x"]
        warmup = min(1.0, t / group["warmup_steps"]) if group["warmup_steps"] else 1.0
        gamma = group["lr"] * warmup
        state["lr_max"] = max(state["lr_max"], gamma)
        weight = state["lr_max"] ** 2
        state["weight_sum"] += weight
        # c_t; while every rate so far was 0 (a warmup from 0), x stays, as in schedulefree
        average_weight = weight / state["weight_sum"] if state["weight_sum"] else 0.0
        s = state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        d = grad / (s / (1 - beta2**t)).sqrt().add_(group["eps"]) + wd * param  # param is y
        z.sub_(d, alpha=gamma)
        x.lerp_(z, average_weight)
        param.copy_(torch.lerp(z, x, beta1))  # the next y

    @torch.no_grad()
    def step(self, closure=None):
        """The shell's step, refused in eval mode (the parameters hold x, not y)."""
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(
                "ScheduleFreeAdamW is in eval mode: call optimizer.train() before training."
            )
        return super().step(closure)

    @torch.no_grad()
    def eval(self):
        """Put the average x into the parameters (for evaluation and checkpoints)."""
        for group in self.param_groups:
            if group["train_mode"]:
                for p in group["params"]:
                    if "x" in self.state[p]:
                        p.copy_(self.state[p]["x"])
                group["train_mode"] = False

    @torch.no_grad()
    def train(self):
        """Put the gradient point y = (1 − β1) z + β1 x back into the parameters."""
        for group in self.param_groups:
            if not group["train_mode"]:
                for p in group["params"]:
                    state = self.state[p]
                    if "x" in state:
                        p.copy_(torch.lerp(state["z"], state["x"], group["betas"][0]))
                group["train_mode"] = True


__all__ = [
    "Adafactor",
    "Adamax",
    "Lion",
    "Muon",
    "NAdam",
    "ParamwiseOptimizer",
    "RAdam",
    "ScheduleFreeAdamW",
    "ScratchAdam",
    "gd_2d",
    "lr_range_test",
    "newton_schulz",
    "radam_rectification",
    "suggest_lr",
    "yogi",
]
