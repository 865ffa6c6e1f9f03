"""The model registry: one `ModelSpec` entry holds all that differs between models (the network
that builds it, what it takes from a config, its smallest batch, what `mnist tune` searches).
Pure Python: `--help`, the config checks and tune read it without torch; the networks
themselves live in networks.py and are imported only to build one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """One model, as every part of the tool needs to know it."""

    network: str  # the class in networks.py that builds it
    summary: str  # a few words for --help
    # TrainConfig fields the constructor takes (besides num_classes), by the same names.
    config_fields: tuple[str, ...] = ()
    min_batch: int = 1  # the smallest batch a training step can take
    min_batch_why: str = ""  # why, in words, where min_batch > 1
    # What `mnist tune` searches for this model, beyond the settings every model has: a
    # TrainConfig field and the values it tries.
    tunable: dict[str, tuple[Any, ...]] = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec(
        network="CNN",
        summary="the default, a small convolutional net",
        config_fields=("width",),
        min_batch=2,
        min_batch_why="its batch norm needs two",
        tunable={"width": (16, 24, 32)},
    ),
    "mlp": ModelSpec(
        network="MLP",
        summary="the exercise's 784-256-128-10 sigmoid net",
    ),
}


def model_kwargs(name: str, config: Any) -> dict[str, Any]:
    """What model `name`'s constructor takes from a TrainConfig, besides the number of classes."""
    return {setting: getattr(config, setting) for setting in MODELS[name].config_fields}


def models_taking(config_field: str) -> list[str]:
    """The models whose constructor takes this TrainConfig field ("width": the cnn)."""
    return [name for name, spec in MODELS.items() if config_field in spec.config_fields]


def build_model(name: str, **kwargs):
    """A fresh torch model of a registered name; `kwargs` are its constructor's (num_classes...).
    Imports torch (networks.py)."""
    from mnist_cli import networks

    return getattr(networks, MODELS[name].network)(**kwargs)
