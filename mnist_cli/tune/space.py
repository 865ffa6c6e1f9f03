"""What `mnist tune` searches: learning rate, weight decay, batch size and label smoothing around
the defaults of config.py, and what the model's registry entry names (models.py: the cnn's
width). Everything else stays as the command says."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from mnist_cli.config import TrainConfig
from mnist_cli.models import MODELS

if TYPE_CHECKING:
    import optuna

# The ranges, by TrainConfig field: (low, high, log scale) for numbers, a tuple for choices.
LEARNING_RATES = {"adamw": (1e-3, 3e-2, True), "sgd": (1e-2, 0.3, True)}
WEIGHT_DECAY = (1e-5, 1e-2, True)
BATCH_SIZES = (64, 128, 256)
LABEL_SMOOTHING = (0.0, 0.2, False)


def _number(trial: optuna.Trial, name: str, bounds: tuple[float, float, bool]) -> float:
    low, high, log = bounds
    return trial.suggest_float(name, low, high, log=log)


def searched(base: TrainConfig) -> list[str]:
    """The TrainConfig fields a trial of `base` tries, in the order `suggest` draws them."""
    names = ["lr", "batch_size", "label_smoothing"]
    if base.optimizer == "adamw":
        names.append("weight_decay")
    return names + list(MODELS[base.model].tunable)


def suggest(trial: optuna.Trial, base: TrainConfig) -> TrainConfig:
    """`base` with the settings this trial tries. The weight decay is searched for adamw only
    (sgd does not use it); a model's own settings as its registry entry says."""
    changes = {
        "lr": _number(trial, "lr", LEARNING_RATES[base.optimizer]),
        "batch_size": trial.suggest_categorical("batch_size", BATCH_SIZES),
        "label_smoothing": _number(trial, "label_smoothing", LABEL_SMOOTHING),
    }
    if base.optimizer == "adamw":
        changes["weight_decay"] = _number(trial, "weight_decay", WEIGHT_DECAY)
    for name, values in MODELS[base.model].tunable.items():
        changes[name] = trial.suggest_categorical(name, values)
    return replace(base, **changes)
