"""The checks every saved optimizer calls, and the rule that splits weights from the rest."""

import math
import re

import pytest
import torch
from torch import nn

import d2lhelpers as d2l


class Plain(torch.optim.Optimizer):
    """An optimizer that only holds its groups, to check any hyperparameter on."""

    def __init__(self, params, **defaults):
        super().__init__(params, defaults)


def _param(*shape, dtype=torch.float32):
    return torch.zeros(*shape, dtype=dtype, requires_grad=True)


@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        (dict(lr=-1), "Invalid learning rate: -1"),
        (dict(lr=math.inf), "Invalid learning rate: inf"),
        (dict(lr=math.nan), "Invalid learning rate: nan"),
        (dict(lr="0.1"), "Invalid learning rate: 0.1"),
        (dict(lr=torch.tensor([0.1, 0.2])), "Invalid learning rate"),
        (dict(betas=(0.9, 2.0)), "Invalid beta parameter at index 1: 2.0"),
        (dict(betas=(-0.1, 0.9)), "Invalid beta parameter at index 0: -0.1"),
        (dict(betas=(math.nan, 0.9)), "Invalid beta parameter at index 0: nan"),
        (dict(betas=(0.9,)), "Invalid betas: (0.9,)"),
        (dict(betas=0.9), "Invalid betas: 0.9"),
        (dict(eps=-1e-8), "Invalid epsilon value: -1e-08"),
        (dict(eps=(None, -1e-3)), "epsilon2 should be >= 0 but is: -0.001"),
        (dict(eps=(-1.0, 1e-3)), "epsilon1 should be >= 0 but is: -1.0"),
        (dict(eps=(1e-30,)), "Invalid eps: (1e-30,)"),
        (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1"),
        (dict(momentum=1.0), "Invalid momentum value: 1.0"),
        (dict(momentum_decay=-4e-3), "Invalid momentum_decay value: -0.004"),
        (dict(beta2_decay=0.8), "beta2_decay should be <= 0 but is: 0.8"),
        (dict(d=0.0), "Clipping threshold d should be >= 1 but is: 0.0"),
        (dict(warmup_steps=-1), "Invalid warmup_steps value: -1"),
        (dict(warmup_steps=2.5), "Invalid warmup_steps value: 2.5"),
        (dict(ns_steps=-5), "Invalid ns_steps value: -5"),
    ],
)
def test_a_hyperparameter_out_of_range_is_named_in_torch_optims_words(hyperparameters, message):
    optimizer = Plain([_param(2)], **hyperparameters)
    with pytest.raises(ValueError, match=re.escape(f"Plain: {message}")):
        d2l.check_hyperparameters(optimizer)


def test_valid_hyperparameters_pass():
    # The negative control: the edges of every range are accepted.
    optimizer = Plain(
        [_param(2)],
        lr=torch.tensor(0.0),
        betas=(0.0, 0.999),
        eps=(None, 0.0),
        weight_decay=0,
        momentum=0.95,
        momentum_decay=0.0,
        beta2_decay=0.0,
        d=1.0,
        warmup_steps=0,
        ns_steps=5,
        amsgrad=True,  # not a hyperparameter the check knows: left alone
    )
    d2l.check_hyperparameters(optimizer)


def test_every_parameter_group_is_checked_and_the_bad_one_is_named():
    optimizer = Plain([dict(params=[_param(2)]), dict(params=[_param(3)], lr=-0.5)], lr=0.1)
    with pytest.raises(ValueError, match=r"Plain, parameter group 1: Invalid learning rate: -0.5"):
        d2l.check_hyperparameters(optimizer)


def test_a_sparse_gradient_is_refused_by_name():
    embedding = nn.Embedding(10, 3, sparse=True)
    embedding(torch.tensor([1, 2])).sum().backward()
    optimizer = Plain(embedding.parameters(), lr=0.1)
    with pytest.raises(RuntimeError, match="Plain does not support sparse gradients; use torch"):
        d2l.check_parameter(optimizer, embedding.weight)


def test_a_complex_parameter_is_refused_by_name():
    z = _param(4, dtype=torch.complex64)
    with pytest.raises(RuntimeError, match=r"Plain does not support complex .* torch.complex64"):
        d2l.check_parameter(Plain([z], lr=0.1), z)


def test_a_real_dense_parameter_passes():
    x = _param(4)
    x.grad = torch.ones(4)
    d2l.check_parameter(Plain([x], lr=0.1), x)


def test_split_weights_reads_the_number_of_axes():
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.Flatten(), nn.LayerNorm(8), nn.Linear(8, 4), nn.Linear(4, 2)
    )
    weights, rest = d2l.split_weights(net)
    assert list(weights) == ["0.weight", "3.weight", "4.weight"]
    assert list(rest) == [
        "0.bias",
        "2.weight",
        "2.bias",
        "3.bias",
        "4.bias",
    ]  # LayerNorm's 1-D weight
    assert all(weights[name] is p for name, p in net.named_parameters() if name in weights)


def test_split_weights_leaves_excluded_modules_and_frozen_parameters_out_of_the_weights():
    net = d2l.mlp()
    hidden, rest = d2l.split_weights(net, exclude=[net[-1]])
    assert list(hidden) == ["1.weight"]
    assert list(rest) == ["1.bias", "3.weight", "3.bias"]
    net[1].weight.requires_grad_(False)
    weights, rest = d2l.split_weights(net)
    assert list(weights) == ["3.weight"] and "1.weight" not in rest
