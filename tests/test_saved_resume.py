"""Every optimizer the chapters save resumes from a checkpoint exactly where it stopped.

A run of 6 steps and a run of 3 steps, a checkpoint written with `torch.save` and read with
`torch.load`'s default `weights_only=True` into a fresh network and optimizer, then 3 more
steps, must end with the same parameters, bit for bit.
"""

import functools
import io

import pytest
import torch
from torch import nn

import d2lhelpers as d2l


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))


def _muon(params, **kwargs):
    # Muon for the first weight matrix, AdamW for the biases and the output layer
    params = list(params)
    return d2l.Muon(
        [dict(params=params[:1]), dict(params=params[1:], use_muon=False, lr=1e-2)], **kwargs
    )


def _in_train_mode(params, **kwargs):
    optimizer = d2l.ScheduleFreeAdamW(params, **kwargs)
    optimizer.train()
    return optimizer


OPTIMIZERS = {
    "ScratchAdam": functools.partial(d2l.ScratchAdam, lr=0.01, weight_decay=0.1),
    "ScratchAdam, AdamW + AMSGrad": functools.partial(
        d2l.ScratchAdam, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True
    ),
    "Adamax": functools.partial(d2l.Adamax, lr=0.01),
    "NAdam": functools.partial(d2l.NAdam, lr=0.01),
    "RAdam": functools.partial(d2l.RAdam, lr=0.01),
    "Adafactor": functools.partial(d2l.Adafactor, lr=0.01, weight_decay=0.1),
    "Lion": functools.partial(d2l.Lion, lr=1e-3, weight_decay=0.5),
    "Muon + AdamW": functools.partial(_muon, lr=0.02),
    "ScheduleFreeAdamW": functools.partial(_in_train_mode, lr=0.01, warmup_steps=4),
}


def _steps(net, optimizer, batches):
    for X, y in batches:
        optimizer.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        optimizer.step()


def _batches(n=6):
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(8, 5, generator=generator), torch.arange(8) % 3) for _ in range(n)]


def _through_a_file(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer)  # weights_only=True, torch's default


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_resumed_run_is_the_uninterrupted_run_bit_for_bit(name):
    make = OPTIMIZERS[name]
    batches = _batches()
    net = _net()
    _steps(net, make(net.parameters()), batches)

    first = _net()
    optimizer = make(first.parameters())
    _steps(first, optimizer, batches[:3])
    checkpoint = _through_a_file({"net": first.state_dict(), "optimizer": optimizer.state_dict()})
    resumed = _net()
    resumed_optimizer = make(resumed.parameters())
    resumed.load_state_dict(checkpoint["net"])
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    _steps(resumed, resumed_optimizer, batches[3:])

    for ours, theirs in zip(resumed.parameters(), net.parameters()):
        assert torch.equal(ours, theirs), name


def test_a_run_resumed_without_the_optimizer_state_differs():
    # The negative control: the test above would see a lost state.
    make = OPTIMIZERS["ScratchAdam"]
    batches = _batches()
    net = _net()
    _steps(net, make(net.parameters()), batches)
    first = _net()
    _steps(first, make(first.parameters()), batches[:3])
    resumed = _net()
    resumed.load_state_dict(first.state_dict())
    _steps(resumed, make(resumed.parameters()), batches[3:])
    assert not all(torch.equal(a, b) for a, b in zip(resumed.parameters(), net.parameters()))


def test_yogi_resumes_from_its_states_and_hyperparameters():
    # yogi keeps its state where the book's interface does: in `states` and `hyperparams`.
    def run(gradients, states, hyperparams, x):
        for g in gradients:
            x.grad = g.clone()
            d2l.yogi([x], states, hyperparams)

    generator = torch.Generator().manual_seed(0)
    gradients = [torch.randn(3, generator=generator) for _ in range(6)]
    x = torch.zeros(3, requires_grad=True)
    run(gradients, [(torch.zeros(3), torch.zeros(3))], {"lr": 0.01, "t": 1}, x)
    y = torch.zeros(3, requires_grad=True)
    states, hyperparams = [(torch.zeros(3), torch.zeros(3))], {"lr": 0.01, "t": 1}
    run(gradients[:3], states, hyperparams, y)
    saved = _through_a_file({"x": y.detach(), "states": states, "hyperparams": hyperparams})
    z = saved["x"].clone().requires_grad_()
    run(gradients[3:], saved["states"], saved["hyperparams"], z)
    assert torch.equal(z, x)
