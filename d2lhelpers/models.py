"""The networks the chapters train on Fashion-MNIST, built in one place.

`lenet()` is the d2l book's LeNet-5 with ReLU and max-pooling (its modern variant), and
`mlp()` the one-hidden-layer perceptron 784-200-10. Build them after
`torch.manual_seed(...)`: PyTorch's default initialisation draws from the global
generator, so the same seed gives the same weights.
"""

from __future__ import annotations

from torch import nn


def lenet() -> nn.Sequential:
    """LeNet for 1 x 28 x 28 images: two 5x5 convolutions, max-pooling, three linear layers."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def mlp(num_hiddens: int = 200) -> nn.Sequential:
    """The multilayer perceptron 784-`num_hiddens`-10 with a ReLU, for 1 x 28 x 28 images."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, num_hiddens), nn.ReLU(), nn.Linear(num_hiddens, 10)
    )
