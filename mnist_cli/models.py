"""The model registry, and inference. Every model takes normalised images (N, 1, 28, 28) and
returns logits; `predict_logits` serves the training loop's test pass, evaluate and predict."""

from __future__ import annotations

import torch
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
    """The default: LeNet's shape (two 5x5 conv-pool stages, a two-layer head) with batch norm,
    which lets it learn at a high rate from the first step. Sized for a CPU: at width 24 an epoch
    takes about 19 s on two cores, and one epoch is enough for 99%."""

    def __init__(self, num_classes: int = 10, width: int = 24, hidden: int = 128):
        super().__init__(
            nn.Conv2d(1, width, 5, bias=False),  # 24 x 24; batch norm supplies the bias
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 12 x 12
            nn.Conv2d(width, 2 * width, 5, bias=False),  # 8 x 8
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 4 x 4
            nn.Flatten(),
            nn.Linear(2 * width * 16, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )


MODELS: dict[str, type[nn.Module]] = {"cnn": CNN, "mlp": MLP}


def build_model(name: str, **kwargs) -> nn.Module:
    """A fresh model of a registered name; `kwargs` are its constructor's (num_classes...)."""
    return MODELS[name](**kwargs)


@torch.inference_mode()
def predict_logits(model: nn.Module, inputs: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """Logits for normalised inputs [N, 1, 28, 28], computed in eval mode in batches."""
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [model(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
        )
    finally:
        model.train(was_training)
