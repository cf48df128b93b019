"""d2lhelpers: the helper package of the course on optimization algorithms for deep learning.

`import d2lhelpers as d2l` gives the names and signatures of the d2l book's PyTorch
helpers used in its optimization chapters, so code written for the book runs here. The
README's API table says where ours behave differently. The modules, one idea each:

- `settings`: the `D2L_*` settings (`data_root`, `epoch_fraction`), read in one place
- `datasets`: one record per data set (files, URLs, checksums, sizes, how to get it)
- `download`: `DATA_HUB`, `download`, `download_extract`; `archives`: safe extraction
- `idx`: the IDX file format; `fashion_mnist`: find, verify and read Fashion-MNIST
- `data`: in-memory loaders, `get_data_ch11`, `load_data_fashion_mnist`
- `validate`: the argument checks the helpers share
- `models`: the networks the chapters train, `lenet`, `mlp`
- `loop`: the one training loop (`fit`), and the rule that says a run diverged
- `training`: losses, evaluation, and d2l's trainers `train_2d`, `train_ch11`, `train`
- `tuning`: `train_steps` (every step recorded), search, smoothing, scheduler curves
- `schedulers`: learning-rate schedules
- `optimizers`: the checks every saved optimizer calls, and `split_weights`
- `checks`: from-scratch optimizers checked against `torch.optim` (`agree`, `differ`)
- `claims`: `claim`, the check of a number or comparison a chapter's prose states
- `problems`: 2-D test functions with gradients
- `plotting`: figures, `show_trace(_2d)`, `show_run`, `show_losses`, `Animator`
- `race`: several optimizers' trajectories on one 2-D problem, drawn and animated
- `timing`: `Timer`, `Accumulator`; `devices`: `try_gpu`, `try_all_gpus`
- `widgets`: sliders for the notebooks
- `aliases`: `d2l.arange` and the other tensor aliases the book uses
- `saved`: what the chapters built and later chapters reuse (`ScratchAdam`), generated
  from their `#@save` cells by tools/save_cells.py
"""

import matplotlib.pyplot as plt

from . import checks, datasets, problems, schedulers, settings, tuning
from .aliases import (
    abs,
    arange,
    argmax,
    astype,
    concat,
    cos,
    exp,
    eye,
    float32,
    int32,
    linspace,
    log,
    matmul,
    meshgrid,
    normal,
    numpy,
    ones,
    ones_like,
    rand,
    randn,
    reduce_sum,
    reshape,
    sin,
    stack,
    tanh,
    tensor,
    zeros,
    zeros_like,
)
from .checks import (
    agree,
    differ,
    least_squares_loss,
    max_difference,
    same_as_torch,
    train_linreg,
    train_linreg_torch,
    trajectory_2d,
)
from .claims import claim
from .data import (
    TensorLoader,
    epoch_fraction,
    get_data_ch11,
    get_dataloader_workers,
    load_array,
    load_data_fashion_mnist,
)
from .devices import cpu, num_gpus, try_all_gpus, try_gpu
from .download import DATA_HUB, DATA_URL, DownloadError, data_root, download, download_extract
from .fashion_mnist import TEXT_LABELS, locate_fashion_mnist, read_fashion_mnist
from .idx import IDXError
from .loop import diverged
from .models import lenet, mlp
from .optimizers import check_hyperparameters, check_parameter, split_weights
from .plotting import (
    Animator,
    draw_contours,
    plot,
    set_axes,
    set_figsize,
    show_losses,
    show_run,
    show_trace,
    show_trace_2d,
    use_svg_display,
)
from .problems import Problem2D
from .race import animate_race, draw_race
from .schedulers import (
    CosineScheduler,
    FactorScheduler,
    MultiFactorScheduler,
    ScheduleLR,
    SquareRootScheduler,
)
from .timing import Accumulator, Timer
from .training import (
    accuracy,
    evaluate_accuracy_gpu,
    evaluate_loss,
    linreg,
    squared_loss,
    train,
    train_2d,
    train_ch11,
    train_concise_ch11,
)
from .tuning import (
    EMA,
    ema_smooth,
    scheduler_curve,
    search_space_samples,
    train_steps,
)
from .widgets import explore, slider

# isort: split
# Last, because its names extend __all__; it imports the helpers it uses itself.
from . import saved
from .saved import *  # noqa: F403  (its __all__, which ours extends)

__version__ = "0.2.0"

__all__ = [
    "Accumulator",
    "EMA",
    "Animator",
    "CosineScheduler",
    "DATA_HUB",
    "DATA_URL",
    "DownloadError",
    "FactorScheduler",
    "IDXError",
    "MultiFactorScheduler",
    "Problem2D",
    "ScheduleLR",
    "SquareRootScheduler",
    "TEXT_LABELS",
    "TensorLoader",
    "Timer",
    "abs",
    "accuracy",
    "agree",
    "animate_race",
    "arange",
    "argmax",
    "astype",
    "checks",
    "claim",
    "concat",
    "cos",
    "check_hyperparameters",
    "check_parameter",
    "cpu",
    "data_root",
    "datasets",
    "differ",
    "diverged",
    "draw_contours",
    "draw_race",
    "download",
    "download_extract",
    "ema_smooth",
    "epoch_fraction",
    "evaluate_accuracy_gpu",
    "evaluate_loss",
    "exp",
    "explore",
    "eye",
    "float32",
    "get_data_ch11",
    "get_dataloader_workers",
    "int32",
    "least_squares_loss",
    "lenet",
    "linreg",
    "linspace",
    "load_array",
    "load_data_fashion_mnist",
    "locate_fashion_mnist",
    "log",
    "matmul",
    "max_difference",
    "meshgrid",
    "mlp",
    "normal",
    "num_gpus",
    "numpy",
    "ones",
    "ones_like",
    "plot",
    "plt",
    "problems",
    "rand",
    "randn",
    "read_fashion_mnist",
    "reduce_sum",
    "reshape",
    "same_as_torch",
    "scheduler_curve",
    "schedulers",
    "search_space_samples",
    "set_axes",
    "set_figsize",
    "settings",
    "show_losses",
    "show_run",
    "show_trace",
    "show_trace_2d",
    "sin",
    "split_weights",
    "slider",
    "squared_loss",
    "stack",
    "tanh",
    "tensor",
    "train",
    "train_2d",
    "train_ch11",
    "train_concise_ch11",
    "train_linreg",
    "train_linreg_torch",
    "train_steps",
    "trajectory_2d",
    "try_all_gpus",
    "try_gpu",
    "tuning",
    "use_svg_display",
    "zeros",
    "zeros_like",
    *saved.__all__,
]
