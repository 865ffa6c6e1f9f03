"""The model registry. Every model takes (N, 1, 28, 28) normalised images and returns logits."""

from __future__ import annotations

from torch import nn


class MLP(nn.Sequential):
    """The exercise's network, exactly: 784-256-128-10 with sigmoid activations."""

    def __init__(self, num_classes: int = 10):
        super().__init__(
            nn.Flatten(),
            nn.Linear(28 * 28, 256),
            nn.Sigmoid(),
            nn.Linear(256, 128),
            nn.Sigmoid(),
            nn.Linear(128, num_classes),
        )


class CNN(nn.Sequential):
    """A small convolutional network in LeNet's shape, sized for speed on a CPU: two 5x5
    conv-ReLU-pool stages and a two-layer head. About 0.1 M parameters at width 16."""

    def __init__(self, num_classes: int = 10, width: int = 16, hidden: int = 128):
        super().__init__(
            nn.Conv2d(1, width, 5),  # 24 x 24
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 12 x 12
            nn.Conv2d(width, 2 * width, 5),  # 8 x 8
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 4 x 4
            nn.Flatten(),
            nn.Linear(2 * width * 16, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )


MODELS: dict[str, type[nn.Module]] = {"cnn": CNN, "mlp": MLP}


def build_model(name: str, **kwargs) -> nn.Module:
    return MODELS[name](**kwargs)
