"""The public names keep the d2l book's signatures, so the book's code runs against ours."""

import inspect

import pytest

import d2lhelpers as d2l

D2L_SIGNATURES = {
    "use_svg_display": [],
    "set_figsize": ["figsize"],
    "set_axes": ["axes", "xlabel", "ylabel", "xlim", "ylim", "xscale", "yscale", "legend"],
    "plot": [
        "X",
        "Y",
        "xlabel",
        "ylabel",
        "legend",
        "xlim",
        "ylim",
        "xscale",
        "yscale",
        "fmts",
        "figsize",
        "axes",
    ],
    "show_trace": ["results", "f"],
    "show_trace_2d": ["f", "results"],
    "Animator": [
        "xlabel",
        "ylabel",
        "legend",
        "xlim",
        "ylim",
        "xscale",
        "yscale",
        "fmts",
        "nrows",
        "ncols",
        "figsize",
    ],
    "Timer": [],
    "Accumulator": ["n"],
    "try_gpu": ["i"],
    "try_all_gpus": [],
    "download": ["name", "cache_dir"],
    "download_extract": ["name", "folder", "cache_dir"],
    "load_array": ["data_arrays", "batch_size", "is_train"],
    "get_data_ch11": ["batch_size", "n"],
    "load_data_fashion_mnist": ["batch_size", "resize"],
    "linreg": ["X", "w", "b"],
    "squared_loss": ["y_hat", "y"],
    "accuracy": ["y_hat", "y"],
    "evaluate_loss": ["net", "data_iter", "loss"],
    "evaluate_accuracy_gpu": ["net", "data_iter", "device"],
    "train_2d": ["trainer", "steps", "f_grad"],
    "train_ch11": ["trainer_fn", "states", "hyperparams", "data_iter", "feature_dim", "num_epochs"],
    "train_concise_ch11": ["trainer_fn", "hyperparams", "data_iter", "num_epochs"],
    "train": [
        "net",
        "train_iter",
        "test_iter",
        "num_epochs",
        "loss",
        "trainer",
        "device",
        "scheduler",
    ],
}


@pytest.mark.parametrize("name", sorted(D2L_SIGNATURES))
def test_signature_starts_with_d2ls_parameters(name):
    params = list(inspect.signature(getattr(d2l, name)).parameters)
    expected = D2L_SIGNATURES[name]
    assert params[: len(expected)] == expected
    extra = inspect.signature(getattr(d2l, name)).parameters
    assert all(extra[p].default is not inspect.Parameter.empty for p in params[len(expected) :])


def test_defaults_match_d2l():
    assert inspect.signature(d2l.train_2d).parameters["steps"].default == 20
    assert inspect.signature(d2l.train_ch11).parameters["num_epochs"].default == 2
    assert inspect.signature(d2l.train_concise_ch11).parameters["num_epochs"].default == 4
    assert inspect.signature(d2l.get_data_ch11).parameters["batch_size"].default == 10
    assert inspect.signature(d2l.Animator).parameters["figsize"].default == (3.5, 2.5)
    assert d2l.DATA_URL == "http://d2l-data.s3-accelerate.amazonaws.com/"


def test_book_aliases_and_schedulers_are_exported():
    for name in ("arange", "meshgrid", "tensor", "plt", "numpy", "reshape"):
        assert hasattr(d2l, name), name
    for name in (
        "SquareRootScheduler",
        "FactorScheduler",
        "MultiFactorScheduler",
        "CosineScheduler",
    ):
        assert hasattr(d2l.schedulers, name), name
    assert set(d2l.__all__) <= set(dir(d2l))
