"""Tensor aliases the d2l book calls through `d2l.` (`d2l.arange`, `d2l.meshgrid`, ...).

They let code copied from the book's PyTorch edition run unchanged; new code should
call `torch` directly.
"""

import torch

arange = torch.arange
meshgrid = torch.meshgrid
linspace = torch.linspace
tensor = torch.tensor
zeros = torch.zeros
zeros_like = torch.zeros_like
ones = torch.ones
ones_like = torch.ones_like
normal = torch.normal
rand = torch.rand
randn = torch.randn
matmul = torch.matmul
exp = torch.exp
log = torch.log
sin = torch.sin
cos = torch.cos
tanh = torch.tanh
abs = torch.abs
eye = torch.eye
stack = torch.stack
concat = torch.cat
float32 = torch.float32
int32 = torch.int32


def numpy(x: torch.Tensor):
    """Return `x` as a NumPy array (detached, on the CPU)."""
    return x.detach().cpu().numpy()


def reshape(x: torch.Tensor, *args) -> torch.Tensor:
    """Return `x.reshape(*args)`."""
    return x.reshape(*args)


def reduce_sum(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """Return `x.sum(...)`."""
    return x.sum(*args, **kwargs)


def argmax(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """Return `x.argmax(...)`."""
    return x.argmax(*args, **kwargs)


def astype(x: torch.Tensor, dtype) -> torch.Tensor:
    """Return `x` converted to `dtype`."""
    return x.type(dtype)
